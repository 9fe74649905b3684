//! The poem extractors: [`Auth`] (authentication required) and [`MaybeAuth`] (optional).

use std::fmt;
use std::marker::PhantomData;

use poem::http::header;
use poem::{FromRequest, Request, RequestBody};

use crate::keyword::challenge;
use crate::{
    AuthError, AuthUser, Authenticates, Rejection, Requirement, Store, Token, TokenKeyword, User,
    parse_authorization,
};

/// Runs DRF's authentication for `keyword` on a request: parse the raw `Authorization` header,
/// then look the key up in the [`Store`] found in the request data.
///
/// `Ok(None)` means the request carries no credentials for this keyword (anonymous);
/// malformed or invalid credentials are an error, as in DRF. The store is looked up first, so
/// a missing `.data(store)` is reported on every request, not only on authenticated ones.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// use poem::Request;
/// use tokenauth::{Store, User};
///
/// let store = Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let mut req = Request::builder().header("Authorization", "Token nope").finish();
/// req.extensions_mut().insert(store);
/// let rejection = tokenauth::authenticate_request::<User>(&req, "Token").await.unwrap_err();
/// assert_eq!(rejection.auth_error(), Some(tokenauth::AuthError::InvalidToken));
/// # Ok(()) }
/// ```
pub async fn authenticate_request<U: AuthUser>(
    req: &Request,
    keyword: &'static str,
) -> Result<Option<(U, Token)>, Rejection> {
    authenticate_keywords(req, [keyword]).await
}

/// [`authenticate_request`] for the first of `keywords` that the header names; the `401`
/// challenge names the first keyword (DRF's `authenticate_header` is its first class's).
async fn authenticate_keywords<U: AuthUser>(
    req: &Request,
    keywords: impl IntoIterator<Item = &'static str, IntoIter: Clone>,
) -> Result<Option<(U, Token)>, Rejection> {
    let Some(store) = req.data::<Store>() else {
        return Err(Rejection::missing_store());
    };
    let keywords = keywords.into_iter();
    let challenge = keywords.clone().next().unwrap_or("Token");
    // Several `Authorization` headers reach Django joined with ", " (WSGI servers join
    // repeated headers); joining them here gives DRF's answer for such a request too.
    let headers = req.headers().get_all(header::AUTHORIZATION);
    let joined;
    let raw = match headers.iter().count() {
        0 => None,
        1 => headers.iter().next().map(|value| value.as_bytes()),
        _ => {
            let values: Vec<&[u8]> = headers.iter().map(|value| value.as_bytes()).collect();
            joined = values.join(&b", "[..]);
            Some(joined.as_slice())
        }
    };
    let mut key = None;
    for keyword in keywords {
        key = parse_authorization(raw, keyword)
            .map_err(|reason| Rejection::unauthorized(challenge, reason))?;
        if key.is_some() {
            break;
        }
    }
    let Some(key) = key else {
        return Ok(None);
    };
    store
        .authenticate_as::<U>(key)
        .await
        .map(Some)
        .map_err(|error| Rejection::from_authenticate(challenge, error))
}

/// The one authentication every extractor runs: `R`'s keywords, then `R`'s scopes (an
/// authenticated token without them is DRF's `403`). `Ok(None)`: no credentials.
pub(crate) async fn authenticate<U: AuthUser, R: Requirement>(
    req: &Request,
) -> Result<Option<(U, Token)>, Rejection> {
    // A fn, not a closure: the future must be `Send` for every lifetime of the scheme.
    fn keyword(scheme: &crate::Scheme) -> &'static str {
        scheme.keyword
    }
    let found = authenticate_keywords::<U>(req, R::SCHEMES.iter().map(keyword)).await?;
    if let Some((_, token)) = &found
        && !R::SCOPES.iter().all(|scope| token.has_scope(scope))
    {
        return Err(Rejection::forbidden());
    }
    Ok(found)
}

/// [`Authenticates::authenticate`] as an [`Auth`], `None` without credentials.
pub(crate) async fn authenticate_optional<U, R: Authenticates<U>>(
    req: &Request,
) -> Result<Option<Auth<U, R>>, Rejection> {
    Ok(R::authenticate(req).await?.map(|(user, token)| Auth {
        user,
        token,
        requirement: PhantomData,
    }))
}

/// [`Authenticates::authenticate`] as an [`Auth`], "no credentials" a `401`.
pub(crate) async fn authenticate_required<U, R: Authenticates<U>>(
    req: &Request,
) -> Result<Auth<U, R>, Rejection> {
    authenticate_optional(req)
        .await?
        .ok_or_else(|| Rejection::unauthorized(challenge::<R>(), AuthError::NotAuthenticated))
}

/// A poem extractor for an authenticated request: the user (DRF's `request.user`) and the
/// token it presented (DRF's `request.auth`). Requests without valid credentials never reach
/// the handler: they get DRF's `401` (see [`Rejection`]).
///
/// `U` is the user type ([`User`] by default, or an application's [`AuthUser`]); `R` what the
/// request must present: a keyword ([`TokenKeyword`] by default, [`BearerKeyword`](crate::BearerKeyword),
/// one of your [`keyword!`](crate::keyword!) types, with their scopes), a tuple of keywords
/// that are each accepted, or the requirement `#[token_auth]` generates — whatever
/// [`Authenticates`] `U`. Put it first among the handler's parameters so that
/// authentication runs before the body is read (a bad token wins over a bad body). The
/// [`Store`] must be in the request data (`.data(store)`).
///
/// ```
/// use poem::{handler, web::Json, Route, get, EndpointExt};
/// use tokenauth::{Auth, BearerKeyword, Store, User};
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
        Ok(authenticate_required(req).await?)
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
        Ok(MaybeAuth(authenticate_optional(req).await?))
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
