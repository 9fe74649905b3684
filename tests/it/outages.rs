//! Outages answer `503` with `Retry-After` and a JSON `detail`, never `500` or a `401`, and
//! the service recovers by itself: a real PostgreSQL stopped and restarted under load, and a
//! SQLite database whose write lock another process holds past the busy timeout.

use crate::api;
use crate::common;

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{RawResponse, get, post_json, serve};
use serde_json::json;
use sqlx::Connection as _;
use tokenauth::rejection::UNAVAILABLE_DETAIL;
use tokenauth::{NewToken, Store};

#[track_caller]
fn assert_unavailable(response: &RawResponse, case: &str) {
    assert_eq!(response.status, 503, "{case}: {response:?}");
    assert_eq!(response.header("retry-after"), Some("5"), "{case}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    assert_eq!(
        response.body_text(),
        json!({ "detail": UNAVAILABLE_DETAIL }).to_string(),
        "{case}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_write_lock_held_past_the_busy_timeout_is_503_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_millis(200));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(options.clone())
        .await
        .unwrap();
    let store = Store::from(pool);
    store.migrate().await.unwrap();
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(api::app(store)).await;
    let login = json!({"username": "alice", "password": "correct horse"});

    // Another process (here: another connection) holds the write lock.
    let mut other = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let response = post_json(server.addr, "/api/auth/token", &login, None).await;
    assert_unavailable(&response, "login while the database is locked");

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let response = post_json(server.addr, "/api/auth/token", &login, None).await;
    assert_eq!(response.status, 200, "recovered: {response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted_under_load_is_503_then_recovers() {
    let cluster = common::PgCluster::start();
    // A short wait for a connection, so that a 2 s outage is seen as one.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect(&cluster.url())
        .await
        .unwrap();
    let store = Store::from(pool);
    store.migrate().await.unwrap();
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let server = serve(api::app(store)).await;
    let header = format!("Token {}", key.expose_secret());

    // Load: authenticated requests and logins, recorded until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (addr, header, stop) = (server.addr, header.clone(), Arc::clone(&stop));
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = if worker == 0 {
                    let login = json!({"username": "alice", "password": "correct horse"});
                    post_json(addr, "/api/auth/token", &login, None).await
                } else {
                    get(addr, "/api/me", Some(header.as_bytes())).await
                };
                seen.push(response);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.pg_ctl_stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.pg_ctl_start();

    // Recovery: authenticated requests succeed again by themselves.
    let mut recovered = false;
    for _ in 0..100 {
        if get(server.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut responses = Vec::new();
    for task in load {
        responses.extend(task.await.unwrap());
    }
    assert!(recovered, "the service did not recover after the restart");

    let unavailable = responses.iter().filter(|r| r.status == 503).count();
    for response in &responses {
        match response.status {
            200 => {}
            503 => assert_unavailable(response, "during the outage"),
            _ => panic!("neither 200 nor 503 during the outage: {response:?}"),
        }
    }
    assert!(
        unavailable > 0,
        "the outage was seen ({} responses)",
        responses.len()
    );
    let last = responses
        .iter()
        .rev()
        .take(3)
        .map(|r| r.status)
        .collect::<Vec<_>>();
    assert!(
        last.iter().all(|s| *s == 200),
        "the load recovered too: {last:?}"
    );
}
