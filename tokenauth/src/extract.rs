//! The poem extractors: [`Auth`] (authentication required) and [`MaybeAuth`] (optional),
//! poem's face of the one authentication (`authentication`).

use std::fmt;
use std::marker::PhantomData;

use poem::{FromRequest, Request, RequestBody};

use crate::authentication::authenticate_required;
use crate::keyword::{Authenticates, Requirement, TokenKeyword};
use crate::models::{Token, User};
use crate::rejection::Rejection;

/// A poem extractor for an authenticated request: the user (DRF's `request.user`) and the
/// token it presented (DRF's `request.auth`). Requests without valid credentials never reach
/// the handler: they get DRF's `401` (see [`Rejection`]).
///
/// `U` is the user type ([`User`] by default, or an application's
/// [`AuthUser`](crate::store::AuthUser)); `R` what the request must present: a keyword
/// ([`TokenKeyword`] by default, [`BearerKeyword`](crate::keyword::BearerKeyword),
/// one of your [`keyword!`](crate::keyword!) types, with their scopes), a tuple of keywords
/// that are each accepted, or the requirement `#[token_auth]` generates — whatever
/// [`Authenticates`] `U`. Put it first among the handler's parameters so that
/// authentication runs before the body is read (a bad token wins over a bad body). The
/// [`Store`](crate::store::Store) must be in the request data (`.data(store)`).
///
/// ```
/// use poem::{handler, web::Json, Route, get, EndpointExt};
/// use tokenauth::{Auth, Store, User};
/// use tokenauth::keyword::BearerKeyword;
///
/// #[handler]
/// async fn me(auth: Auth) -> Json<User> {
///     Json(auth.user)
/// }
///
/// #[handler]
/// async fn bearer_me(Auth { user, token, .. }: Auth<User, BearerKeyword>) -> String {
///     format!("{user} with {token}")
/// }
///
/// # async fn app(store: Store) {
/// let app = Route::new()
///     .at("/me", get(me))
///     .at("/bearer/me", get(bearer_me))
///     .data(store);
/// # }
/// ```
///
/// Note that poem's `Option<Auth>` would turn every failure into `None`; use [`MaybeAuth`]
/// for optional authentication with DRF's semantics.
pub struct Auth<U = User, R = TokenKeyword> {
    /// The authenticated user.
    pub user: U,
    /// The token that authenticated the request.
    pub token: Token,
    requirement: PhantomData<R>,
}

impl<U, R> Auth<U, R> {
    /// The user and the token.
    ///
    /// ```
    /// #[poem::handler]
    /// async fn whoami(auth: tokenauth::Auth) -> String {
    ///     let (user, token) = auth.into_parts();
    ///     format!("{user} via {token}")
    /// }
    /// ```
    pub fn into_parts(self) -> (U, Token) {
        (self.user, self.token)
    }

    /// The extractor of an authenticated user and token (the reverse of [`Auth::into_parts`]).
    pub(crate) fn from_parts((user, token): (U, Token)) -> Self {
        Auth {
            user,
            token,
            requirement: PhantomData,
        }
    }
}

impl<U: fmt::Debug, R: Requirement> fmt::Debug for Auth<U, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keywords: Vec<&str> = R::SCHEMES.iter().map(|s| s.keyword).collect();
        f.debug_struct("Auth")
            .field("keywords", &keywords)
            .field("user", &self.user)
            .field("token", &self.token)
            .finish()
    }
}

impl<'a, U: Send + 'static, R: Authenticates<U>> FromRequest<'a> for Auth<U, R> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let parts = authenticate_required::<U, R>(req).await?;
        Ok(Auth::from_parts(parts))
    }
}

/// Optional authentication with DRF's semantics: no credentials → `MaybeAuth(None)`
/// (anonymous), but malformed or invalid credentials still answer `401`.
///
/// ```
/// use poem::handler;
/// use tokenauth::MaybeAuth;
///
/// #[handler]
/// async fn greet(MaybeAuth(auth): MaybeAuth) -> String {
///     match auth {
///         Some(auth) => format!("hello, {}", auth.user),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
pub struct MaybeAuth<U = User, R = TokenKeyword>(pub Option<Auth<U, R>>);

impl<U: fmt::Debug, R: Requirement> fmt::Debug for MaybeAuth<U, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MaybeAuth").field(&self.0).finish()
    }
}

impl<'a, U: Send + 'static, R: Authenticates<U>> FromRequest<'a> for MaybeAuth<U, R> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(MaybeAuth(R::authenticate(req).await?.map(Auth::from_parts)))
    }
}

/// Splits an extracted authentication into the values bound to the handler's `User` and
/// `Token` parameters: `(U, Token)`, or `(Option<U>, Option<Token>)` when optional. For the
/// code `#[token_auth]` generates (through `__private`), which binds the parameters from the
/// extractor it takes in their place.
pub trait Split {
    /// What the user parameter receives.
    type User;
    /// What the token parameter receives.
    type Token;
    /// The user and the token.
    fn split(self) -> (Self::User, Self::Token);
}

impl<U, R> Split for Auth<U, R> {
    type User = U;
    type Token = Token;
    fn split(self) -> (U, Token) {
        self.into_parts()
    }
}

impl<U, R> Split for MaybeAuth<U, R> {
    type User = Option<U>;
    type Token = Option<Token>;
    fn split(self) -> (Option<U>, Option<Token>) {
        self.0.map(Auth::into_parts).unzip()
    }
}

/// `User` and `Token` are filled by `#[token_auth]`, which rewrites the handler. Without the
/// attribute (forgotten, or placed below `#[handler]`), a handler taking them would otherwise
/// not compile or — worse — run unauthenticated; instead every request fails loudly with a
/// `500` saying what to add ([`Rejection::missing_attribute`]). Note that poem's
/// `Option<User>` turns that failure into `None`: always use the attribute.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use poem::{handler, test::TestClient};
///
/// #[handler] // no #[token_auth]
/// async fn me(user: tokenauth::User) -> String {
///     user.username
/// }
///
/// let response = TestClient::new(me).get("/").send().await;
/// response.assert_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR);
/// # }
/// ```
impl<'a> FromRequest<'a> for User {
    async fn from_request(_req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Err(Rejection::missing_attribute().into())
    }
}

/// See the `FromRequest` implementation of [`User`]: a `Token` parameter needs `#[token_auth]`.
///
/// ```
/// #[tokenauth::token_auth]
/// #[poem::handler]
/// async fn which(token: tokenauth::Token) -> String {
///     token.name
/// }
/// ```
impl<'a> FromRequest<'a> for Token {
    async fn from_request(_req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Err(Rejection::missing_attribute().into())
    }
}
