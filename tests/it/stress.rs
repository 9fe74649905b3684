//! A bounded stress test over loopback HTTP, on SQLite (a WAL file) and PostgreSQL: many
//! concurrent clients present valid, unknown, malformed, expired, inactive and revoked-mid-run
//! keys to the quickstart's API under an attacker's policy (cap, TTL with sliding refresh,
//! last-used tracking), and every answer is checked against the decision it must be —
//! 0 wrong decisions, 0 server errors.

use crate::api;
use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Backend, INACTIVE, INVALID_TOKEN, NO_CREDENTIALS, NOT_PROVIDED, SPACES, get};
use tokenauth::{NewToken, Policy};

/// Requests per backend (at least; clients go on until every revocation is done, up to twice
/// as many), and clients sending them at once.
const REQUESTS: usize = 3000;
const CLIENTS: usize = 48;

/// What a presented `Authorization` header must get.
#[derive(Clone, Debug)]
enum Expect {
    /// `200` with this username.
    User(String),
    /// DRF's `401` with this detail.
    Refused(&'static str),
    /// `200` with this username until the key's revocation returned, `Invalid token.` after.
    RevokedMidRun(String, usize),
}

async fn mixed_keys_under_load_get_exactly_their_decision(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    let store = store.with_policy(
        Policy::default()
            .default_ttl(chrono::Duration::hours(1))
            .auto_refresh(chrono::Duration::zero(), chrono::Duration::hours(2))
            .last_used_interval(Some(chrono::Duration::seconds(1)))
            .max_tokens_per_user(3),
    );
    let mut cases: Vec<(Vec<u8>, Expect)> = Vec::new();
    let mut revocable = Vec::new();
    for u in 0..12 {
        let name = format!("user{u}");
        let user = store.create_user(&name, None).await.unwrap();
        for t in 0..3 {
            let (token, key) = store
                .tokens()
                .create(user.id, NewToken::named(format!("t{t}")))
                .await
                .unwrap();
            let header = format!("Token {}", key.expose_secret()).into_bytes();
            if u % 3 == 0 {
                revocable.push(token.id);
                let expect = Expect::RevokedMidRun(name.clone(), revocable.len() - 1);
                cases.push((header, expect));
            } else {
                cases.push((header, Expect::User(name.clone())));
            }
        }
    }
    for u in 0..3 {
        let user = store
            .create_user_with(&format!("inactive{u}"), None, false)
            .await
            .unwrap();
        let (_, key) = store
            .tokens()
            .create(user.id, NewToken::default())
            .await
            .unwrap();
        let header = format!("Token {}", key.expose_secret()).into_bytes();
        cases.push((header, Expect::Refused(INACTIVE)));
    }
    let expired = store.create_user("expired", None).await.unwrap();
    for _ in 0..3 {
        let past = Utc::now() - chrono::Duration::minutes(1);
        let (_, key) = store
            .tokens()
            .create(expired.id, NewToken::default().expires_at(past))
            .await
            .unwrap();
        let header = format!("Token {}", key.expose_secret()).into_bytes();
        cases.push((header, Expect::Refused(INVALID_TOKEN)));
    }
    for i in 0..6 {
        let header = format!("Token {i:040x}").into_bytes();
        cases.push((header, Expect::Refused(INVALID_TOKEN)));
    }
    cases.push((b"Token".to_vec(), Expect::Refused(NO_CREDENTIALS)));
    cases.push((b"Token a b".to_vec(), Expect::Refused(SPACES)));
    cases.push((b"Bearer abc".to_vec(), Expect::Refused(NOT_PROVIDED)));

    let server = common::serve(api::app(store.clone())).await;
    let cases = Arc::new(cases);
    // When each revocable token's revocation returned.
    let revoked: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let start = Instant::now();

    // Revocations while the clients run, paced by the answers rather than by the clock: one
    // every 100 answers, from the 300th on.
    let answered = Arc::new(AtomicUsize::new(0));
    let revoking_done = Arc::new(AtomicBool::new(false));
    let revoker = {
        let (store, revoked) = (store.clone(), Arc::clone(&revoked));
        let (answered, done) = (Arc::clone(&answered), Arc::clone(&revoking_done));
        tokio::spawn(async move {
            for (index, token_id) in revocable.into_iter().enumerate() {
                while answered.load(Ordering::Relaxed) < 300 + 100 * index {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                assert!(store.tokens().revoke(token_id).await.unwrap());
                revoked.lock().unwrap().insert(index, Instant::now());
            }
            done.store(true, Ordering::Relaxed);
        })
    };

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (cases, revoked, addr) = (Arc::clone(&cases), Arc::clone(&revoked), server.addr);
            let (answered, done) = (Arc::clone(&answered), Arc::clone(&revoking_done));
            tokio::spawn(async move {
                let (mut wrong, mut after_revocation) = (Vec::new(), 0);
                let mut n = client;
                while n < REQUESTS || (!done.load(Ordering::Relaxed) && n < 2 * REQUESTS) {
                    let (header, expect) = &cases[(n * 7 + client) % cases.len()];
                    let sent = Instant::now();
                    let response = get(addr, "/api/me", Some(header)).await;
                    let body = response.body_text().to_owned();
                    let refused = |detail: &str| {
                        response.status == 401 && body == format!(r#"{{"detail":"{detail}"}}"#)
                    };
                    let user = |name: &str| {
                        response.status == 200
                            && serde_json::from_str::<serde_json::Value>(&body).unwrap()["username"]
                                == name
                    };
                    let right = match expect {
                        Expect::User(name) => user(name),
                        Expect::Refused(detail) => refused(detail),
                        Expect::RevokedMidRun(name, index) => {
                            let done = revoked.lock().unwrap().get(index).copied();
                            match done {
                                Some(at) if sent > at => {
                                    after_revocation += 1;
                                    refused(INVALID_TOKEN)
                                }
                                _ => user(name) || refused(INVALID_TOKEN),
                            }
                        }
                    };
                    if !right || response.status >= 500 {
                        wrong.push(format!("{expect:?} got {} {body}", response.status));
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                    n += CLIENTS;
                }
                (wrong, after_revocation)
            })
        })
        .collect();
    let (mut wrong, mut after_revocation) = (Vec::new(), 0);
    for client in clients {
        let (w, a) = client.await.unwrap();
        wrong.extend(w);
        after_revocation += a;
    }
    let finished = Instant::now();
    if !revoking_done.load(Ordering::Relaxed) {
        revoker.abort(); // the clients stopped first: the assertions below say so
    }
    match revoker.await {
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        _ => {}
    }
    assert!(
        wrong.is_empty(),
        "{} wrong decisions of {} in {:?}, e.g. {:?}",
        wrong.len(),
        answered.load(Ordering::Relaxed),
        start.elapsed(),
        &wrong[..wrong.len().min(5)]
    );
    // The revocations happened while the clients ran, and revoked keys were presented after.
    let revoked = revoked.lock().unwrap();
    assert_eq!(revoked.len(), 12);
    assert!(
        revoked.values().all(|at| *at < finished),
        "the run ended too early"
    );
    assert!(
        after_revocation > 0,
        "no revoked key was presented after its revocation"
    );
}

common::on_both_backends!(heavy: mixed_keys_under_load_get_exactly_their_decision,);
