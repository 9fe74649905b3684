//! The token policy through real HTTP on SQLite and PostgreSQL, using the quickstart's API:
//! sliding refresh and last-used tracking on use, prefixed keys (a bad checksum is refused),
//! the token cap on login, scopes, revocation on password change, and DRF's deactivation.

use crate::api;
use crate::common;

use chrono::Duration;
use common::{Backend, INACTIVE, INVALID_TOKEN, assert_401, get, request, serve};
use serde_json::{Value, json};
use tokenauth::key::KeyFormat;
use tokenauth::{NewToken, Policy};

async fn policy_over_http(backend: Backend) {
    let policy = Policy::default()
        .default_ttl(Duration::minutes(10))
        .auto_refresh(Duration::zero(), Duration::hours(1))
        .last_used_interval(Some(Duration::hours(1)))
        .max_tokens_per_user(3)
        .key_format(KeyFormat::prefixed("tka").unwrap());
    let store = common::store(backend).await.with_policy(policy);
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(api::app(store.clone())).await;

    // Login issues a prefixed key that expires by default.
    let login = json!({"username": "alice", "password": "correct horse"}).to_string();
    let body = Some(("application/json", login.as_bytes()));
    let response = request(server.addr, "POST", "/api/auth/token", None, body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let key = serde_json::from_slice::<Value>(&response.body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("tka_"), "{key}");
    let created = store.tokens().list(alice.id).await.unwrap().pop().unwrap();
    let first_expiry = created.expires_at.expect("default TTL");
    assert_eq!(created.last_used_at, None);

    // Use: last_used_at recorded once, expiry slides.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let header = format!("Token {key}");
    assert_eq!(
        get(server.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200
    );
    store.flush_usage().await.unwrap(); // written off the request, within a second
    let used = store.tokens().list(alice.id).await.unwrap().pop().unwrap();
    assert!(used.last_used_at.is_some());
    assert!(used.expires_at.unwrap() > first_expiry);

    // A mistyped prefixed key is "Invalid token." (decided before any query).
    let mut typo = key.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'A' { 'B' } else { 'A' });
    let response = get(
        server.addr,
        "/api/me",
        Some(format!("Token {typo}").as_bytes()),
    )
    .await;
    assert_401(&response, "Token", INVALID_TOKEN, "bad checksum");

    // Scopes: the login token has none; a token with the scope passes.
    let response = get(server.addr, "/api/orders", Some(header.as_bytes())).await;
    assert_eq!(response.status, 403, "{response:?}");
    let (_, reader) = store
        .tokens()
        .create(
            alice.id,
            NewToken::named("reader").scope("orders:read").unwrap(),
        )
        .await
        .unwrap();
    let reader = format!("Token {}", reader.expose_secret());
    assert_eq!(
        get(server.addr, "/api/orders", Some(reader.as_bytes()))
            .await
            .status,
        200
    );

    // The cap: two live tokens so far, one more login is allowed, the next is 403.
    let response = request(server.addr, "POST", "/api/auth/token", None, body).await;
    assert_eq!(response.status, 200);
    let response = request(server.addr, "POST", "/api/auth/token", None, body).await;
    assert_eq!(response.status, 403, "{response:?}");

    // A new password revokes every token, at once.
    store
        .set_password(alice.id, Some("new password"))
        .await
        .unwrap();
    let response = get(server.addr, "/api/me", Some(reader.as_bytes())).await;
    assert_401(
        &response,
        "Token",
        INVALID_TOKEN,
        "revoked by the password change",
    );

    // Deactivation keeps the tokens and refuses them, as DRF; reactivation restores them.
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let header = format!("Token {}", key.expose_secret());
    assert_eq!(
        get(server.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200
    );
    assert_eq!(store.set_active(alice.id, false).await.unwrap(), 0);
    let response = get(server.addr, "/api/me", Some(header.as_bytes())).await;
    assert_401(&response, "Token", INACTIVE, "refused while inactive");
    store.set_active(alice.id, true).await.unwrap();
    assert_eq!(
        get(server.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200,
        "kept through the deactivation"
    );

    // Deleting them instead is a policy option.
    let deleting = store
        .clone()
        .with_policy(Policy::default().revoke_on_deactivation(true));
    assert_eq!(deleting.set_active(alice.id, false).await.unwrap(), 1);
    deleting.set_active(alice.id, true).await.unwrap();
    let response = get(server.addr, "/api/me", Some(header.as_bytes())).await;
    assert_401(
        &response,
        "Token",
        INVALID_TOKEN,
        "deleted by the deactivation",
    );
}

common::on_both_backends!(policy_over_http,);
