//! Endpoints an application mounts (feature `openapi`): Django REST framework's obtain-token
//! view, logout / logout-all, and a user's own token management (list, revoke one, roll).
//!
//! ```
//! use poem::{EndpointExt, Route};
//! use poem_openapi::OpenApiService;
//! use tokenauth::{AuthApi, Store};
//!
//! # fn app(store: Store) -> impl poem::Endpoint {
//! let auth = OpenApiService::new(AuthApi::new(), "auth", "1.0");
//! Route::new().nest("/api", auth).data(store) // POST /api/auth/token, …
//! # }
//! ```

/// A requirement of `AuthApi`'s own (a type implementing `Requirement` with these
/// constants, and `Authenticates` for tokenauth's `User`), for an operation whose keywords or
/// limits no `keyword!` type says.
macro_rules! requirement {
    ($(#[$doc:meta])* $vis:vis $name:ident { $($item:item)* }) => {
        $(#[$doc])*
        $vis struct $name;

        impl crate::keyword::Requirement for $name {
            $($item)*
        }

        impl crate::keyword::Authenticates<crate::models::User> for $name {
            fn authenticate(
                req: &poem::Request,
            ) -> impl Future<
                Output = Result<
                    Option<(crate::models::User, crate::models::Token)>,
                    crate::rejection::Rejection,
                >,
            > + Send {
                crate::authentication::authenticate::<crate::models::User, Self>(req)
            }
        }
    };
}

mod body;
mod manage;
mod oauth;
mod read;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::{Value, json};

use crate::error::Error;
use crate::extract::Auth;
use crate::keyword::{Keyword as _, Scheme, TokenKeyword};
use crate::models::{NewToken, Token, User};
use crate::openapi::extract::ApiAuth;
use crate::openapi::response::{ErrorDetail, JSON, WithAuthErrors};
use crate::rejection::{OVERLOADED_DETAIL, Rejection, UNAVAILABLE_DETAIL};
use crate::rules::{MAX_TOKEN_NAME_LEN, MAX_USERNAME_LEN};
use crate::store::Store;
use crate::telemetry::{self, Event, Login, Security};
use manage::{RollBody, RollRefusal, TokenInfo};
use throttle::Admission;
pub use throttle::Limit;

/// The obtain-token, logout, logout-all and token-management operations, as a poem-openapi API. Its paths start
/// with `/auth/`; serve it alone or beside your own API (`OpenApiService::new((Api, AuthApi::new()), …)`)
/// and nest the service where you like (e.g. under `/api`: `/api/auth/token`).
///
/// - `POST /auth/token` — DRF's `obtain_auth_token`: `username` and `password` as JSON or form →
///   `200 {"token": "<key>"}`, DRF's `400` messages otherwise. Unlike DRF, which returns the
///   user's one existing key, each login issues a new token (keys are stored hashed, so an
///   existing key cannot be returned — knox does the same). Optional `name`, `expires_in`
///   (seconds, clamped to [`Policy::max_ttl`](crate::Policy::max_ttl)) and `scopes` (only
///   those allowed by [`AuthApi::grantable_scopes`]). Responses carry
///   `Cache-Control: no-store`.
/// - `POST /auth/logout` — revokes the presenting token; `204`.
/// - `POST /auth/logout-all` — revokes all of the user's tokens; `204`.
/// - `GET /auth/tokens` — the user's live tokens (ids, names, dates, scopes, limits, which one
///   was presented); never a key.
/// - `DELETE /auth/tokens/{id}` — revokes one of the user's tokens; `204`, or the same `404`
///   for another user's id as for one that does not exist.
/// - `POST /auth/token/roll` — a new key for the presented token, the old one kept for
///   `grace` seconds (at most [`Policy::max_roll_grace`](crate::Policy::max_roll_grace)).
/// - `POST /auth/revoke` — RFC 7009 revocation: revokes the form's `token` if it is one of the
///   user's keys; `200` whatever it was, so it tells nothing about other keys.
/// - `POST /auth/introspect` — RFC 7662 introspection, for callers whose key grants
///   [`introspection_scope`](AuthApi::introspection_scope): `{"active": true, "scope", "exp",
///   "iat", "username", "sub", "client_id", "token_type", "read_only", "allowed_ips"}` for a
///   live key, only `{"active": false}` for any other.
///
/// Revocation and introspection take the caller's key as `Bearer` (with RFC 6750's
/// challenges) or `Token`, and a form read up to 16 KiB; the other operations take `Token`.
///
/// A token's limits (`allowed_ips`, `read_only`) apply to these operations too: a read-only
/// token may log itself out, and nothing else here but list its user's tokens.
///
/// Serve the service through [`drf_methods`](crate::openapi::drf_methods) for DRF's `405` (with
/// `Allow` and `{"detail":"Method \"PUT\" not allowed."}`) and `OPTIONS` on its paths —
/// on logout and logout-all, as in DRF, only after authentication (`401` without a valid
/// token); poem's own `405` has neither.
///
/// # Under attack
/// - **Throttling.** Failed logins — a wrong password, or a username that does not exist —
///   are limited per username and per client network (an IPv4 address or an IPv6 /64)
///   within a sliding window ([`login_limits`](AuthApi::login_limits)); once a limit's
///   failures are reached, every login for that username or from that network is refused with
///   DRF's `429` and `Retry-After` until enough failures age out. Logins with the right
///   password are not counted, and one clears its username's failures (not its network's), so
///   many users behind one NAT or proxy can log in at once. Each attempt is reserved before
///   any password work, atomically, so concurrent guesses cannot overrun the limit: while
///   undecided attempts fill what a limit has left, further logins wait for their verdicts
///   (at most 10 s, then `503` with `Retry-After`, never `429`). An attempt whose request is
///   cancelled before its verdict counts as a failure. On PostgreSQL the attempts live in a
///   table that every instance shares, timed by the database's clock, and nothing about them
///   is remembered by an instance: once the failures leave the table, every instance lets the
///   login in. On SQLite they live in this process's memory, at most
///   [`throttle_capacity`](AuthApi::throttle_capacity) subjects.
/// - **Bounded work.** The body is read up to [`max_body_size`](AuthApi::max_body_size)
///   (`413` beyond; 192 KiB by default); `username` is at most 150 characters and `password` 4096 (Django's
///   limits), `name` 128, `scopes` 64 of at most 128 characters each, without control
///   characters. Password checks run on a fixed set of workers
///   ([`Policy::password_hashing`](crate::Policy::password_hashing)): `503` with
///   `Retry-After` when they are saturated. A wrong username costs the same Argon2 work as a
///   wrong password.
/// - **Atomic with revocation.** The token is issued only if the password and the user's
///   state checked are still current ([`Store::login`](crate::Store::login)).
///
/// ```
/// use std::time::Duration;
/// use tokenauth::AuthApi;
/// use tokenauth::openapi::Limit;
///
/// let api = AuthApi::new()
///     .login_limits(Limit::new(5, Duration::from_secs(900)), Limit::new(50, Duration::from_secs(900)))
///     .grantable_scopes(["orders:read"]);
/// ```
#[derive(Clone)]
pub struct AuthApi {
    throttle: Arc<throttle::Throttle>,
    grantable_scopes: Arc<[String]>,
    max_body_size: usize,
    expiry_in_response: bool,
    introspection_scope: Arc<str>,
}

impl Default for AuthApi {
    fn default() -> Self {
        AuthApi::new()
    }
}

/// The default [`AuthApi::max_body_size`]: the largest body every field of which is within
/// its limit, even written with JSON's longest escapes (12 bytes for a character outside the
/// BMP, as two `\uXXXX`; a form's percent-encoding is as long) — 192 KiB. Any request the
/// OpenAPI document allows fits, so it is refused for what it says, not for its size.
const DEFAULT_MAX_BODY_SIZE: usize = {
    let characters = MAX_USERNAME_LEN
        + body::MAX_PASSWORD_LEN
        + MAX_TOKEN_NAME_LEN
        + tokenauth_rules::MAX_SCOPES * tokenauth_rules::MAX_SCOPE_LEN
        + crate::rules::MAX_ALLOWED_IPS * body::MAX_NETWORK_LEN;
    // Keys, quotes, separators and `expires_in`: well under 4 KiB.
    let bytes = 12 * characters + 4 * 1024;
    bytes.div_ceil(16 * 1024) * 16 * 1024
};

impl AuthApi {
    /// Default limits: 5 failed logins per username and 20 per client network, per 15
    /// minutes (the client's address as [`Policy::trusted_proxies`](crate::Policy::trusted_proxies)
    /// finds it); no scope grantable
    /// by login; bodies up to 192 KiB (any body whose fields are within their limits).
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new();
    /// ```
    pub fn new() -> Self {
        let window = Duration::from_secs(15 * 60);
        AuthApi {
            throttle: Arc::new(throttle::Throttle::new(
                Limit::new(5, window),
                Limit::new(20, window),
                throttle::DEFAULT_CAPACITY,
            )),
            grantable_scopes: Arc::from(Vec::new()),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            expiry_in_response: false,
            introspection_scope: Arc::from(oauth::DEFAULT_INTROSPECTION_SCOPE),
        }
    }

    /// Sets the failed-login limits per username and per client network: at most
    /// `failures` wrong passwords (or unknown usernames) within `window`; logins with the
    /// right password are not counted. A limit of 0 failures turns it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let api = tokenauth::AuthApi::new().login_limits(
    ///     tokenauth::openapi::Limit::new(3, Duration::from_secs(60)),
    ///     tokenauth::openapi::Limit::new(10, Duration::from_secs(60)),
    /// );
    /// ```
    pub fn login_limits(self, per_username: Limit, per_client: Limit) -> Self {
        let capacity = self.throttle.capacity();
        AuthApi {
            throttle: Arc::new(throttle::Throttle::new(per_username, per_client, capacity)),
            ..self
        }
    }

    /// How many usernames and client networks the in-memory throttle (SQLite stores) tracks
    /// at most (default 100,000: 20 to 56 MB when full, with the default limits). When it is
    /// full of live entries, those with the fewest attempts (the least recently used first)
    /// are forgotten to make room, so that filling it cannot shut new users out. PostgreSQL
    /// stores keep the attempts in a table.
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().throttle_capacity(10_000);
    /// ```
    pub fn throttle_capacity(self, subjects: usize) -> Self {
        let (per_username, per_client) = self.throttle.limits();
        AuthApi {
            throttle: Arc::new(throttle::Throttle::new(per_username, per_client, subjects)),
            ..self
        }
    }

    /// The scopes a client may ask for at login (default: none): those listed, and what a
    /// listed wildcard covers ([`rules::may_request`](crate::rules::may_request)) — listing
    /// `orders:*` lets a login ask for `orders:read` or `orders:*`; listing `orders:read` does
    /// not let it ask for `orders:*`; `*` (every scope) only if listed. Implications
    /// ([`Policy::scope_implies`](crate::Policy::scope_implies)) do not widen it. Anything
    /// else is refused with DRF's `400 {"scopes":["\"<scope>\" is not a valid choice."]}`,
    /// and nothing is issued. Tokens with other scopes are created by the application
    /// ([`Tokens::create`](crate::store::Tokens::create)) or the CLI.
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().grantable_scopes(["orders:*", "profile"]);
    /// ```
    pub fn grantable_scopes<S: Into<String>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        AuthApi {
            grantable_scopes: scopes.into_iter().map(Into::into).collect(),
            ..self
        }
    }

    /// The largest login body read, in bytes (default 192 KiB: any body whose fields are
    /// within their limits, however they are escaped); a larger one is refused with `413`
    /// while it is read, before it is parsed.
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().max_body_size(16 * 1024);
    /// ```
    pub fn max_body_size(self, bytes: usize) -> Self {
        AuthApi {
            max_body_size: bytes,
            ..self
        }
    }

    /// Adds the new token's expiry beside its key in the answers of the login and of a roll,
    /// as knox does: `{"token": "<key>", "expiry": "2026-12-31T12:00:00Z"}` (`null`: never).
    /// Off by default: the body is then Django REST framework's exact `{"token": "<key>"}`.
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().with_expiry_in_response();
    /// ```
    pub fn with_expiry_in_response(self) -> Self {
        AuthApi {
            expiry_in_response: true,
            ..self
        }
    }

    /// The scope a caller's key needs for `POST /auth/introspect` (RFC 7662): default
    /// `tokenauth:introspect`. Introspection tells whose any live key is, so grant it to the
    /// gateways and resource servers that need it, with the CLI or
    /// [`Tokens::create`](crate::store::Tokens::create), and not to logins
    /// ([`grantable_scopes`](AuthApi::grantable_scopes)). `*` and a covering wildcard grant
    /// it, as every scope.
    ///
    /// # Errors
    /// [`Error::InvalidScope`] for a scope that cannot be required (empty, whitespace or
    /// control characters, a wildcard) or that RFC 6750's challenge cannot name (characters
    /// outside printable ASCII, `"`, `\`).
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().introspection_scope("gateway:introspect")?;
    /// assert!(tokenauth::AuthApi::new().introspection_scope("gateway:*").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn introspection_scope(self, scope: impl Into<String>) -> Result<Self, Error> {
        let scope = scope.into();
        if !crate::rules::is_valid_required_scope(&scope)
            || !crate::rules::is_challenge_scope(&scope)
        {
            return Err(Error::InvalidScope(scope));
        }
        Ok(AuthApi {
            introspection_scope: Arc::from(scope),
            ..self
        })
    }

    /// The body answering a new key: with its expiry if [`AuthApi::with_expiry_in_response`].
    fn token_body(&self, store: &Store, token: &Token, key: &crate::key::Key) -> TokenBody {
        let expiry = if self.expiry_in_response {
            MaybeUndefined::from_opt_null(store.policy().effective_expiry(token))
        } else {
            MaybeUndefined::Undefined
        };
        TokenBody {
            token: key.expose_secret().to_owned(),
            expiry,
        }
    }

    /// The first requested scope that may not be granted, if any.
    fn refused_scope<'s>(&self, requested: &'s [String]) -> Option<&'s String> {
        requested
            .iter()
            .find(|scope| !tokenauth_rules::may_request(&self.grantable_scopes, scope))
    }
}

/// A new token's key, shown once.
#[derive(Object)]
#[oai(rename = "ObtainedToken")]
struct TokenBody {
    /// The key: send it as `Authorization: Token <key>`. It is not stored and cannot be shown again.
    token: String,
    /// When the token expires (`null`: never). Only from a server configured with
    /// `AuthApi::with_expiry_in_response`, as knox sends it; absent otherwise, as in Django
    /// REST framework.
    #[oai(nullable)]
    expiry: MaybeUndefined<chrono::DateTime<chrono::Utc>>,
}

/// The obtain-token request. The server checks exactly what this schema states, so a request
/// it allows is refused only for its credentials (or, with the right password, a scope that
/// may not be granted): `400 {"non_field_errors": ["Unable to log in with provided
/// credentials."]}`. The view also takes the same fields as an HTML form, as DRF's does; the
/// document offers JSON only, which client generators handle best.
#[derive(Object)]
#[oai(rename = "ObtainTokenRequest")]
#[allow(dead_code)]
struct LoginDoc {
    /// The username: 1 to 150 characters (Django's limit) besides leading and trailing
    /// whitespace, which is trimmed.
    #[oai(validator(
        min_length = 1,
        max_length = 150,
        pattern = r"[^\x09-\x0D\x20\x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    ))]
    username: String,
    /// The password: 1 to 4096 characters (Django's limit), taken as sent.
    #[oai(validator(min_length = 1, max_length = 4096))]
    password: String,
    /// A label for the new token, e.g. the device: at most 128 characters, no control
    /// characters; taken as sent.
    name: Option<NameDoc>,
    /// Seconds until the token expires, at most 100 years; the server's maximum lifetime
    /// applies.
    #[oai(validator(minimum(value = "1"), maximum(value = "3155760000")))]
    expires_in: Option<i64>,
    /// Scopes to grant, at most 64: only those the server allows a login to ask for.
    #[oai(validator(max_items = 64))]
    scopes: Option<Vec<ScopeDoc>>,
    /// The networks the token may be used from, at most 64: addresses (`203.0.113.7`) or
    /// networks in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`). A request from any other
    /// client address is refused with `403`. Absent or empty: anywhere. An entry that is
    /// neither is refused (with the right password) with `400 {"allowed_ips": ["…"]}`.
    #[oai(validator(max_items = 64))]
    allowed_ips: Option<Vec<NetworkDoc>>,
    /// Whether the token may only send `GET`, `HEAD` and `OPTIONS` requests (and log itself
    /// out); any other request is refused with `403`. Default `false`.
    read_only: Option<bool>,
}

/// Defines a documentation-only string type whose schema states a pattern (poem-openapi's
/// `validator(pattern)` compiles its pattern with the `regex` crate, which has no look-ahead;
/// the document's patterns need one, see [`tokenauth_rules::SCOPE_PATTERN`]). The request
/// types only document the body — the view parses it by DRF's rules — so these are never
/// read or written as JSON.
macro_rules! doc_string {
    ($(#[$meta:meta])* $name:ident, $description:expr, $schema:expr) => {
        $(#[$meta])*
        struct $name;

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    description: Some($description),
                    ..$schema
                }))
            }

            fn as_raw_value(&self) -> Option<&String> {
                None
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(std::iter::empty())
            }
        }

        impl poem_openapi::types::ParseFromJSON for $name {
            fn parse_from_json(_value: Option<Value>) -> poem_openapi::types::ParseResult<Self> {
                Err(poem_openapi::types::ParseError::custom(
                    "a documentation type, never parsed",
                ))
            }
        }

        impl poem_openapi::types::ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                None
            }
        }
    };
}

doc_string!(
    /// A scope in a login request.
    ScopeDoc,
    "A scope: 1 to 128 characters, without whitespace or control characters.",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(tokenauth_rules::MAX_SCOPE_LEN),
        pattern: Some(tokenauth_rules::SCOPE_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
);

doc_string!(
    /// A network in a login request.
    NetworkDoc,
    "An IP address or a network in CIDR notation, e.g. `203.0.113.0/24` or `2001:db8::/32`.",
    MetaSchema {
        min_length: Some(2),
        max_length: Some(body::MAX_NETWORK_LEN),
        ..MetaSchema::new("string")
    }
);

doc_string!(
    /// The name of the token a login creates.
    NameDoc,
    "A label for the new token, e.g. the device: at most 128 characters, no control \
     characters; taken as sent.",
    MetaSchema {
        max_length: Some(MAX_TOKEN_NAME_LEN),
        pattern: Some(crate::models::TOKEN_NAME_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
);

/// The body of every refusal of a login, in Django REST framework's format: each field's
/// messages and `non_field_errors` (a `400`), or `detail` (every other status). One schema for
/// all of the login's errors, because some client generators (progenitor) take one error type
/// per operation; each response's description and examples say which members it has.
#[derive(Object)]
#[oai(rename = "ObtainTokenErrors")]
#[allow(dead_code)]
struct LoginErrorsDoc {
    /// The message of a refusal that is not about a field: a body that cannot be parsed
    /// (`400`), the token limit (`403`), the body's size (`413`) or type (`415`), the
    /// throttle (`429`) or an unavailable server (`503`).
    detail: Option<String>,
    /// Why the credentials were refused: `Unable to log in with provided credentials.`
    non_field_errors: Option<Vec<String>>,
    /// The username's errors, e.g. `This field is required.`
    username: Option<Vec<String>>,
    /// The password's errors, e.g. `This field may not be blank.`
    password: Option<Vec<String>>,
    /// The name's errors, e.g. `Ensure this field has no more than 128 characters.`
    name: Option<Vec<String>>,
    /// The lifetime's errors, e.g. `A valid integer is required.`
    expires_in: Option<Vec<String>>,
    /// The scopes' errors, e.g. `"admin" is not a valid choice.`
    scopes: Option<Vec<String>>,
    /// The networks' errors, e.g. `Enter valid IPv4 or IPv6 addresses or networks in CIDR notation.`
    allowed_ips: Option<Vec<String>>,
    /// The read-only flag's errors, e.g. `Must be a valid boolean.`
    read_only: Option<Vec<String>>,
}

/// The obtain-token body, unread: the operation reads it up to the [`AuthApi`]'s size limit
/// and parses it by DRF's rules, so that every refusal is answered with DRF's own status and
/// body.
type LoginBody = read::Unread<LoginDoc>;

impl read::Documented for LoginDoc {
    // JSON only (see `Documented::CONTENT_TYPE`). The view takes forms too.
    const CONTENT_TYPE: &'static str = JSON;
    const DESCRIPTION: &'static str = "`username` and `password`, as JSON (or, as in Django \
        REST framework, the same fields as an `application/x-www-form-urlencoded` form). The \
        body is read up to `AuthApi::max_body_size` bytes, 192 KiB by default: more than any \
        body whose fields are within their limits.";
    const REQUIRED: bool = true;
}

impl read::Unread<LoginDoc> {
    /// Reads at most `limit` bytes — refusing more while reading, before parsing — and parses
    /// them by the request's `Content-Type`.
    async fn read(self, request: &Request, limit: usize) -> Result<body::Login, body::Refusal> {
        match read::read_bounded(self.0, request, limit).await {
            Ok(bytes) => body::parse(read::content_type(request), &bytes),
            Err(read::NotRead::TooLarge) => Err(body::Refusal::TooLarge(too_large(limit))),
            Err(read::NotRead::Failed) => Err(body::Refusal::BadRequest(detail(read::UNREADABLE))),
        }
    }
}

/// A refusal of the login view: compact JSON sent as written, so that DRF's field order
/// survives (serde_json's maps sort keys), documented as [`LoginErrorsDoc`]. Sent as
/// `application/json`, as DRF sends it; documented with poem-openapi's media type, as every
/// JSON body is ([`JSON`]).
struct DrfJson(String);

impl DrfJson {
    fn new(json: String) -> Self {
        DrfJson(json)
    }
}

impl poem_openapi::payload::Payload for DrfJson {
    const CONTENT_TYPE: &'static str = JSON;

    fn schema_ref() -> MetaSchemaRef {
        <LoginErrorsDoc as Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <LoginErrorsDoc as Type>::register(registry);
    }
}

impl poem::IntoResponse for DrfJson {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type("application/json")
            .body(self.0)
    }
}

#[derive(ApiResponse)]
enum ObtainResponse {
    /// A new token. Its key is in the body, this once.
    #[oai(status = 200)]
    Ok(Json<TokenBody>, #[oai(header = "Cache-Control")] String),
    /// Invalid input (`{"<field>": ["…"]}`, or `{"detail": "JSON parse error - …"}`) or
    /// credentials (`{"non_field_errors": ["Unable to log in with provided credentials."]}`).
    #[oai(status = 400)]
    BadRequest(DrfJson, #[oai(header = "Cache-Control")] String),
    /// The user already has the maximum number of live tokens (`Policy::max_tokens_per_user`):
    /// `{"detail": "Maximum amount of tokens allowed per user exceeded."}`.
    #[oai(status = 403)]
    Forbidden(DrfJson, #[oai(header = "Cache-Control")] String),
    /// The body is larger than the server accepts:
    /// `{"detail": "Request body too large: at most <limit> bytes."}`.
    #[oai(status = 413)]
    PayloadTooLarge(DrfJson, #[oai(header = "Cache-Control")] String),
    /// The body is neither JSON nor a form:
    /// `{"detail": "Unsupported media type \"<type>\" in request."}`.
    #[oai(status = 415)]
    UnsupportedMediaType(DrfJson, #[oai(header = "Cache-Control")] String),
    /// Too many failed logins (wrong passwords or unknown usernames) for this username or
    /// client address; logins with the right password are not counted:
    /// `{"detail": "Request was throttled. Expected available in <n> seconds."}`.
    #[oai(status = 429)]
    TooManyRequests(
        DrfJson,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "Cache-Control")] String,
    ),
    /// Too many logins at once (the password workers are saturated, or other logins for this
    /// username or client stayed undecided too long), or the database is unavailable: try
    /// again after `Retry-After` seconds. `detail` says which.
    #[oai(status = 503)]
    ServiceUnavailable(
        DrfJson,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum Revoked {
    /// Revoked.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum RevokeOne {
    /// Revoked.
    #[oai(status = 204)]
    NoContent,
    /// No token of the authenticated user has this id — whether it does not exist or belongs
    /// to someone else: `{"detail": "Not found."}`.
    #[oai(status = 404)]
    NotFound(Json<ErrorDetail>),
}

#[derive(ApiResponse)]
enum Rolled {
    /// The token's new key, this once. The token keeps its id, name, scopes, expiry and limits.
    #[oai(status = 200)]
    Ok(Json<TokenBody>, #[oai(header = "Cache-Control")] String),
    /// The body is not JSON, or `grace` is not a whole number of seconds from 0 to the
    /// server's maximum (`Policy::max_roll_grace`), e.g.
    /// `{"detail": "grace: Ensure this value is less than or equal to 0."}`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorDetail>),
    /// The body is larger than 4 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorDetail>),
    /// The body is not JSON: `{"detail": "Unsupported media type \"<type>\" in request."}`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorDetail>),
}

requirement!(
    /// What logging out requires: a key sent as `Token <key>`, which may be read-only (a
    /// token may always revoke itself, whatever method it is sent with).
    RevokesItself {
        const SCHEMES: &'static [Scheme] = &[TokenKeyword::SCHEME];
        const OPERATION_ID: Option<&'static str> = Some("logout");
        const READ_ONLY_ALLOWED: bool = true;
    }
);

const NO_STORE: &str = "no-store";

fn store(request: &Request) -> poem::Result<&Store> {
    request
        .data::<Store>()
        .ok_or_else(|| Rejection::missing_store().into())
}

fn server_error(error: Error) -> poem::Error {
    Rejection::store_failure(error).into()
}

/// A store failure of the login view: `503` with `Retry-After` for an outage or a full
/// password queue, else `500`. Logged either way.
fn unavailable(error: Error) -> poem::Result<ObtainResponse> {
    match error.retry_after() {
        Some(retry_after) => {
            // Logged when dropped: it never becomes a response of its own.
            let rejection = Rejection::store_failure(error);
            Ok(ObtainResponse::ServiceUnavailable(
                DrfJson::new(detail(&rejection.to_string())),
                retry_after,
                NO_STORE.into(),
            ))
        }
        None => Err(server_error(error)),
    }
}

/// A refusal of the login view: DRF-style compact JSON.
fn refused(status: fn(DrfJson, String) -> ObtainResponse, errors: String) -> ObtainResponse {
    status(DrfJson::new(errors), NO_STORE.into())
}

/// DRF's refusal of wrong credentials.
fn bad_credentials() -> String {
    body::field_errors(&[(
        "non_field_errors",
        "Unable to log in with provided credentials.",
    )])
}

/// `{"detail": …}`.
fn detail(message: &str) -> String {
    json!({ "detail": message }).to_string()
}

/// DRF's refusal of a scope that a login may not ask for.
fn not_grantable(scope: &str) -> String {
    let message = format!("{} is not a valid choice.", json!(scope));
    body::field_errors(&[("scopes", &message)])
}

/// The refusal of a body over `limit` bytes.
fn too_large(limit: usize) -> String {
    detail(&format!("Request body too large: at most {limit} bytes."))
}

/// DRF's throttling message.
fn throttled(seconds: u64) -> String {
    let unit = if seconds == 1 { "second" } else { "seconds" };
    detail(&format!(
        "Request was throttled. Expected available in {seconds} {unit}."
    ))
}

/// The refusal of a login over [`Policy::max_tokens_per_user`](crate::Policy::max_tokens_per_user).
fn token_limit() -> String {
    detail(&Error::TokenLimit.to_string())
}

/// The examples the document gives of a login's answer with `status` whose body has the schema
/// `schema_ref` (`#/components/schemas/<name>`): each body one of the view's own functions
/// makes (`name`, summary, the body's JSON), for [`spec`](crate::openapi::spec). None for any
/// other schema: only the login's bodies have these schemas.
pub(crate) fn login_examples(
    schema_ref: &str,
    status: u16,
) -> Vec<(&'static str, &'static str, String)> {
    let name = schema_ref.strip_prefix("#/components/schemas/");
    let ours = [
        <TokenBody as Type>::name(),
        <LoginErrorsDoc as Type>::name(),
    ];
    if !name.is_some_and(|name| ours.iter().any(|ours| ours == name)) {
        return Vec::new();
    }
    let parsed = |content_type, bytes| match body::parse(Some(content_type), bytes) {
        Err(
            body::Refusal::BadRequest(errors)
            | body::Refusal::UnsupportedMediaType(errors)
            | body::Refusal::TooLarge(errors),
        ) => errors,
        Ok(_) => String::new(),
    };
    match status {
        200 => vec![(
            "key",
            "A new key (40 hexadecimal digits, as DRF's; `KeyFormat::prefixed` keys look like `myapp_…`)",
            json!({ "token": EXAMPLE_KEY }).to_string(),
        )],
        400 => vec![
            (
                "bad_credentials",
                "A wrong password, an unknown username or an inactive user",
                bad_credentials(),
            ),
            (
                "missing_fields",
                "Required fields missing",
                parsed("application/json", b"{}"),
            ),
            (
                "blank_password",
                "A field left blank",
                parsed("application/json", br#"{"username":"alice","password":""}"#),
            ),
            (
                "not_json",
                "A body that is not JSON",
                parsed("application/json", b"{\"username\": "),
            ),
            (
                "scope_not_grantable",
                "A scope that a login may not ask for (right password)",
                not_grantable("admin"),
            ),
        ],
        403 => vec![(
            "token_limit",
            "The user has the maximum number of live tokens",
            token_limit(),
        )],
        413 => vec![(
            "too_large",
            "A body over the limit (192 KiB by default)",
            too_large(DEFAULT_MAX_BODY_SIZE),
        )],
        415 => vec![(
            "unsupported_media_type",
            "A body that is neither JSON nor a form",
            parsed("text/plain", b"alice"),
        )],
        429 => vec![("throttled", "Too many failed logins", throttled(900))],
        503 => vec![
            (
                "overloaded",
                "Too many logins at once",
                detail(OVERLOADED_DETAIL),
            ),
            (
                "unavailable",
                "The database cannot be reached",
                detail(UNAVAILABLE_DETAIL),
            ),
        ],
        _ => Vec::new(),
    }
}

/// The examples the document gives of the answers of [`AuthApi`]'s token-management
/// operations, by `operationId` and status, made by the code that sends them.
pub(crate) fn operation_examples(
    operation_id: &str,
    status: u16,
) -> Vec<(&'static str, &'static str, String)> {
    let refused = |body: Result<i64, RollRefusal>| match body {
        Err(RollRefusal::BadRequest(message))
        | Err(RollRefusal::TooLarge(message))
        | Err(RollRefusal::UnsupportedMediaType(message)) => detail(&message),
        Ok(_) => String::new(),
    };
    match (operation_id, status) {
        ("list_tokens", 200) => vec![(
            "tokens",
            "The authenticated user's tokens",
            manage::list_example(),
        )],
        ("revoke_token", 404) => vec![(
            "not_found",
            "Not one of the user's tokens (whether it exists or not)",
            detail(NOT_FOUND),
        )],
        ("roll_token", 200) => vec![(
            "key",
            "The token's new key",
            json!({ "token": EXAMPLE_KEY }).to_string(),
        )],
        ("roll_token", 400) => vec![
            (
                "negative_grace",
                "A negative grace period",
                refused(manage::parse_grace(
                    Some("application/json"),
                    br#"{"grace": -1}"#,
                    0,
                )),
            ),
            (
                "not_json",
                "A body that is not JSON",
                refused(manage::parse_grace(
                    Some("application/json"),
                    b"{\"grace\": ",
                    0,
                )),
            ),
        ],
        ("roll_token", 413) => vec![(
            "too_large",
            "A body over 4 KiB",
            detail(&manage::too_large()),
        )],
        ("roll_token", 415) => vec![(
            "unsupported_media_type",
            "A body that is not JSON",
            refused(manage::parse_grace(Some("text/plain"), b"60", 0)),
        )],
        _ => oauth::examples(operation_id, status),
    }
}

/// DRF's `NotFound` message.
const NOT_FOUND: &str = "Not found.";

/// The key the document shows: DRF's documentation's.
pub(crate) const EXAMPLE_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";

/// Whole seconds to wait, rounded up (`Retry-After`).
fn seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The tag of tokenauth's operations.
#[derive(poem_openapi::Tags)]
enum AuthTag {
    /// Obtaining and revoking tokens (tokenauth).
    #[oai(rename = "auth")]
    Auth,
}

impl AuthApi {
    /// The login view's work, for [`obtain`](AuthApi::obtain) to count and log its outcome.
    async fn login(
        &self,
        request: &Request,
        store: &Store,
        client: Option<std::net::IpAddr>,
        body: LoginBody,
    ) -> poem::Result<ObtainResponse> {
        let login = match body.read(request, self.max_body_size).await {
            Ok(login) => login,
            Err(body::Refusal::BadRequest(errors)) => {
                return Ok(refused(ObtainResponse::BadRequest, errors));
            }
            Err(body::Refusal::UnsupportedMediaType(errors)) => {
                return Ok(refused(ObtainResponse::UnsupportedMediaType, errors));
            }
            Err(body::Refusal::TooLarge(errors)) => {
                return Ok(refused(ObtainResponse::PayloadTooLarge, errors));
            }
        };
        // A scope that may not be granted is refused after the credentials are checked, so
        // that only a client with the right password learns which scopes are grantable (and
        // a body the spec allows is refused only for its credentials otherwise).
        // So is a network that does not parse (the document states only its length).
        let networks: Option<Vec<_>> = login
            .allowed_ips
            .iter()
            .map(|network| crate::models::parse_network(network))
            .collect();
        let refused_scope = self
            .refused_scope(&login.scopes)
            .map(|scope| not_grantable(scope))
            .or_else(|| {
                networks
                    .is_none()
                    .then(|| body::field_errors(&[("allowed_ips", body::INVALID_NETWORK)]))
            });
        let mut options = NewToken::named(login.name).read_only(login.read_only);
        for network in networks.unwrap_or_default() {
            options = options.allow_network(network).map_err(server_error)?;
        }
        if let Some(seconds) = login.expires_in {
            options = options.expires_in(chrono::Duration::seconds(seconds));
        }
        if refused_scope.is_none() {
            for scope in login.scopes {
                options = options.scope(scope).map_err(server_error)?;
            }
        }

        let reservation = match self.throttle.reserve(store, &login.username, client).await {
            Ok(Admission::Granted(reservation)) => reservation,
            Ok(Admission::Denied(refusal)) => {
                // OWASP's two: too many failed logins for one account, and too many attempts
                // from one client (a credential-stuffing run across usernames).
                if refusal.username {
                    Security::new(Event::LoginFailMax).client(client).emit();
                }
                if refusal.client {
                    Security::new(Event::ExcessRateLimit).client(client).emit();
                }
                let seconds = seconds(refusal.retry);
                return Ok(ObtainResponse::TooManyRequests(
                    DrfJson::new(throttled(seconds)),
                    seconds,
                    NO_STORE.into(),
                ));
            }
            Ok(Admission::Busy(wait)) => {
                // Other logins for this username or client were still undecided: the server
                // is busy, nobody was throttled.
                return Ok(ObtainResponse::ServiceUnavailable(
                    DrfJson::new(detail(OVERLOADED_DETAIL)),
                    seconds(wait),
                    NO_STORE.into(),
                ));
            }
            Err(error) => return unavailable(error),
        };
        if let Some(errors) = refused_scope {
            return match store.check_password(&login.username, &login.password).await {
                Ok(Some(_)) => {
                    reservation.succeeded().await;
                    Ok(refused(ObtainResponse::BadRequest, errors))
                }
                Ok(None) => {
                    reservation.failed().await;
                    Ok(refused(ObtainResponse::BadRequest, bad_credentials()))
                }
                Err(error) => {
                    reservation.release().await;
                    unavailable(error)
                }
            };
        }
        match store.login(&login.username, &login.password, options).await {
            Ok(Some((user, token, key))) => {
                reservation.succeeded().await;
                Security::new(Event::LoginSuccess)
                    .user(user.id)
                    .token(token.id)
                    .client(client)
                    .emit();
                Ok(ObtainResponse::Ok(
                    Json(self.token_body(store, &token, &key)),
                    NO_STORE.into(),
                ))
            }
            Ok(None) => {
                // Recorded before the answer, so the client's next attempt sees it.
                reservation.failed().await;
                Ok(refused(ObtainResponse::BadRequest, bad_credentials()))
            }
            Err(Error::TokenLimit) => {
                // The password was right.
                reservation.succeeded().await;
                Ok(refused(ObtainResponse::Forbidden, token_limit()))
            }
            Err(error) => {
                // No verdict reached the client: the attempt does not count.
                reservation.release().await;
                unavailable(error)
            }
        }
    }
}

#[tokenauth_macros::token_auth]
#[OpenApi]
impl AuthApi {
    /// Obtain a token
    ///
    /// Django REST framework's `obtain_auth_token`: send `username` and `password` as JSON (or
    /// a form). Each successful call issues a new token; its key is in the response, this once.
    /// Open: it takes no credentials but the password.
    #[oai(
        path = "/auth/token",
        method = "post",
        operation_id = "obtain_token",
        tag = "AuthTag::Auth"
    )]
    async fn obtain(&self, request: &Request, body: LoginBody) -> poem::Result<ObtainResponse> {
        let store = store(request)?;
        let client = crate::client::client_address(request, &store.policy().trusted_proxies);
        let answer = self.login(request, store, client, body).await;
        let outcome = match &answer {
            Ok(ObtainResponse::Ok(..)) => Login::Ok,
            Ok(ObtainResponse::BadRequest(body, _)) if body.0 == bad_credentials() => {
                Login::BadCredentials
            }
            Ok(ObtainResponse::TooManyRequests(..)) => Login::Throttled,
            Ok(ObtainResponse::ServiceUnavailable(..)) | Err(_) => Login::Busy,
            Ok(_) => Login::Invalid,
        };
        telemetry::login(outcome);
        if outcome == Login::BadCredentials {
            Security::new(Event::LoginFail).client(client).emit();
        }
        answer
    }

    /// Log out
    ///
    /// Revokes the token that authenticates this request: its key is refused from then on,
    /// on every instance. The user's other tokens stay valid. Sent with the previous key of a
    /// rolled token, during its grace, it revokes only that key: the new one stays valid.
    #[oai(
        path = "/auth/logout",
        method = "post",
        operation_id = "logout",
        tag = "AuthTag::Auth"
    )]
    async fn logout(
        &self,
        request: &Request,
        auth: ApiAuth<User, RevokesItself>,
    ) -> WithAuthErrors<poem::Result<Revoked>, RevokesItself> {
        let ApiAuth(Auth { token, .. }) = auth;
        let revoked = match store(request) {
            // The key presented: the token, or only the previous key of a roll in its grace
            // (an old deployment logging out must not take the new key with it). A key that a
            // concurrent roll replaced meanwhile is refused from then on anyway.
            // Authenticated, the request presented a key: the same reading finds it.
            Ok(store) => match presented_key(request) {
                Some(key) => store
                    .tokens()
                    .revoke_key(token.id, &key)
                    .await
                    .map_err(server_error),
                None => Err(Rejection::forbidden().into()),
            },
            Err(error) => Err(error),
        };
        WithAuthErrors::from(revoked.map(|_| Revoked::NoContent))
    }

    /// List your tokens
    ///
    /// The authenticated user's live tokens, oldest first: their ids, names, scopes, limits,
    /// when each was created and last used and when it expires, and which one sent this
    /// request (`current`). Never a key (only digests are stored) nor another user's token.
    /// As many as the user has: `Policy::max_tokens_per_user` bounds them.
    #[oai(
        path = "/auth/tokens",
        method = "get",
        operation_id = "list_tokens",
        tag = "AuthTag::Auth"
    )]
    async fn list_tokens(
        &self,
        store: Data<&Store>,
        token: Token,
    ) -> poem::Result<Json<Vec<TokenInfo>>> {
        let tokens = store
            .tokens()
            .list(token.user_id)
            .await
            .map_err(server_error)?;
        let policy = store.policy();
        let now = chrono::Utc::now();
        let live = tokens.into_iter().filter_map(|listed| {
            let expires_at = policy.effective_expiry(&listed);
            let expired = expires_at.is_some_and(|at| at <= now);
            (!expired && !policy.unused_too_long(&listed, now))
                .then(|| TokenInfo::new(listed, expires_at, token.id))
        });
        Ok(Json(live.collect()))
    }

    /// Revoke one of your tokens
    ///
    /// Revokes the authenticated user's token with this id (from `GET /auth/tokens`): its key
    /// is refused from then on, on every instance. An id that is not one of the user's tokens
    /// is `404`, whether it exists or not.
    #[oai(
        path = "/auth/tokens/:id",
        method = "delete",
        operation_id = "revoke_token",
        tag = "AuthTag::Auth"
    )]
    async fn revoke_token(
        &self,
        store: Data<&Store>,
        user: User,
        /// The token's id.
        id: Path<i64>,
    ) -> poem::Result<RevokeOne> {
        let revoked = store
            .tokens()
            .revoke_owned(user.id, id.0)
            .await
            .map_err(server_error)?;
        Ok(if revoked {
            RevokeOne::NoContent
        } else {
            RevokeOne::NotFound(Json(ErrorDetail::new(NOT_FOUND)))
        })
    }

    /// Roll your token
    ///
    /// Gives the token that authenticates this request a new key, in the response this once;
    /// the token keeps its id, name, scopes, expiry and limits. The key sent keeps working for
    /// `grace` seconds (0 by default: refused at once, on every instance), at most what the
    /// server allows. Only the token's current key can roll it: during a grace period the
    /// previous key is refused here (`403`).
    #[oai(
        path = "/auth/token/roll",
        method = "post",
        operation_id = "roll_token",
        tag = "AuthTag::Auth"
    )]
    async fn roll_token(
        &self,
        request: &Request,
        token: Token,
        body: RollBody,
    ) -> poem::Result<Rolled> {
        let store = store(request)?;
        let max = store.policy().max_roll_grace.num_seconds();
        let grace = match body.read(request, max).await {
            Ok(grace) => grace,
            Err(RollRefusal::BadRequest(message)) => {
                return Ok(Rolled::BadRequest(Json(ErrorDetail::new(message))));
            }
            Err(RollRefusal::TooLarge(message)) => {
                return Ok(Rolled::PayloadTooLarge(Json(ErrorDetail::new(message))));
            }
            Err(RollRefusal::UnsupportedMediaType(message)) => {
                return Ok(Rolled::UnsupportedMediaType(Json(ErrorDetail::new(
                    message,
                ))));
            }
        };
        if token.previous_key_until().is_some() {
            return Err(Rejection::forbidden().into());
        }
        let Some(key) = presented_key(request) else {
            return Err(Rejection::forbidden().into());
        };
        let rolled = store
            .tokens()
            .roll_current(token.id, &key, chrono::Duration::seconds(grace))
            .await;
        match rolled {
            Ok((token, key)) => Ok(Rolled::Ok(
                Json(self.token_body(store, &token, &key)),
                NO_STORE.into(),
            )),
            // Another roll with this key came first.
            Err(Error::NotCurrentKey) => Err(Rejection::forbidden().into()),
            Err(error) => Err(server_error(error)),
        }
    }

    /// Revoke a key (RFC 7009)
    ///
    /// OAuth 2.0's token revocation: revokes the key in the form's `token` if it is one of the
    /// authenticated user's (the previous key of a roll in its grace: only that key), on every
    /// instance. The answer is `200` whatever the key was — another user's, unknown, already
    /// revoked — so it tells nothing about keys that are not the caller's. (RFC 7009 §2.1 has
    /// the server refuse another client's token with an error; tokenauth does not, to offer no
    /// oracle.) `token_type_hint` is accepted and ignored. Send the caller's key as `Bearer`
    /// or `Token`; a read-only key may not revoke.
    #[oai(
        path = "/auth/revoke",
        method = "post",
        operation_id = "revoke",
        tag = "AuthTag::Auth"
    )]
    async fn revoke(
        &self,
        request: &Request,
        auth: ApiAuth<User, oauth::Revokes>,
        body: oauth::TokenForm,
    ) -> WithAuthErrors<poem::Result<oauth::Revocation>, oauth::Revokes> {
        let answer = async {
            let store = store(request)?;
            let key = match body.read(request).await {
                Ok(key) => key,
                Err(refusal) => return Ok(revocation_refused(&refusal)),
            };
            store
                .tokens()
                .revoke_key_of(auth.user.id, &key)
                .await
                .map_err(server_error)?;
            Ok(oauth::Revocation::Ok)
        };
        WithAuthErrors::from(answer.await)
    }

    /// Introspect a key (RFC 7662)
    ///
    /// OAuth 2.0's token introspection, for gateways and resource servers: whether the key in
    /// the form's `token` is live, and if so whose it is, its scopes, when it was issued and
    /// expires, and its limits (`read_only`, `allowed_ips`, which the caller must then
    /// enforce). Any other key — unknown, revoked, expired, an inactive user's — is only
    /// `{"active": false}`. The caller's key must grant the introspection scope
    /// (`tokenauth:introspect` unless the server names another); a read-only key may
    /// introspect. `token_type_hint` is accepted and ignored. Like any authentication, it
    /// records the key's use (`last_used_at`, and a sliding expiry with `Policy::auto_refresh`):
    /// the key is being used, at the gateway.
    #[oai(
        path = "/auth/introspect",
        method = "post",
        operation_id = "introspect",
        tag = "AuthTag::Auth"
    )]
    async fn introspect(
        &self,
        request: &Request,
        auth: ApiAuth<User, oauth::Introspects>,
        body: oauth::TokenForm,
    ) -> WithAuthErrors<poem::Result<oauth::IntrospectionAnswer>, oauth::Introspects> {
        let answer = async {
            let store = store(request)?;
            if !store
                .policy()
                .grants(&auth.token, &self.introspection_scope)
            {
                let client =
                    crate::client::client_address(request, &store.policy().trusted_proxies);
                Security::new(Event::AuthzFail)
                    .user(auth.user.id)
                    .token(auth.token.id)
                    .client(client)
                    .reason("insufficient_scope")
                    .emit();
                return Err(oauth::insufficient_scope(self.introspection_scope.clone()).into());
            }
            let key = match body.read(request).await {
                Ok(key) => key,
                Err(refusal) => return Ok(introspection_refused(&refusal)),
            };
            let answer = match store.authenticate_as::<User>(&key).await {
                Ok((user, token)) => oauth::Introspection::live(store, &user, &token),
                Err(crate::store::AuthenticateError::Denied(_)) => oauth::Introspection::inactive(),
                Err(crate::store::AuthenticateError::Store(error)) => {
                    return Err(server_error(error));
                }
            };
            Ok(oauth::IntrospectionAnswer::Ok(Json(answer)))
        };
        WithAuthErrors::from(answer.await)
    }

    /// Log out everywhere
    ///
    /// Revokes every token of the authenticated user, the one sent included: each of their
    /// keys is refused from then on, on every instance.
    #[oai(
        path = "/auth/logout-all",
        method = "post",
        operation_id = "logout_all",
        tag = "AuthTag::Auth"
    )]
    async fn logout_all(&self, store: Data<&Store>, user: User) -> poem::Result<Revoked> {
        store
            .tokens()
            .revoke_all(user.id)
            .await
            .map_err(server_error)?;
        Ok(Revoked::NoContent)
    }
}

/// The answer of a revocation whose form was refused.
fn revocation_refused(refusal: &oauth::FormRefusal) -> oauth::Revocation {
    use oauth::{FormRefusal, Revocation};
    match refusal {
        FormRefusal::BadRequest(_) => Revocation::BadRequest(refusal.body()),
        FormRefusal::TooLarge => Revocation::PayloadTooLarge(refusal.body()),
        FormRefusal::UnsupportedMediaType(_) => Revocation::UnsupportedMediaType(refusal.body()),
    }
}

/// The answer of an introspection whose form was refused.
fn introspection_refused(refusal: &oauth::FormRefusal) -> oauth::IntrospectionAnswer {
    use oauth::{FormRefusal, IntrospectionAnswer};
    match refusal {
        FormRefusal::BadRequest(_) => IntrospectionAnswer::BadRequest(refusal.body()),
        FormRefusal::TooLarge => IntrospectionAnswer::PayloadTooLarge(refusal.body()),
        FormRefusal::UnsupportedMediaType(_) => {
            IntrospectionAnswer::UnsupportedMediaType(refusal.body())
        }
    }
}

/// The key a request to one of [`AuthApi`]'s operations presented (with the `Token` keyword,
/// which they require), read from the header exactly as its authentication read it.
fn presented_key(request: &Request) -> Option<String> {
    let header = crate::header::raw_authorization(request.headers())?;
    crate::header::parse_authorization(Some(&header), TokenKeyword::KEYWORD)
        .ok()
        .flatten()
        .map(str::to_owned)
}

/// The login view's parsing, for tests (the fuzzers and property tests). Not public API:
/// hidden, and it may change in any release.
#[doc(hidden)]
pub mod testing {
    use super::body;

    /// Parses an obtain-token body as the login view does (for the fuzzers and property
    /// tests): `Ok(())` for a valid login, `Err((status, body))` with the refusal otherwise.
    pub fn parse_login_body(content_type: Option<&str>, bytes: &[u8]) -> Result<(), (u16, String)> {
        match body::parse(content_type, bytes) {
            Ok(_) => Ok(()),
            Err(body::Refusal::BadRequest(errors)) => Err((400, errors)),
            Err(body::Refusal::UnsupportedMediaType(errors)) => Err((415, errors)),
            Err(body::Refusal::TooLarge(errors)) => Err((413, errors)),
        }
    }
}
