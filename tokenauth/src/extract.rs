//! The poem extractors: [`Auth`] (authentication required) and [`MaybeAuth`] (optional).

use std::fmt;
use std::marker::PhantomData;

use poem::http::header;
use poem::{FromRequest, Request, RequestBody};

use crate::{AuthError, AuthUser, Rejection, Store, Token, User, parse_authorization};

/// An authentication keyword (the scheme word before the key in `Authorization`), as a type.
///
/// Implement it with [`keyword!`](crate::keyword!), which checks the keyword at compile time,
/// or use [`TokenKeyword`] (DRF's default) or [`BearerKeyword`].
///
/// ```
/// use tokenauth::Keyword;
///
/// assert_eq!(tokenauth::TokenKeyword::KEYWORD, "Token");
/// assert_eq!(tokenauth::BearerKeyword::KEYWORD, "Bearer");
/// ```
pub trait Keyword: Send + Sync + 'static {
    /// The keyword: an RFC 9110 `token` (see [`is_valid_keyword`]), compared ignoring ASCII case.
    const KEYWORD: &'static str;
    /// The name of the keyword's OpenAPI security scheme (letters, digits, `.`, `-`, `_`),
    /// e.g. `TokenAuth`.
    const SCHEME_NAME: &'static str;
    /// The security scheme's description: how to send the key, e.g. in Swagger UI.
    const SCHEME_DESCRIPTION: &'static str;
    /// Scopes the token must grant (`*` grants all); a token without them gets `403`
    /// `You do not have permission to perform this action.` None by default.
    const SCOPES: &'static [&'static str] = &[];
}

/// Whether `name` can name an OpenAPI component such as a security scheme: one or more
/// letters, digits, `.`, `-` or `_`. Usable in constants.
///
/// ```
/// assert!(tokenauth::is_valid_scheme_name("TokenAuth"));
/// assert!(!tokenauth::is_valid_scheme_name("Key!Auth"));
/// ```
pub const fn is_valid_scheme_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `keyword` can be an HTTP authentication scheme: one or more RFC 9110 `tchar`s
/// (letters, digits and ``!#$%&'*+-.^_`|~``). Usable in constants.
///
/// ```
/// use tokenauth::is_valid_keyword;
///
/// assert!(is_valid_keyword("Token"));
/// assert!(is_valid_keyword("Api-Key"));
/// assert!(!is_valid_keyword(""));
/// assert!(!is_valid_keyword("Two Words"));
/// assert!(!is_valid_keyword("Key:"));
/// ```
pub const fn is_valid_keyword(keyword: &str) -> bool {
    let bytes = keyword.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let valid = matches!(bytes[i],
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
            | b'^' | b'_' | b'`' | b'|' | b'~');
        if !valid {
            return false;
        }
        i += 1;
    }
    true
}

/// Defines a [`Keyword`] type, checking at compile time that the keyword is a valid HTTP
/// authentication scheme. Its OpenAPI security scheme is named `<keyword>Auth`, or `scheme`
/// when given (needed when the keyword holds characters other than letters, digits, `.`, `-`
/// and `_`).
///
/// ```
/// tokenauth::keyword!(
///     /// `Authorization: Api-Key <key>`
///     pub ApiKey = "Api-Key"
/// );
/// tokenauth::keyword!(pub Bang = "Key!", scheme = "BangAuth");
/// // A token must grant `orders:read` (or `*`), else 403.
/// tokenauth::keyword!(pub Orders = "Token", scheme = "TokenAuth", scopes = ["orders:read"]);
///
/// use tokenauth::Keyword;
/// assert_eq!(Orders::SCOPES, ["orders:read"]);
/// assert_eq!(ApiKey::KEYWORD, "Api-Key");
/// assert_eq!(ApiKey::SCHEME_NAME, "Api-KeyAuth");
/// assert_eq!(Bang::SCHEME_NAME, "BangAuth");
/// ```
///
/// ```compile_fail
/// tokenauth::keyword!(pub Spaced = "Api Key"); // error: not a valid authentication scheme
/// ```
#[macro_export]
macro_rules! keyword {
    ($(#[$meta:meta])* $vis:vis $name:ident = $keyword:literal $(,)?) => {
        $crate::keyword!($(#[$meta])* $vis $name = $keyword, scheme = ::core::concat!($keyword, "Auth"));
    };
    ($(#[$meta:meta])* $vis:vis $name:ident = $keyword:literal, scheme = $scheme:expr $(,)?) => {
        $crate::keyword!($(#[$meta])* $vis $name = $keyword, scheme = $scheme, scopes = []);
    };
    ($(#[$meta:meta])* $vis:vis $name:ident = $keyword:literal, scheme = $scheme:expr,
     scopes = [$($scope:literal),* $(,)?] $(,)?) => {
        $(#[$meta])*
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::default::Default,
        )]
        $vis struct $name;
        const _: () = ::core::assert!(
            $crate::is_valid_keyword($keyword),
            "a keyword must be one or more letters, digits or !#$%&'*+-.^_`|~ characters"
        );
        const _: () = ::core::assert!(
            $crate::is_valid_scheme_name($scheme),
            "an OpenAPI scheme name must be one or more letters, digits, `.`, `-` or `_`: pass `scheme = \"...\"`"
        );
        impl $crate::Keyword for $name {
            const KEYWORD: &'static str = $keyword;
            const SCHEME_NAME: &'static str = $scheme;
            const SCOPES: &'static [&'static str] = &[$($scope),*];
            const SCHEME_DESCRIPTION: &'static str = if $crate::__private::is_bearer($keyword) {
                $crate::__private::BEARER_DESCRIPTION
            } else {
                ::core::concat!(
                    "Send the header `Authorization: ", $keyword, " <key>`. ",
                    "In Swagger UI's Authorize dialog, enter `", $keyword, " <key>`, keyword included."
                )
            };
        }
    };
}

keyword!(
    /// `Authorization: Token <key>`: Django REST framework's default keyword.
    ///
    /// ```
    /// use tokenauth::Keyword;
    ///
    /// assert_eq!(tokenauth::TokenKeyword::KEYWORD, "Token");
    /// ```
    pub TokenKeyword = "Token"
);
keyword!(
    /// `Authorization: Bearer <key>` (RFC 6750).
    ///
    /// ```
    /// use tokenauth::Keyword;
    ///
    /// assert_eq!(tokenauth::BearerKeyword::KEYWORD, "Bearer");
    /// ```
    pub BearerKeyword = "Bearer"
);

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
    let Some(store) = req.data::<Store>() else {
        return Err(Rejection::missing_store(keyword));
    };
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
    let key = parse_authorization(raw, keyword)
        .map_err(|reason| Rejection::unauthorized(keyword, reason))?;
    let Some(key) = key else {
        return Ok(None);
    };
    store
        .authenticate_as::<U>(key)
        .await
        .map(Some)
        .map_err(|error| Rejection::from_authenticate(keyword, error))
}

/// [`authenticate_request`] for the keyword type `K`, then `K`'s required scopes: an
/// authenticated token without them is DRF's `403`.
pub(crate) async fn authenticate_as_keyword<U: AuthUser, K: Keyword>(
    req: &Request,
) -> Result<Option<(U, Token)>, Rejection> {
    let found = authenticate_request::<U>(req, K::KEYWORD).await?;
    if let Some((_, token)) = &found
        && !K::SCOPES.iter().all(|scope| token.has_scope(scope))
    {
        return Err(Rejection::forbidden(K::KEYWORD));
    }
    Ok(found)
}

/// A poem extractor for an authenticated request: the user (DRF's `request.user`) and the
/// token it presented (DRF's `request.auth`). Requests without valid credentials never reach
/// the handler: they get DRF's `401` (see [`Rejection`]).
///
/// `U` is the user type ([`User`] by default, or an application's [`AuthUser`]); `K` the
/// keyword ([`TokenKeyword`] by default). Put it first among the handler's parameters so that
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
pub struct Auth<U = User, K = TokenKeyword> {
    /// The authenticated user.
    pub user: U,
    /// The token that authenticated the request.
    pub token: Token,
    keyword: PhantomData<K>,
}

impl<U, K> Auth<U, K> {
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

impl<U: fmt::Debug, K: Keyword> fmt::Debug for Auth<U, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("keyword", &K::KEYWORD)
            .field("user", &self.user)
            .field("token", &self.token)
            .finish()
    }
}

impl<'a, U: AuthUser, K: Keyword> FromRequest<'a> for Auth<U, K> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        match authenticate_as_keyword::<U, K>(req).await? {
            Some((user, token)) => Ok(Auth {
                user,
                token,
                keyword: PhantomData,
            }),
            None => Err(Rejection::unauthorized(K::KEYWORD, AuthError::NotAuthenticated).into()),
        }
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
pub struct MaybeAuth<U = User, K = TokenKeyword>(pub Option<Auth<U, K>>);

impl<U: fmt::Debug, K: Keyword> fmt::Debug for MaybeAuth<U, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MaybeAuth").field(&self.0).finish()
    }
}

impl<'a, U: AuthUser, K: Keyword> FromRequest<'a> for MaybeAuth<U, K> {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let found = authenticate_as_keyword::<U, K>(req).await?;
        Ok(MaybeAuth(found.map(|(user, token)| Auth {
            user,
            token,
            keyword: PhantomData,
        })))
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
