//! Server-side failures are never reported as a `401`: a database that is down answers `503`,
//! a broken one `500`, a missing `.data(store)` a `500` saying what to add — each with a JSON
//! `detail`, a `tracing` error event, and no key anywhere.

use crate::common;

use common::{get, serve};
use poem::{EndpointExt, Route, handler};
use tokenauth::{Auth, MaybeAuth, Store};

#[handler]
async fn me(auth: Auth) -> String {
    auth.user.username
}

#[handler]
async fn maybe(MaybeAuth(auth): MaybeAuth) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |auth| auth.user.username)
}

/// poem's `Option<T>` turns the extractor's error into `None`: the rejection never becomes
/// a response, and must still be logged.
#[handler]
async fn swallowed(auth: Option<Auth>) -> String {
    auth.map_or_else(|| "swallowed".to_owned(), |auth| auth.user.username)
}

fn app(store: Option<Store>) -> poem::endpoint::BoxEndpoint<'static> {
    let route = Route::new()
        .at("/me", me)
        .at("/maybe", maybe)
        .at("/swallowed", swallowed);
    match store {
        Some(store) => route.data(store).boxed(),
        None => route.boxed(),
    }
}

const KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";

#[track_caller]
fn assert_json_detail(response: &common::RawResponse, status: u16, detail: &str) {
    assert_eq!(response.status, status, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header_count("www-authenticate"), 0);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, serde_json::json!({ "detail": detail }));
    assert!(!response.body_text().contains(KEY));
}

#[tokio::test]
async fn postgres_down_is_503_not_401() {
    let logs = common::Logs::default();
    let _guard = logs.install();
    // Nothing listens on port 1: every connection attempt is refused, as when the server is down.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_lazy("postgres://tokenauth@127.0.0.1:1/tokenauth")
        .unwrap();
    let server = serve(app(Some(Store::from(pool)))).await;

    for path in ["/me", "/maybe"] {
        let response = get(server.addr, path, Some(format!("Token {KEY}").as_bytes())).await;
        assert_json_detail(&response, 503, tokenauth::rejection::UNAVAILABLE_DETAIL);
    }
    let logs = logs.text();
    assert!(logs.contains("ERROR"), "{logs}");
    assert!(logs.contains("the token store failed"), "{logs}");
    assert!(!logs.contains(KEY), "the key leaked into the log: {logs}");
}

#[tokio::test]
async fn closed_pool_is_503() {
    let logs = common::Logs::default();
    let _guard = logs.install();
    let store = common::sqlite_store().await;
    store.close().await;
    let server = serve(app(Some(store))).await;

    let response = get(server.addr, "/me", Some(format!("Token {KEY}").as_bytes())).await;
    assert_json_detail(&response, 503, tokenauth::rejection::UNAVAILABLE_DETAIL);
    let response = get(server.addr, "/me", Some(format!("Token {KEY}").as_bytes())).await;
    assert_json_detail(&response, 503, tokenauth::rejection::UNAVAILABLE_DETAIL);
    let response = get(
        server.addr,
        "/swallowed",
        Some(format!("Token {KEY}").as_bytes()),
    )
    .await;
    assert_eq!((response.status, response.body_text()), (200, "swallowed"));
    // One event a failure: each response once, and the one poem swallowed too.
    let logged = logs.text().matches("the token store failed").count();
    assert_eq!(logged, 3, "{}", logs.text());
}

#[tokio::test]
async fn unmigrated_database_is_500_with_log() {
    let logs = common::Logs::default();
    let _guard = logs.install();
    let store = Store::connect("sqlite::memory:").await.unwrap(); // no migrate()
    let server = serve(app(Some(store))).await;

    let response = get(server.addr, "/me", Some(format!("Token {KEY}").as_bytes())).await;
    assert_json_detail(&response, 500, tokenauth::rejection::STORE_FAILURE_DETAIL);
    let logs = logs.text();
    assert!(
        logs.contains("no such table"),
        "the log names the cause: {logs}"
    );
    assert!(!logs.contains(KEY));
}

#[tokio::test]
async fn missing_store_is_500_saying_what_to_add() {
    let logs = common::Logs::default();
    let _guard = logs.install();
    let server = serve(app(None)).await;

    // Reported whether or not the request carries credentials, so it cannot hide behind a 401.
    for (path, header) in [
        ("/me", Some(format!("Token {KEY}"))),
        ("/me", None),
        ("/maybe", None),
    ] {
        let response = get(server.addr, path, header.as_deref().map(str::as_bytes)).await;
        assert_json_detail(&response, 500, tokenauth::rejection::MISSING_STORE_DETAIL);
        assert!(response.body_text().contains(".data(store)"));
    }
    assert!(logs.text().contains(".data(store)"));
}
