//! Metrics (issue 21), black box: known traffic to a quickstart process, then its `/metrics`
//! scraped and read as Prometheus text — exact counts, on both backends, in a process of their
//! own (the counters are the process's). Nothing a client sent, nor any key or digest, appears.

use serde_json::json;
use tokenauth::{NewToken, Store};

use crate::common::{self, Backend, Instance, get, post_json, request};

common::on_both_backends!(known_traffic_gives_exact_counts_and_no_secrets);

/// The value of the sample `name{labels}` (`name` alone without labels) in a Prometheus text
/// exposition (0 if absent).
fn sample(exposition: &str, name: &str, labels: &str) -> f64 {
    let wanted = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

async fn known_traffic_gives_exact_counts_and_no_secrets(backend: Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let quickstart = Instance::start(&url).await;
    let addr = quickstart.addr;
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let gone = store.create_user_with("gone", None, false).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let (_, inactive) = store
        .tokens()
        .create(gone.id, NewToken::default())
        .await
        .unwrap();
    let key = key.expose_secret().to_owned();
    let token = |key: &str| format!("Token {key}").into_bytes();

    for _ in 0..2 {
        assert_eq!(get(addr, "/api/me", Some(&token(&key))).await.status, 200);
    }
    let bearer = format!("Bearer {key}").into_bytes();
    assert_eq!(get(addr, "/api/bearer/me", Some(&bearer)).await.status, 200);
    assert_eq!(get(addr, "/api/me", None).await.status, 401);
    assert_eq!(get(addr, "/api/me", Some(b"Token")).await.status, 401);
    assert_eq!(get(addr, "/api/me", Some(&token("nope"))).await.status, 401);
    let inactive = inactive.expose_secret().to_owned();
    assert_eq!(
        get(addr, "/api/me", Some(&token(&inactive))).await.status,
        401
    );
    assert_eq!(
        get(addr, "/api/orders", Some(&token(&key))).await.status,
        403
    );
    let wrong = json!({"username": "alice", "password": "wrong"});
    assert_eq!(
        post_json(addr, "/api/auth/token", &wrong, None)
            .await
            .status,
        400
    );
    let right = json!({
        "username": "alice", "password": "correct horse", "read_only": true, "scopes": ["orders:write"]
    });
    let login = post_json(addr, "/api/auth/token", &right, None).await;
    assert_eq!(login.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&login.body).unwrap();
    let read_only = body["token"].as_str().unwrap().to_owned();
    let write = request(addr, "POST", "/api/orders", Some(&token(&read_only)), None).await;
    assert_eq!(write.status, 403);
    let out = request(
        addr,
        "POST",
        "/api/auth/logout",
        Some(&token(&read_only)),
        None,
    )
    .await;
    assert_eq!(out.status, 204);

    // Failed logins for one username up to the throttle's limit (5 per 15 minutes), then one
    // more: throttled.
    let unknown = json!({"username": "zed", "password": "guess"});
    for _ in 0..5 {
        assert_eq!(
            post_json(addr, "/api/auth/token", &unknown, None)
                .await
                .status,
            400
        );
    }
    assert_eq!(
        post_json(addr, "/api/auth/token", &unknown, None)
            .await
            .status,
        429
    );

    let scraped = get(addr, "/metrics", None).await;
    assert_eq!(scraped.status, 200);
    let text = scraped.body_text();
    let auth = "tokenauth_authentications_total";
    let expected = [
        (auth, r#"keyword="Token",outcome="ok""#, 3.0), // two /me, and the logout
        (auth, r#"keyword="Bearer",outcome="ok""#, 1.0),
        (auth, r#"keyword="Token",outcome="missing""#, 1.0),
        (auth, r#"keyword="Token",outcome="malformed""#, 1.0),
        (auth, r#"keyword="Token",outcome="invalid""#, 1.0),
        (auth, r#"keyword="Token",outcome="inactive""#, 1.0),
        (auth, r#"keyword="Token",outcome="insufficient_scope""#, 1.0),
        (auth, r#"keyword="Token",outcome="forbidden""#, 1.0),
        (auth, r#"keyword="Token",outcome="unavailable""#, 0.0),
        ("tokenauth_logins_total", r#"outcome="ok""#, 1.0),
        (
            "tokenauth_logins_total",
            r#"outcome="bad_credentials""#,
            6.0,
        ),
        ("tokenauth_logins_total", r#"outcome="throttled""#, 1.0),
        ("tokenauth_tokens_issued_total", r#"via="login""#, 1.0),
        ("tokenauth_tokens_revoked_total", r#"reason="logout""#, 1.0),
    ];
    for (name, labels, value) in expected {
        assert_eq!(
            sample(text, name, labels),
            value,
            "{name}{{{labels}}}\n{text}"
        );
    }
    let timed: f64 = ["cache", "filter", "database"]
        .iter()
        .map(|source| {
            let labels = format!(r#"source="{source}""#);
            sample(
                text,
                "tokenauth_authentication_duration_seconds_count",
                &labels,
            )
        })
        .sum();
    assert_eq!(timed, 8.0, "every lookup of a key is timed, once\n{text}");

    // The gauges, set at the scrape.
    for gauge in [
        "tokenauth_cache_entries",
        "tokenauth_filter_bytes",
        "tokenauth_filter_degraded",
        "tokenauth_feed_up",
        "tokenauth_password_queue_depth",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{gauge} "))),
            "{gauge}\n{text}"
        );
    }
    assert_eq!(sample(text, "tokenauth_password_queue_depth", ""), 0.0);
    let health = get(addr, "/health", None).await;
    assert_eq!((health.status, health.body_text()), (200, "ready"));

    // Nothing secret, nothing a client chose.
    for secret in [&key, &read_only, &inactive] {
        assert!(!text.contains(secret.as_str()));
        assert!(!text.contains(tokenauth::key::KeyDigest::of(secret).as_str()));
    }
    for chosen in [
        "alice",
        "zed",
        "guess",
        "correct horse",
        "wrong",
        "nope",
        "127.0.0.1",
    ] {
        assert!(!text.contains(chosen), "{chosen} in the metrics");
    }
}

/// What the security log holds: the lines of target `tokenauth::security`.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A current-thread runtime: the subscriber set for this thread sees the server's tasks too.
#[tokio::test]
async fn security_events_name_what_happened_and_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = common::store(Backend::Sqlite).await;
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let (_, unscoped) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let unscoped = unscoped.expose_secret().to_owned();
    let server = common::serve(crate::api::app(store)).await;
    let addr = server.addr;
    let wrong = json!({"username": "alice", "password": "wrong horse"});
    assert_eq!(
        post_json(addr, "/api/auth/token", &wrong, None)
            .await
            .status,
        400
    );
    let right = json!({"username": "alice", "password": "correct horse"});
    let login = post_json(addr, "/api/auth/token", &right, None).await;
    let body: serde_json::Value = serde_json::from_slice(&login.body).unwrap();
    let key = body["token"].as_str().unwrap().to_owned();
    let header = |key: &str| format!("Token {key}").into_bytes();
    assert_eq!(
        get(addr, "/api/orders", Some(&header(&unscoped)))
            .await
            .status,
        403
    );
    let out = request(addr, "POST", "/api/auth/logout", Some(&header(&key)), None).await;
    assert_eq!(out.status, 204);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("tokenauth::security"))
        .filter_map(|line| line.split("event=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        events,
        [
            "authn_token_created", // the unscoped token, by the store
            "authn_login_fail",
            "authn_token_created",
            "authn_login_success",
            "authz_fail",
            "authn_token_revoked",
        ],
        "{log}"
    );
    let success = log
        .lines()
        .find(|line| line.contains("authn_login_success"))
        .unwrap();
    assert!(
        success.contains(&format!("user_id={}", alice.id)) && success.contains("client=127.0.0.1"),
        "{success}"
    );
    for secret in [&key, &unscoped] {
        assert!(!log.contains(secret.as_str()));
        assert!(!log.contains(tokenauth::key::KeyDigest::of(secret).as_str()));
    }
    for chosen in ["alice", "horse"] {
        assert!(!log.contains(chosen), "{chosen} in the log:\n{log}");
    }
}

/// `TOKENAUTH_LOG=json`: the quickstart's log is one JSON object per line, security events
/// with their `event` field and target, for a log pipeline to alert on.
#[tokio::test]
async fn the_quickstart_logs_json_lines_with_security_events() {
    use tokio::io::AsyncBufReadExt as _;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let mut child = tokio::process::Command::new(common::built_binary("examples/quickstart"))
        .env("DATABASE_URL", &url)
        .env("TOKENAUTH_BIND", "127.0.0.1:0")
        .env("TOKENAUTH_LOG", "json")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(rest) = line.strip_prefix("Listening on http://") {
            addr = rest.split_whitespace().next().map(|a| a.parse().unwrap());
            break;
        }
    }
    let addr: std::net::SocketAddr = addr.expect("the quickstart listens");
    let wrong = json!({"username": "demo", "password": "wrong horse"});
    assert_eq!(
        post_json(addr, "/api/auth/token", &wrong, None)
            .await
            .status,
        400
    );
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue; // the lines printed before the log (the key, the password)
            };
            if record["target"] == "tokenauth::security" {
                return record;
            }
        }
        panic!("the quickstart exited");
    })
    .await
    .expect("a security event within 10 s");
    assert_eq!(found["fields"]["event"], "authn_login_fail", "{found}");
    assert_eq!(found["fields"]["client"], "127.0.0.1", "{found}");
    assert!(!found.to_string().contains("horse"), "{found}");
}
