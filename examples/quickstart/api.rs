//! The quickstart's API: shared by `main.rs` and the integration tests, so the tests exercise
//! exactly what `cargo run --example quickstart` serves.

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ContactObject, LicenseObject, Object, OpenApi, OpenApiService, Tags};
use tokenauth::{AuthApi, Policy, Store, User, token_auth};

/// The authenticated account.
#[derive(Object)]
pub(crate) struct Me {
    /// The user's id.
    pub(crate) id: i64,
    /// The user's login name.
    pub(crate) username: String,
}

impl From<User> for Me {
    fn from(user: User) -> Self {
        Me {
            id: user.id,
            username: user.username,
        }
    }
}

/// The quickstart API.
pub(crate) struct Api;

/// The quickstart's tags.
#[derive(Tags)]
enum Tag {
    /// The authenticated user.
    #[oai(rename = "account")]
    Account,
    /// The user's orders: a scoped operation.
    #[oai(rename = "orders")]
    Orders,
    /// Whether the server is up.
    #[oai(rename = "health")]
    Health,
}

#[token_auth] // keyword "Token", as in Django REST framework
#[OpenApi]
impl Api {
    /// The authenticated user
    ///
    /// Send `Authorization: Token <key>`.
    #[oai(path = "/me", method = "get", tag = "Tag::Account")]
    async fn me(&self, user: User) -> Json<Me> {
        Json(user.into())
    }

    /// The authenticated user, with a Bearer key
    ///
    /// Send `Authorization: Bearer <key>`.
    #[token_auth(keyword = "Bearer")]
    #[oai(path = "/bearer/me", method = "get", tag = "Tag::Account")]
    async fn bearer_me(&self, user: User) -> Json<Me> {
        Json(user.into())
    }

    /// The authenticated user, for OAuth 2.0 clients
    ///
    /// Send `Authorization: Bearer <key>`. Refusals carry RFC 6750's challenge:
    /// `WWW-Authenticate: Bearer realm="quickstart"`, with `error="invalid_token"` for a key
    /// that was refused and `error="invalid_request"` (a `400`) for a malformed header.
    #[token_auth(keyword = "Bearer", challenge = "rfc6750", realm = "quickstart")]
    #[oai(path = "/oauth/me", method = "get", tag = "Tag::Account")]
    async fn oauth_me(&self, user: User) -> Json<Me> {
        Json(user.into())
    }

    /// The user's orders, for OAuth 2.0 clients
    ///
    /// Send `Authorization: Bearer <key>` with the scope `orders:read`: a key without it gets
    /// RFC 6750's `403` with `error="insufficient_scope", scope="orders:read"`.
    #[token_auth(
        keyword = "Bearer",
        challenge = "rfc6750",
        realm = "quickstart",
        scopes = ["orders:read"]
    )]
    #[oai(path = "/oauth/orders", method = "get", tag = "Tag::Orders")]
    async fn oauth_orders(&self, user: User) -> Json<Vec<String>> {
        Json(vec![format!("order #1 of {}", user.username)])
    }

    /// The user's orders
    ///
    /// An example of a scoped operation: the token must have the scope `orders:read` (which
    /// `orders:*` and `orders:write` grant too).
    #[token_auth(scopes = ["orders:read"])]
    #[oai(path = "/orders", method = "get", tag = "Tag::Orders")]
    async fn orders(&self, user: User) -> Json<Vec<String>> {
        Json(vec![format!("order #1 of {}", user.username)])
    }

    /// Place an order
    ///
    /// A scoped write: the token must have the scope `orders:write` (or `orders:*`), and must
    /// not be read-only.
    #[token_auth(scopes = ["orders:write"])]
    #[oai(path = "/orders", method = "post", tag = "Tag::Orders")]
    async fn place_order(&self, user: User) -> Json<String> {
        Json(format!("order #2 of {} placed", user.username))
    }

    /// Ping
    ///
    /// Open to everyone: answers `pong`.
    #[oai(path = "/ping", method = "get", tag = "Tag::Health")]
    async fn ping(&self) -> PlainText<&'static str> {
        PlainText("pong")
    }
}

/// The quickstart's login view: a login may ask for the scopes the API uses (`orders:*` grants
/// both). Its answer is Django REST framework's `{"token": …}` (`with_expiry_in_response()`
/// would add knox's `"expiry"`).
pub(crate) fn auth_api() -> AuthApi {
    AuthApi::new().grantable_scopes(["orders:*", "orders:read", "orders:write"])
}

/// The quickstart's policy, on top of `policy`: writing orders implies reading them, and a roll
/// may keep the old key for up to an hour. (Not `expire_unused`: the quickstart also serves
/// databases imported from Django, whose tokens have no recorded use and may be years old.)
///
/// # Errors
/// Never for these scopes; the type is `Policy::scope_implies`'s.
pub(crate) fn policy(policy: Policy) -> Result<Policy, tokenauth::Error> {
    Ok(policy
        .scope_implies("orders:write", "orders:read")?
        .max_roll_grace(chrono::Duration::hours(1)))
}

/// The whole application: the API and tokenauth's `/api/auth/…` (login, logout, the user's
/// tokens, rolling a key) under `/api`, Swagger UI at `/docs`, the spec at `/openapi.json`.
#[allow(dead_code)] // the integration tests serve it; main.rs configures its own `AuthApi`
pub(crate) fn app(store: Store) -> impl Endpoint {
    app_with(store, auth_api())
}

/// [`app`] with a login view configured by the caller (e.g. trusted proxies).
pub(crate) fn app_with(store: Store, auth: AuthApi) -> impl Endpoint {
    let api = OpenApiService::new(
        (Api, auth),
        "tokenauth quickstart",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Django REST framework's token authentication for poem. \
             Click **Authorize** and paste the key alone, for TokenAuth (sent as \
             `Authorization: Token <key>`; `Token <key>` works too) or BearerAuth \
             (`Authorization: Bearer <key>`).",
    )
    .contact(
        ContactObject::new()
            .name("The tokenauth developers")
            .url("https://github.com/tokenauth/tokenauth"),
    )
    .license(
        LicenseObject::new("MIT OR Apache-2.0")
            .url("https://github.com/tokenauth/tokenauth#license"),
    )
    .server("/api");
    // The document with each scoped operation's `x-required-scopes`, served and in Swagger UI.
    let spec = tokenauth::openapi::spec_endpoint(&api);
    let docs = tokenauth::openapi::swagger_ui(&api);
    Route::new()
        .nest("/api", tokenauth::openapi::drf_methods(api)) // wrong methods: DRF's 405 with `Allow`
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .data(store)
}

/// The Prometheus exporter the quickstart serves at `/metrics`, installed as this process's
/// `metrics` recorder. It keeps each histogram sample (one per authentication) until the
/// samples are drained, by a scrape or by the exporter's upkeep; this runs the upkeep every
/// `upkeep`, so that an instance nobody scrapes does not grow by a sample per request.
pub(crate) fn metrics_exporter(
    upkeep: std::time::Duration,
) -> Result<metrics_exporter_prometheus::PrometheusHandle, metrics_exporter_prometheus::BuildError>
{
    // Buckets make the duration a Prometheus histogram, which adds up across instances
    // (without them the exporter renders a summary, whose quantiles do not): from 1 µs (a
    // cached key) to a second (a database under load).
    let duration = metrics_exporter_prometheus::Matcher::Full(
        "tokenauth_authentication_duration_seconds".to_owned(),
    );
    let buckets = [
        1e-6, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0,
    ];
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(duration, &buckets)?
        .install_recorder()?;
    let kept = exporter.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(upkeep);
        loop {
            every.tick().await;
            kept.run_upkeep();
        }
    });
    Ok(exporter)
}
