//! A small API authenticated with tokenauth, on SQLite with no set-up.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! - `TOKENAUTH_BIND`: address to listen on (default `127.0.0.1:3000`; port 0 picks a free
//!   one, which the `Listening on …` line names);
//! - `DATABASE_URL`: `sqlite://…` (default `sqlite://tokenauth-quickstart.db`, created and
//!   migrated on start) or `postgres://…`;
//! - `TOKENAUTH_TRUSTED_PROXIES`: comma-separated addresses of reverse proxies whose
//!   `X-Forwarded-For` is believed, by the login throttle and tokens' `allowed_ips` (default:
//!   none);
//! - `TOKENAUTH_AUTH_CACHE`: `off` for no authentication cache and no live-key filter (every
//!   request reads the database; `benches/load/run` compares both), or the number of keys to
//!   cache (default 100,000);
//! - `TOKENAUTH_LOG`: `json` for one JSON object per log line (security events included), or
//!   `text` (the default);
//! - `TOKENAUTH_ARGON2`: the Argon2id cost of new password hashes, `memory_kib,passes,lanes`
//!   (default OWASP's `19456,2,1`; a weaker hash is replaced at the next login);
//! - `TOKENAUTH_PEPPER`: stores new keys' digests as HMAC-SHA-256 under this secret
//!   (`Policy::pepper`): 64 or more hex digits (`openssl rand -hex 32`), or `<id>:<hex>`
//!   separated by commas while rotating; older keys keep working;
//! - `TOKENAUTH_SECRET_SCANNING_KEYS`: a file holding GitHub's secret scanning keys (the JSON of
//!   `https://api.github.com/meta/public_keys/secret_scanning`): serves GitHub's leaked-key
//!   reports at `POST /api/secret-scanning`, revoking every live key reported.
//!
//! On first start it creates a user `demo`, with a random password, and prints a
//! ready-to-paste `curl` command with that user's new key, and the password (both this once).
//! Routes: `GET /api/me` (`Authorization: Token <key>`), `GET /api/bearer/me`
//! (`Authorization: Bearer <key>`), `GET /api/oauth/me` and `GET /api/oauth/orders` (`Bearer`,
//! with RFC 6750's challenges; the latter needs scope `orders:read`), `GET /api/orders` (scope
//! `orders:read`), `POST /api/orders`
//! (scope `orders:write`; refused to read-only tokens), `GET /api/ping` (open), tokenauth's
//! `POST /api/auth/token` (login: `scopes` among `orders:*`, `orders:read`, `orders:write`,
//! `allowed_ips`, `read_only`), `GET /api/auth/tokens`, `DELETE /api/auth/tokens/{id}`,
//! `POST /api/auth/token/roll` (`grace` up to an hour), `POST /api/auth/logout` and
//! `/logout-all`, RFC 7009's `POST /api/auth/revoke` and RFC 7662's `POST /api/auth/introspect`
//! (for a key with scope `tokenauth:introspect`); Swagger UI at `/docs`, the OpenAPI document at `/openapi.json`, and
//! tokenauth's metrics in Prometheus' text format at `/metrics`, and a readiness probe at
//! `/health` (`200 ready`, or `503` and what is wrong).

mod api;

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::middleware::Tracing;
use poem::{EndpointExt, Server};
use tokenauth::{NewToken, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    match std::env::var("TOKENAUTH_LOG").as_deref() {
        // One JSON object per line, for a log pipeline (security events included, with their
        // `event` field): `{"timestamp":…,"level":"INFO","fields":{"event":"authn_login_fail",…},
        // "target":"tokenauth::security"}`.
        // Without poem's request span, whose `remote_addr` believes any `X-Forwarded-For`:
        // a security event's `client` is the address `Policy::trusted_proxies` vouches for.
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
        Ok("text") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter).init(),
        Ok(_) => return Err("TOKENAUTH_LOG: `json` or `text`".into()),
    }

    let bind = std::env::var("TOKENAUTH_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://tokenauth-quickstart.db".to_owned());

    let mut store = Store::connect(&database_url).await?;
    match std::env::var("TOKENAUTH_AUTH_CACHE").as_deref() {
        Err(_) => {}
        Ok("off") => {
            let policy = store.policy().clone().no_auth_cache();
            store = store.with_policy(policy);
        }
        Ok(entries) => {
            let entries = entries
                .parse()
                .map_err(|_| "TOKENAUTH_AUTH_CACHE: `off` or a number of keys")?;
            let age = std::time::Duration::from_secs(60);
            let policy = store.policy().clone().auth_cache(entries, age);
            store = store.with_policy(policy);
        }
    }
    if let Ok(cost) = std::env::var("TOKENAUTH_ARGON2") {
        let cost: Vec<u32> = cost
            .split(',')
            .map(|part| part.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|_| "TOKENAUTH_ARGON2: memory in KiB, passes and lanes, as `19456,2,1`")?;
        let [memory_kib, passes, lanes] = cost[..] else {
            return Err("TOKENAUTH_ARGON2: memory in KiB, passes and lanes, as `19456,2,1`".into());
        };
        let policy = store.policy().clone().argon2(memory_kib, passes, lanes)?;
        store = store.with_policy(policy);
    }
    if let Ok(proxies) = std::env::var("TOKENAUTH_TRUSTED_PROXIES") {
        let proxies = proxies
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.trim().parse())
            .collect::<Result<Vec<std::net::IpAddr>, _>>()
            .map_err(|err| format!("TOKENAUTH_TRUSTED_PROXIES: {err}"))?;
        let policy = store.policy().clone().trusted_proxies(proxies);
        store = store.with_policy(policy);
    }
    // Peppered digests: `<hex>`, or `<id>:<hex>,…` while rotating (never printed).
    if let Some(peppers) = std::env::var_os("TOKENAUTH_PEPPER") {
        let peppers = peppers
            .into_string()
            .map_err(|_| "TOKENAUTH_PEPPER is not text")?;
        let policy = store
            .policy()
            .clone()
            .peppers(&peppers)
            .map_err(|err| format!("TOKENAUTH_PEPPER: {err}"))?;
        store = store.with_policy(policy);
    }
    let policy = api::policy(store.policy().clone())?;
    store = store.with_policy(policy);
    store.migrate().await?;

    match store.user_by_username("demo").await? {
        None => {
            // A random password, shown once: log in with it in Swagger UI (POST /auth/token).
            let password = tokenauth::Key::generate()?;
            let demo = store
                .create_user("demo", Some(password.expose_secret()))
                .await?;
            let (_, key) = store
                .tokens()
                .create(demo.id, NewToken::named("quickstart").scope("orders:read")?)
                .await?;
            println!("Created user `demo`. Its key and password are shown this once:\n");
            println!(
                "  curl -H 'Authorization: Token {}' http://{bind}/api/me\n",
                key.expose_secret()
            );
            println!(
                "  password of `demo` (log in at POST /api/auth/token, e.g. in Swagger UI): {}\n",
                password.expose_secret()
            );
        }
        Some(_) => println!(
            "User `demo` exists; its key and password were shown on first start and cannot be \
             shown again (only digests are stored). Delete the database to start over."
        ),
    }

    // tokenauth's metrics (and any of the application's), in Prometheus' text format at
    // `/metrics`. Serve it to your scraper only (a private port, or behind an authenticated
    // route): the README says how.
    let metrics = api::metrics_exporter(std::time::Duration::from_secs(5))?;
    let gauged = store.clone();
    let scrape = poem::endpoint::make_sync(move |_| {
        gauged.record_gauges(); // the cache's and the password queue's state, now
        poem::Response::builder()
            .content_type("text/plain; version=0.0.4")
            .body(metrics.render())
    });
    // A readiness probe: `200 ready`, or `503` with one line per problem.
    let probed = store.clone();
    let health = poem::endpoint::make(move |_| {
        let store = probed.clone();
        async move {
            let health = store.health().await;
            let status = if health.is_ready() {
                poem::http::StatusCode::OK
            } else {
                poem::http::StatusCode::SERVICE_UNAVAILABLE
            };
            poem::Response::builder()
                .status(status)
                .content_type("text/plain; charset=utf-8")
                .body(health.to_string())
        }
    });
    let mut app = poem::Route::new()
        .at("/metrics", poem::get(scrape))
        .at("/health", poem::get(health));
    // GitHub's leaked-key reports, with the keys GitHub publishes, saved to a file by the
    // operator (tokenauth makes no request of its own): see the README's "Leaked keys".
    if let Ok(path) = std::env::var("TOKENAUTH_SECRET_SCANNING_KEYS") {
        let keys = std::fs::read_to_string(&path)
            .map_err(|err| format!("TOKENAUTH_SECRET_SCANNING_KEYS: {path}: {err}"))?;
        let scanning = tokenauth::secret_scanning::SecretScanning::new(&keys)
            .map_err(|err| format!("TOKENAUTH_SECRET_SCANNING_KEYS: {path}: {err}"))?;
        app = app.at(
            "/api/secret-scanning",
            poem::post(scanning).data(store.clone()),
        );
    }
    let app = app
        .nest("/", api::app_with(store.clone(), api::auth_api()))
        .with(Tracing);

    // Bound before saying so (port 0 picks a free one, and the line names it).
    let acceptor = TcpListener::bind(bind).into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .ok_or("the listener has no TCP address")?;
    println!("Listening on http://{addr} — Swagger UI: http://{addr}/docs");
    // On Ctrl-C or SIGTERM: finish the requests in flight, then write the pending records of
    // token use.
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown(), Some(std::time::Duration::from_secs(5)))
        .await?;
    store.close().await;
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM (what service managers and containers send).
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
