//! Endpoints an application mounts (feature `openapi`): Django REST framework's obtain-token
//! view, and logout / logout-all.
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

mod body;
mod throttle;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use serde_json::{Value, json};

use crate::{NewToken, Rejection, Store, Token, User};
pub use throttle::Limit;

/// The obtain-token, logout and logout-all operations, as a poem-openapi API. Its paths start
/// with `/auth/`; serve it alone or beside your own API (`OpenApiService::new((Api, AuthApi::new()), …)`)
/// and nest the service where you like (e.g. under `/api`: `/api/auth/token`).
///
/// - `POST /auth/token` — DRF's `obtain_auth_token`: `username` and `password` as JSON or form →
///   `200 {"token": "<key>"}`, DRF's `400` messages otherwise. Unlike DRF, which returns the
///   user's one existing key, each login issues a new token (keys are stored hashed, so an
///   existing key cannot be returned — knox does the same). Optional `name`, `expires_in`
///   (seconds) and `scopes`. Failed logins are throttled per username and per client address
///   (`429` with `Retry-After`); a wrong username costs the same Argon2 work as a wrong
///   password. Responses carry `Cache-Control: no-store`.
/// - `POST /auth/logout` — revokes the presenting token; `204`.
/// - `POST /auth/logout-all` — revokes all of the user's tokens; `204`.
///
/// Throttling state lives in this instance's memory: with several instances behind a load
/// balancer each counts its own failures.
///
/// ```
/// use std::time::Duration;
/// use tokenauth::{AuthApi, Limit};
///
/// let api = AuthApi::new()
///     .login_limits(Limit::new(5, Duration::from_secs(900)), Limit::new(50, Duration::from_secs(900)))
///     .trusted_proxies(["10.0.0.1".parse().unwrap()]);
/// ```
#[derive(Clone)]
pub struct AuthApi {
    throttle: Arc<throttle::Throttle>,
    trusted_proxies: Arc<[IpAddr]>,
}

impl Default for AuthApi {
    fn default() -> Self {
        AuthApi::new()
    }
}

impl AuthApi {
    /// Default limits: 5 failed logins per username and 20 per client address, per 15 minutes;
    /// no trusted proxies (the peer's address is the client's).
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
            )),
            trusted_proxies: Arc::from(Vec::new()),
        }
    }

    /// Sets the failed-login limits per username and per client address.
    ///
    /// ```
    /// use std::time::Duration;
    /// let api = tokenauth::AuthApi::new().login_limits(
    ///     tokenauth::Limit::new(3, Duration::from_secs(60)),
    ///     tokenauth::Limit::new(10, Duration::from_secs(60)),
    /// );
    /// ```
    pub fn login_limits(self, per_username: Limit, per_client: Limit) -> Self {
        AuthApi {
            throttle: Arc::new(throttle::Throttle::new(per_username, per_client)),
            ..self
        }
    }

    /// Reverse proxies whose `X-Forwarded-For` is believed. From any other peer the header is
    /// ignored, so clients cannot pick the address they are throttled under.
    ///
    /// ```
    /// let api = tokenauth::AuthApi::new().trusted_proxies(["127.0.0.1".parse().unwrap()]);
    /// ```
    pub fn trusted_proxies(self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        AuthApi {
            trusted_proxies: proxies.into_iter().collect(),
            ..self
        }
    }
}

/// A new token's key, shown once.
#[derive(Object)]
#[oai(rename = "ObtainedToken")]
struct TokenBody {
    /// The key: send it as `Authorization: Token <key>`. It is not stored and cannot be shown again.
    token: String,
}

/// The obtain-token request, as JSON or `application/x-www-form-urlencoded`.
#[derive(Object)]
#[oai(rename = "ObtainTokenRequest")]
#[allow(dead_code)]
struct LoginDoc {
    username: String,
    #[oai(validator(min_length = 1))]
    password: String,
    /// A label for the new token, e.g. the device.
    name: Option<String>,
    /// Seconds until the token expires.
    #[oai(validator(minimum(value = "1")))]
    expires_in: Option<i64>,
    /// Scopes to grant (`*`: all).
    scopes: Option<Vec<String>>,
}

/// The obtain-token body, parsed by DRF's rules; never fails extraction, so that every
/// refusal is answered with DRF's own status and body.
struct LoginBody(Result<body::Login, body::Refusal>);

impl<'a> ApiExtractor<'a> for LoginBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <LoginDoc as Type>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        let media = |content_type| MetaMediaType {
            content_type,
            schema: <LoginDoc as Type>::schema_ref(),
        };
        Some(MetaRequest {
            description: None,
            content: vec![
                media("application/json"),
                media("application/x-www-form-urlencoded"),
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await?;
        let content_type = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        Ok(LoginBody(body::parse(content_type, &bytes)))
    }
}

/// Compact JSON sent as written: DRF's field order survives (serde_json's maps sort keys).
struct DrfJson(String);

impl poem_openapi::payload::Payload for DrfJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        <Value as Type>::schema_ref()
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
    /// Invalid input (`{"<field>": ["…"]}`) or credentials
    /// (`{"non_field_errors": ["Unable to log in with provided credentials."]}`).
    #[oai(status = 400)]
    BadRequest(DrfJson, #[oai(header = "Cache-Control")] String),
    /// The user already has the maximum number of live tokens (see `Policy::max_tokens_per_user`).
    #[oai(status = 403)]
    Forbidden(DrfJson, #[oai(header = "Cache-Control")] String),
    /// The body is neither JSON nor a form.
    #[oai(status = 415)]
    UnsupportedMediaType(DrfJson, #[oai(header = "Cache-Control")] String),
    /// Too many failed logins for this username or client address.
    #[oai(status = 429)]
    TooManyRequests(
        DrfJson,
        #[oai(header = "Retry-After")] u64,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
enum MethodNotAllowed {
    /// Only `POST` obtains a token.
    #[oai(status = 405)]
    MethodNotAllowed(Json<Value>, #[oai(header = "Allow")] String),
}

#[derive(ApiResponse)]
enum Revoked {
    /// Revoked.
    #[oai(status = 204)]
    NoContent,
}

const NO_STORE: &str = "no-store";

fn store(request: &Request) -> poem::Result<&Store> {
    request
        .data::<Store>()
        .ok_or_else(|| Rejection::missing_store("Token").into())
}

fn server_error(error: crate::Error) -> poem::Error {
    Rejection::store_failure("Token", error).into()
}

#[crate::token_auth]
#[OpenApi]
impl AuthApi {
    /// Obtain a token (Django REST framework's `obtain_auth_token`).
    ///
    /// Send `username` and `password` as JSON or a form. Each successful call issues a new
    /// token; its key is in the response, this once.
    #[oai(path = "/auth/token", method = "post")]
    async fn obtain(&self, request: &Request, body: LoginBody) -> poem::Result<ObtainResponse> {
        let store = store(request)?;
        let login = match body.0 {
            Ok(login) => login,
            Err(body::Refusal::BadRequest(errors)) => {
                return Ok(ObtainResponse::BadRequest(DrfJson(errors), NO_STORE.into()));
            }
            Err(body::Refusal::UnsupportedMediaType(detail)) => {
                return Ok(ObtainResponse::UnsupportedMediaType(
                    DrfJson(detail),
                    NO_STORE.into(),
                ));
            }
        };
        let client = throttle::client_address(request, &self.trusted_proxies);
        if let Some(wait) = self
            .throttle
            .retry_after(&login.username, client, Instant::now())
        {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let unit = if seconds == 1 { "second" } else { "seconds" };
            let detail = format!("Request was throttled. Expected available in {seconds} {unit}.");
            return Ok(ObtainResponse::TooManyRequests(
                DrfJson(json!({ "detail": detail }).to_string()),
                seconds,
                NO_STORE.into(),
            ));
        }
        let Some(user) = store
            .check_password(&login.username, &login.password)
            .await
            .map_err(server_error)?
        else {
            self.throttle
                .failed(&login.username, client, Instant::now());
            let errors = body::field_errors(&[(
                "non_field_errors",
                "Unable to log in with provided credentials.",
            )]);
            return Ok(ObtainResponse::BadRequest(DrfJson(errors), NO_STORE.into()));
        };
        self.throttle.succeeded(&login.username);
        let mut options = NewToken::named(login.name);
        if let Some(seconds) = login.expires_in {
            options = options.expires_in(chrono::Duration::seconds(seconds));
        }
        for scope in login.scopes {
            options = options.scope(scope).map_err(server_error)?;
        }
        let key = match store.create_token(user.id, options).await {
            Ok((_, key)) => key,
            Err(crate::Error::TokenLimit) => {
                let detail = json!({ "detail": crate::Error::TokenLimit.to_string() });
                return Ok(ObtainResponse::Forbidden(
                    DrfJson(detail.to_string()),
                    NO_STORE.into(),
                ));
            }
            Err(error) => return Err(server_error(error)),
        };
        Ok(ObtainResponse::Ok(
            Json(TokenBody {
                token: key.expose_secret().to_owned(),
            }),
            NO_STORE.into(),
        ))
    }

    /// `GET` is not allowed: DRF's `405`.
    #[oai(path = "/auth/token", method = "get", hidden)]
    async fn obtain_get(&self) -> MethodNotAllowed {
        MethodNotAllowed::MethodNotAllowed(
            Json(json!({ "detail": "Method \"GET\" not allowed." })),
            "POST, OPTIONS".into(),
        )
    }

    /// Log out: revoke the token that authenticates this request.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(&self, store: Data<&Store>, token: Token) -> poem::Result<Revoked> {
        store.revoke_token(token.id).await.map_err(server_error)?;
        Ok(Revoked::NoContent)
    }

    /// Log out everywhere: revoke all of the user's tokens.
    #[oai(path = "/auth/logout-all", method = "post")]
    async fn logout_all(&self, store: Data<&Store>, user: User) -> poem::Result<Revoked> {
        store
            .revoke_all_tokens(user.id)
            .await
            .map_err(server_error)?;
        Ok(Revoked::NoContent)
    }
}
