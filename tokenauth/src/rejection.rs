//! The response to a request that was not authenticated: DRF's `401` challenge, or a `5xx`
//! when the store itself failed.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use poem::error::ResponseError;
use poem::http::{StatusCode, header};
use poem::{Body, Response};

pub use crate::error::Reason;

use crate::error::Error;
use crate::scheme::{Challenge, Scheme};
use crate::store::AuthenticateError;

/// The body of a `500` when no [`Store`](crate::Store) was added to the application.
///
/// ```
/// assert!(tokenauth::rejection::MISSING_STORE_DETAIL.contains(".data(store)"));
/// ```
pub const MISSING_STORE_DETAIL: &str = "Server misconfiguration: tokenauth found no Store in the request data. \
     Add it to the application with `.data(store)` (e.g. `Route::new().at(..).data(store)`).";

/// The body of a `500` when a handler takes a `User` or `Token` without `#[token_auth]`.
///
/// ```
/// assert!(tokenauth::rejection::MISSING_ATTRIBUTE_DETAIL.contains("#[token_auth]"));
/// ```
pub const MISSING_ATTRIBUTE_DETAIL: &str = "Server misconfiguration: a handler takes tokenauth's \
     `User` or `Token` without `#[token_auth]`. Put `#[token_auth]` above `#[handler]` (or above \
     `#[OpenApi]` on the impl), or take `tokenauth::Auth` instead.";

/// The body of a `503` when the database cannot be reached.
///
/// ```
/// use poem::error::ResponseError;
///
/// let rejection =
///     tokenauth::Rejection::store_failure(tokenauth::Error::Database(sqlx::Error::PoolClosed));
/// assert_eq!(rejection.to_string(), tokenauth::rejection::UNAVAILABLE_DETAIL);
/// ```
pub const UNAVAILABLE_DETAIL: &str = "Authentication is temporarily unavailable: the token database cannot be reached. Try again later.";

/// The body of a `503` when every password hashing worker is busy and the queue is full.
///
/// ```
/// let rejection = tokenauth::Rejection::store_failure(tokenauth::Error::Overloaded);
/// assert_eq!(rejection.to_string(), tokenauth::rejection::OVERLOADED_DETAIL);
/// ```
pub const OVERLOADED_DETAIL: &str = "Too many logins at once. Try again shortly.";

/// The body of a `500` when the database failed in another way.
///
/// ```
/// let rejection =
///     tokenauth::Rejection::store_failure(tokenauth::Error::Database(sqlx::Error::RowNotFound));
/// assert_eq!(rejection.to_string(), tokenauth::rejection::STORE_FAILURE_DETAIL);
/// ```
pub const STORE_FAILURE_DETAIL: &str =
    "Authentication failed because of a server error. The error has been logged.";

/// Why a request was rejected before reaching the handler. Converts into a [`poem::Error`]
/// whose response is:
///
/// | cause | status | body (`application/json`) | header |
/// |---|---|---|---|
/// | [`Reason`] | `401` | `{"detail":"<DRF message>"}` | `WWW-Authenticate: <keyword>` |
/// | a required scope is missing | `403` | `{"detail":"You do not have permission to perform this action."}` | |
/// | the same, with [RFC 6750's challenge](Challenge::rfc6750) | `401`, `400` for a malformed header, `403` | the same | `WWW-Authenticate: Bearer realm="…"`, with `error=…` ([`Challenge`]) |
/// | database unreachable, locked or shutting down | `503` | `{"detail":"Authentication is temporarily unavailable…"}` | `Retry-After: 5` |
/// | password checks saturated ([`Error::Overloaded`]) | `503` | `{"detail":"Too many logins at once…"}` | `Retry-After: 1` |
/// | other database failure | `500` | `{"detail":"Authentication failed because of a server error…"}` | |
/// | no `Store` in request data | `500` | `{"detail":"Server misconfiguration: … .data(store) …"}` | |
/// | `User`/`Token` without `#[token_auth]` | `500` | `{"detail":"Server misconfiguration: … #[token_auth] …"}` | |
///
/// Server-side failures (`5xx`) are logged as `tracing` error events, once, when the
/// rejection becomes a response — or when it is dropped without becoming one, e.g. turned
/// into `None` by poem's `Option<T>` extractor (a saturated password queue, which clients can
/// cause at will, as a warning at most every ten seconds); the body never carries the
/// error's text or any key. `401`s and `403`s are not logged.
///
/// ```
/// use poem::error::ResponseError;
/// use tokenauth::Rejection;
/// use tokenauth::rejection::Reason;
///
/// let rejection = Rejection::unauthorized("Bearer", Reason::InvalidToken);
/// let response = rejection.as_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
/// ```
#[derive(Debug)]
pub struct Rejection {
    cause: Cause,
    /// Whether a server-side failure was logged (once: as a response, or when dropped).
    logged: AtomicBool,
}

#[derive(Debug)]
enum Cause {
    /// A `401` (RFC 6750's `400` for a malformed header), challenging as this.
    Unauthorized(Challenger, Reason),
    /// A `403`; with RFC 6750's challenge, the scopes its `scope` lists.
    Forbidden(Challenger, Scopes),
    Store(Error),
    MissingStore,
    MissingAttribute,
}

/// The scopes a `403` lists: a requirement's, or one configured at run time.
#[derive(Debug)]
enum Scopes {
    Static(&'static [&'static str]),
    #[cfg(feature = "openapi")]
    One(std::sync::Arc<str>),
}

/// Who challenges: the keyword, in its scheme's [`Challenge`].
#[derive(Debug, Clone, Copy)]
struct Challenger {
    keyword: &'static str,
    challenge: Challenge,
}

impl Challenger {
    const DRF: Challenger = Challenger {
        keyword: "Token",
        challenge: Challenge::DRF,
    };

    fn of(scheme: Scheme) -> Challenger {
        Challenger {
            keyword: scheme.keyword,
            challenge: scheme.challenge,
        }
    }
}

impl Rejection {
    /// A `401` with DRF's message for `reason` and `WWW-Authenticate: <keyword>`.
    ///
    /// ```
    /// use tokenauth::Rejection;
    /// use tokenauth::rejection::Reason;
    ///
    /// let err: poem::Error = Rejection::unauthorized("Token", Reason::NotAuthenticated).into();
    /// assert_eq!(err.status(), 401);
    /// ```
    pub fn unauthorized(keyword: &'static str, reason: Reason) -> Self {
        let challenger = Challenger {
            keyword,
            challenge: Challenge::DRF,
        };
        Rejection::new(Cause::Unauthorized(challenger, reason))
    }

    /// A refusal for `reason` challenging as `scheme` says: DRF's `401` for DRF's challenge;
    /// with [RFC 6750's](Challenge::rfc6750), a `401` with `error="invalid_token"` (none
    /// without credentials), or a `400` with `error="invalid_request"` for a malformed
    /// header. The body is DRF's message either way.
    ///
    /// ```
    /// use poem::error::ResponseError;
    /// use tokenauth::Rejection;
    /// use tokenauth::keyword::Keyword;
    /// use tokenauth::rejection::Reason;
    ///
    /// tokenauth::keyword!(pub OAuth = "Bearer", challenge = "rfc6750");
    /// let response = Rejection::unauthorized_for(OAuth::SCHEME, Reason::InvalidToken).as_response();
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(
    ///     response.headers()["www-authenticate"],
    ///     r#"Bearer realm="api", error="invalid_token", error_description="Invalid token.""#
    /// );
    /// let malformed = Rejection::unauthorized_for(OAuth::SCHEME, Reason::SpacesInToken);
    /// assert_eq!(malformed.status(), 400);
    /// ```
    pub fn unauthorized_for(scheme: Scheme, reason: Reason) -> Self {
        Rejection::new(Cause::Unauthorized(Challenger::of(scheme), reason))
    }

    fn new(cause: Cause) -> Self {
        Rejection {
            cause,
            logged: AtomicBool::new(false),
        }
    }

    /// DRF's `403` for an authenticated token that lacks a required scope: `{"detail":"You do
    /// not have permission to perform this action."}`, without a challenge.
    ///
    /// ```
    /// use poem::error::ResponseError;
    ///
    /// let response = tokenauth::Rejection::forbidden().as_response();
    /// assert_eq!(response.status(), 403);
    /// assert!(response.headers().get("www-authenticate").is_none());
    /// ```
    pub fn forbidden() -> Self {
        Rejection::new(Cause::Forbidden(Challenger::DRF, Scopes::Static(&[])))
    }

    /// DRF's `403` for a token that lacks one of `scopes`, or whose limits refuse the
    /// request, challenging as `scheme` says: without a challenge for DRF's; with
    /// [RFC 6750's](Challenge::rfc6750), `error="insufficient_scope"` and the `scopes` (if
    /// any) in `scope`.
    ///
    /// ```
    /// use poem::error::ResponseError;
    /// use tokenauth::Rejection;
    /// use tokenauth::keyword::Keyword;
    ///
    /// tokenauth::keyword!(pub OAuth = "Bearer", challenge = "rfc6750", realm = "shop");
    /// let response = Rejection::forbidden_for(OAuth::SCHEME, &["orders:read"]).as_response();
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(
    ///     response.headers()["www-authenticate"],
    ///     "Bearer realm=\"shop\", error=\"insufficient_scope\", error_description=\"You do not \
    ///      have permission to perform this action.\", scope=\"orders:read\""
    /// );
    /// ```
    pub fn forbidden_for(scheme: Scheme, scopes: &'static [&'static str]) -> Self {
        Rejection::new(Cause::Forbidden(
            Challenger::of(scheme),
            Scopes::Static(scopes),
        ))
    }

    /// [`forbidden_for`](Rejection::forbidden_for) one scope known at run time (e.g.
    /// [`AuthApi::introspection_scope`](crate::AuthApi::introspection_scope)).
    #[cfg(feature = "openapi")]
    pub(crate) fn insufficient_scope(scheme: Scheme, scope: std::sync::Arc<str>) -> Self {
        Rejection::new(Cause::Forbidden(Challenger::of(scheme), Scopes::One(scope)))
    }

    /// A `503` (database unreachable) or `500` (other failure), logged when it becomes a
    /// response.
    ///
    /// ```
    /// use poem::error::ResponseError;
    ///
    /// let err = tokenauth::Error::Database(sqlx::Error::PoolTimedOut);
    /// let rejection = tokenauth::Rejection::store_failure(err);
    /// assert_eq!(rejection.status(), 503);
    /// ```
    pub fn store_failure(error: Error) -> Self {
        Rejection::new(Cause::Store(error))
    }

    /// A `500` saying that the [`Store`](crate::Store) is missing from the request data,
    /// logged when it becomes a response.
    ///
    /// ```
    /// use poem::error::ResponseError;
    ///
    /// assert_eq!(tokenauth::Rejection::missing_store().status(), 500);
    /// ```
    pub fn missing_store() -> Self {
        Rejection::new(Cause::MissingStore)
    }

    /// A `500` saying that a handler takes a `User` or `Token` without `#[token_auth]`,
    /// logged when it becomes a response.
    ///
    /// ```
    /// use poem::error::ResponseError;
    ///
    /// assert_eq!(tokenauth::Rejection::missing_attribute().status(), 500);
    /// ```
    pub fn missing_attribute() -> Self {
        Rejection::new(Cause::MissingAttribute)
    }

    /// Converts the error of [`Store::authenticate_as`](crate::Store::authenticate_as).
    ///
    /// ```
    /// use tokenauth::Rejection;
    /// use tokenauth::rejection::Reason;
    ///
    /// let rejection = Rejection::from_authenticate("Token", Reason::InvalidToken.into());
    /// assert_eq!(rejection.reason(), Some(Reason::InvalidToken));
    /// ```
    pub fn from_authenticate(keyword: &'static str, error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Denied(reason) => Rejection::unauthorized(keyword, reason),
            AuthenticateError::Store(error) => Rejection::store_failure(error),
        }
    }

    /// Converts the error of [`Store::authenticate_as`](crate::Store::authenticate_as),
    /// challenging as `scheme` says ([`unauthorized_for`](Rejection::unauthorized_for)).
    ///
    /// ```
    /// use tokenauth::Rejection;
    /// use tokenauth::keyword::{BearerKeyword, Keyword};
    /// use tokenauth::rejection::Reason;
    ///
    /// let error = Reason::UserInactive.into();
    /// let rejection = Rejection::from_authenticate_for(BearerKeyword::SCHEME, error);
    /// assert_eq!(rejection.keyword(), Some("Bearer"));
    /// ```
    pub fn from_authenticate_for(scheme: Scheme, error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Denied(reason) => Rejection::unauthorized_for(scheme, reason),
            AuthenticateError::Store(error) => Rejection::store_failure(error),
        }
    }

    /// The refusal, if this is a `401`.
    ///
    /// ```
    /// use tokenauth::Rejection;
    /// use tokenauth::rejection::Reason;
    ///
    /// let rejection = Rejection::unauthorized("Token", Reason::UserInactive);
    /// assert_eq!(rejection.reason(), Some(Reason::UserInactive));
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        match self.cause {
            Cause::Unauthorized(_, reason) => Some(reason),
            _ => None,
        }
    }

    /// The keyword a refusal for a [`Reason`] announces in `WWW-Authenticate`; `None` for
    /// other rejections.
    ///
    /// ```
    /// use tokenauth::Rejection;
    /// use tokenauth::rejection::Reason;
    ///
    /// let rejection = Rejection::unauthorized("Bearer", Reason::InvalidToken);
    /// assert_eq!(rejection.keyword(), Some("Bearer"));
    /// assert_eq!(Rejection::forbidden().keyword(), None);
    /// ```
    pub fn keyword(&self) -> Option<&'static str> {
        match self.cause {
            Cause::Unauthorized(challenger, _) => Some(challenger.keyword),
            _ => None,
        }
    }

    /// Logs a server-side failure, once: as it becomes a response, or when it is dropped
    /// without becoming one (poem's `Option<T>` extractors turn errors into `None`).
    fn log(&self) {
        if self.logged.swap(true, Ordering::Relaxed) {
            return;
        }
        match &self.cause {
            Cause::Store(Error::Overloaded) => log_overload(),
            Cause::Store(error) => tracing::error!(
                error = %error,
                "tokenauth: could not authenticate the request: the token store failed"
            ),
            Cause::MissingStore => tracing::error!(
                "tokenauth: no Store in the request data; add `.data(store)` to the application"
            ),
            Cause::MissingAttribute => tracing::error!("tokenauth: {MISSING_ATTRIBUTE_DETAIL}"),
            Cause::Unauthorized(..) | Cause::Forbidden(..) => {}
        }
    }

    /// The `WWW-Authenticate` challenge, if this refusal sends one.
    pub(crate) fn challenge(&self) -> Option<String> {
        #[cfg(feature = "openapi")]
        let one;
        let (challenger, error, scopes) = match &self.cause {
            Cause::Unauthorized(challenger, reason) => {
                let error = match reason {
                    Reason::NotAuthenticated => None,
                    reason if reason.is_malformed_header() => Some("invalid_request"),
                    _ => Some("invalid_token"),
                };
                (*challenger, error, &[][..])
            }
            Cause::Forbidden(challenger, Scopes::Static(scopes)) => {
                (*challenger, Some("insufficient_scope"), *scopes)
            }
            #[cfg(feature = "openapi")]
            Cause::Forbidden(challenger, Scopes::One(scope)) => {
                one = [&**scope];
                (*challenger, Some("insufficient_scope"), &one[..])
            }
            _ => return None,
        };
        let Some(realm) = challenger.challenge.realm() else {
            // DRF's: the keyword alone, and only on a `401`.
            return matches!(self.cause, Cause::Unauthorized(..))
                .then(|| challenger.keyword.to_owned());
        };
        Some(rfc6750_challenge(
            challenger.keyword,
            realm,
            error.map(|error| (error, self.detail())),
            scopes,
        ))
    }

    fn detail(&self) -> &'static str {
        match &self.cause {
            Cause::Unauthorized(_, reason) => reason.detail(),
            Cause::Forbidden(..) => FORBIDDEN_DETAIL,
            Cause::Store(Error::Overloaded) => OVERLOADED_DETAIL,
            Cause::Store(error) if error.is_unavailable() => UNAVAILABLE_DETAIL,
            Cause::Store(_) => STORE_FAILURE_DETAIL,
            Cause::MissingStore => MISSING_STORE_DETAIL,
            Cause::MissingAttribute => MISSING_ATTRIBUTE_DETAIL,
        }
    }
}

impl Drop for Rejection {
    fn drop(&mut self) {
        self.log();
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Unauthorized(_, reason) => Some(reason),
            Cause::Store(error) => Some(error),
            Cause::Forbidden(..) | Cause::MissingStore | Cause::MissingAttribute => None,
        }
    }
}

impl ResponseError for Rejection {
    fn status(&self) -> StatusCode {
        match &self.cause {
            Cause::Unauthorized(challenger, reason)
                if challenger.challenge.is_rfc6750() && reason.is_malformed_header() =>
            {
                StatusCode::BAD_REQUEST
            }
            Cause::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            Cause::Forbidden(..) => StatusCode::FORBIDDEN,
            Cause::Store(error) if error.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Cause::Store(_) | Cause::MissingStore | Cause::MissingAttribute => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn as_response(&self) -> Response {
        self.log();
        let body = serde_json::json!({ "detail": self.detail() }).to_string();
        let mut response = Response::builder()
            .status(self.status())
            .content_type("application/json");
        if let Some(challenge) = self.challenge() {
            response = response.header(header::WWW_AUTHENTICATE, challenge);
        }
        if let Cause::Store(error) = &self.cause
            && let Some(seconds) = error.retry_after()
        {
            response = response.header(header::RETRY_AFTER, seconds);
        }
        response.body(Body::from_string(body))
    }
}

/// DRF's message for a `403`.
const FORBIDDEN_DETAIL: &str = "You do not have permission to perform this action.";

/// An RFC 6750 §3 challenge: `<keyword> realm="…"`, then `error` and `error_description`, then
/// `scope` (the `scopes` within RFC 6750's characters, if any), separated by `", "` as RFC
/// 9110's `#auth-param` list is. Every value is within RFC 6750's characters, so none is
/// escaped: the realm by [`Challenge::rfc6750`], DRF's messages by a test, the scopes by
/// leaving out any that is not.
fn rfc6750_challenge(
    keyword: &str,
    realm: &str,
    error: Option<(&str, &str)>,
    scopes: &[&str],
) -> String {
    use std::fmt::Write as _;

    let mut challenge = format!("{keyword} realm=\"{realm}\"");
    if let Some((error, description)) = error {
        let _ = write!(
            challenge,
            ", error=\"{error}\", error_description=\"{description}\""
        );
    }
    let mut listed = scopes
        .iter()
        .filter(|scope| crate::rules::is_challenge_scope(scope));
    if let Some(first) = listed.next() {
        let _ = write!(challenge, ", scope=\"{first}");
        for scope in listed {
            let _ = write!(challenge, " {scope}");
        }
        challenge.push('"');
    }
    challenge
}

/// Logs that password checks are saturated, at most every ten seconds: clients can cause it
/// at will, and must not flood the logs with it.
fn log_overload() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            "tokenauth: too many password checks at once; logins are refused with 503 \
             (see Policy::password_hashing)"
        );
    }
}
