//! The login view and the store attacked as an attacker would: concurrent requests racing a
//! revocation or the throttle, and hostile input. Each test is the regression test of a defect
//! found that way, on SQLite (a WAL file, as in production) and on PostgreSQL.

use crate::common;

use std::time::Duration;

use common::{Backend, RawResponse, post_json, request, serve};
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;
use serde_json::{Value, json};
use tokenauth::openapi::Limit;
use tokenauth::{AuthApi, NewToken, Policy, Store};

const TOKEN: &str = "/api/auth/token";
const WINDOW: Duration = Duration::from_secs(600);
const BAD_CREDENTIALS: &str =
    r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;

// Bursts of logins (password hashing) and quickstart processes under load: one at a time
// (`common::heavy`).
common::on_both_backends!(
    heavy:
    no_token_minted_from_an_old_password_survives_the_change,
    no_token_outlives_a_deleting_deactivation,
    concurrent_guesses_for_one_user_verify_at_most_the_limit,
    concurrent_usernames_from_one_client_verify_at_most_the_limit,
    simultaneous_right_logins_from_one_address_are_never_throttled,
);

mod light {
    #[allow(unused_imports)]
    use super::*;
    common::on_both_backends!(
        a_nul_byte_in_the_username_is_a_throttled_failed_login,
        far_future_expiries_are_kept_by_pruning,
        the_maximum_lifetime_holds_for_older_tokens,
    );
}

/// The login view alone, under `/api`, as an application mounts it.
fn auth_app(store: Store, auth: AuthApi) -> impl Endpoint {
    Route::new()
        .nest("/api", OpenApiService::new(auth, "attack", "1"))
        .data(store)
}

/// The login view with throttling off, so that only what is under test limits logins.
fn unthrottled() -> AuthApi {
    AuthApi::new().login_limits(Limit::new(0, WINDOW), Limit::new(0, WINDOW))
}

/// The login view with these limits, to be served by a store [`trusting_loopback`].
fn behind_proxy(per_username: usize, per_client: usize) -> AuthApi {
    AuthApi::new().login_limits(
        Limit::new(per_username, WINDOW),
        Limit::new(per_client, WINDOW),
    )
}

/// `store` trusting the loopback proxy, so that each request picks its client address.
fn trusting_loopback(store: Store) -> Store {
    let policy = store
        .policy()
        .clone()
        .trusted_proxies(["127.0.0.1".parse().unwrap()]);
    store.with_policy(policy)
}

fn credentials(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password})
}

fn key_of(response: &RawResponse) -> Option<String> {
    if response.status != 200 {
        return None;
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    Some(body["token"].as_str().unwrap().to_owned())
}

/// Sends `count` logins at once; the handles answer in order.
fn spawn_logins(
    addr: std::net::SocketAddr,
    count: usize,
    body: impl Fn(usize) -> (Value, Option<String>),
) -> Vec<tokio::task::JoinHandle<RawResponse>> {
    (0..count)
        .map(|i| {
            let (body, client) = body(i);
            tokio::spawn(async move { post_json(addr, TOKEN, &body, client.as_deref()).await })
        })
        .collect()
}

async fn statuses(handles: Vec<tokio::task::JoinHandle<RawResponse>>) -> Vec<RawResponse> {
    let mut responses = Vec::with_capacity(handles.len());
    for handle in handles {
        responses.push(handle.await.expect("a login task"));
    }
    responses
}

/// Defect 1: a password change that lands between a login's password check and its INSERT
/// left tokens minted from the old password alive.
/// Password checks that wait as long as it takes: these tests count verdicts, and a loaded CI
/// machine must not turn a slow verdict into a `503`.
fn patient() -> Policy {
    Policy::default().password_hashing(2, 1000, Duration::from_secs(120))
}

async fn no_token_minted_from_an_old_password_survives_the_change(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    let store = store.with_policy(patient());
    let alice = store
        .create_user("alice", Some("old password"))
        .await
        .unwrap();
    let server = serve(auth_app(store.clone(), unthrottled())).await;
    // An administrator's own store: its password hashing does not queue behind the logins'.
    let admin = store.clone().with_policy(Policy::default());
    let (mut issued, mut refused, mut survivors) = (0, 0, 0);
    for round in 0..8 {
        admin
            .set_password(alice.id, Some("old password"))
            .await
            .unwrap();
        let body = credentials("alice", "old password");
        let responses = burst_around(server.addr, &body, (round % 4) * 3, async {
            admin
                .set_password(alice.id, Some("new password"))
                .await
                .unwrap();
        })
        .await;
        // The change has returned: no key minted from the old password may work, including
        // those of logins that were still in flight.
        for response in responses {
            match key_of(&response) {
                Some(key) => {
                    issued += 1;
                    if store.authenticate(&key).await.is_ok() {
                        survivors += 1;
                    }
                }
                None => {
                    assert_eq!(response.body_text(), BAD_CREDENTIALS, "{response:?}");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(
        survivors, 0,
        "{survivors} of {issued} old-password tokens survived"
    );
    assert!(
        issued > 0 && refused > 0,
        "the change must land mid-burst: {issued} issued, {refused} refused"
    );
}

/// Sends 24 logins with `body` at once and runs `change` after the first `after` answers
/// (at once for 0), so that it lands among the logins; returns every answer once all are in.
async fn burst_around(
    addr: std::net::SocketAddr,
    body: &Value,
    after: usize,
    change: impl std::future::Future<Output = ()>,
) -> Vec<RawResponse> {
    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..24 {
        let (sender, body) = (sender.clone(), body.clone());
        tokio::spawn(async move {
            let _ = sender.send(post_json(addr, TOKEN, &body, None).await);
        });
    }
    drop(sender);
    let mut responses = Vec::new();
    while responses.len() < after {
        responses.push(answers.recv().await.expect("a login answer"));
    }
    change.await;
    while let Some(response) = answers.recv().await {
        responses.push(response);
    }
    responses
}

/// Defect 1, deactivation: with deactivation deleting tokens, a racing login re-created one
/// after the deletion, alive again once the user was reactivated.
async fn no_token_outlives_a_deleting_deactivation(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    let store = store.with_policy(patient().revoke_on_deactivation(true));
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(auth_app(store.clone(), unthrottled())).await;
    let (mut issued, mut survivors) = (0, 0);
    for round in 0..8 {
        store.set_active(alice.id, true).await.unwrap();
        let body = credentials("alice", "correct horse");
        let responses = burst_around(server.addr, &body, (round % 4) * 3, async {
            store.set_active(alice.id, false).await.unwrap();
        })
        .await;
        let keys: Vec<String> = responses.iter().filter_map(key_of).collect();
        issued += keys.len();
        let left = store.tokens().list(alice.id).await.unwrap();
        assert!(
            left.is_empty(),
            "round {round}: tokens inserted after the deactivation: {left:?}"
        );
        store.set_active(alice.id, true).await.unwrap();
        for key in keys {
            if store.authenticate(&key).await.is_ok() {
                survivors += 1;
            }
        }
    }
    assert_eq!(survivors, 0);
    assert!(issued > 0, "some logins completed before the deactivations");
}

/// Defect 2: the throttle checked, then recorded only after the password check, so 40
/// simultaneous wrong guesses were all verified (limit 5).
async fn concurrent_guesses_for_one_user_verify_at_most_the_limit(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(auth_app(
        trusting_loopback(store.clone()),
        behind_proxy(5, 1000),
    ))
    .await;
    let logins = spawn_logins(server.addr, 40, |i| {
        (
            credentials("alice", &format!("guess {i}")),
            Some("198.51.100.7".to_owned()),
        )
    });
    let responses = statuses(logins).await;
    let verified = responses.iter().filter(|r| r.status == 400).count();
    let throttled = responses.iter().filter(|r| r.status == 429).count();
    assert!(verified <= 5, "{verified} guesses were verified");
    assert_eq!(verified + throttled, 40, "{responses:?}");
    // The right password is refused too while the username is over its limit.
    let response = post_json(
        server.addr,
        TOKEN,
        &credentials("alice", "correct horse"),
        Some("203.0.113.1"),
    )
    .await;
    assert_eq!(response.status, 429, "{response:?}");
}

/// Defect 2, per client: 60 usernames from one client were all tried (limit 20).
async fn concurrent_usernames_from_one_client_verify_at_most_the_limit(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    let server = serve(auth_app(trusting_loopback(store), behind_proxy(5, 20))).await;
    let logins = spawn_logins(server.addr, 60, |i| {
        (
            credentials(&format!("user{i}"), "guess"),
            Some("198.51.100.7".to_owned()),
        )
    });
    let responses = statuses(logins).await;
    let verified = responses.iter().filter(|r| r.status == 400).count();
    assert!(verified <= 20, "{verified} usernames were tried");
    assert_eq!(
        verified + responses.iter().filter(|r| r.status == 429).count(),
        60
    );
}

/// Defect 2, shared state: two instances behind a balancer, one PostgreSQL — an attacker gets
/// the limit once, not once per instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_share_the_throttle() {
    let _heavy = common::heavy().await;
    let (one, two) = common::two_postgres_instances().await;
    let first = serve(auth_app(trusting_loopback(one), behind_proxy(5, 1000))).await;
    let second = serve(auth_app(trusting_loopback(two), behind_proxy(5, 1000))).await;
    let mut logins = spawn_logins(first.addr, 20, |i| {
        (
            credentials("alice", &format!("a{i}")),
            Some("198.51.100.7".to_owned()),
        )
    });
    logins.extend(spawn_logins(second.addr, 20, |i| {
        (
            credentials("alice", &format!("b{i}")),
            Some("198.51.100.8".to_owned()),
        )
    }));
    let responses = statuses(logins).await;
    let verified = responses.iter().filter(|r| r.status == 400).count();
    assert!(
        verified <= 5,
        "{verified} guesses verified across two instances"
    );
    assert_eq!(
        verified + responses.iter().filter(|r| r.status == 429).count(),
        40
    );
}

/// Logs in on a quickstart process — the example as `cargo run --example quickstart` serves
/// it, with the default login limits (5 failures per username, 20 per client, per 15 minutes)
/// and no trusted proxy, so every login from a test is one client, 127.0.0.1.
async fn login(server: &common::Instance, username: &str, password: &str) -> RawResponse {
    post_json(server.addr, TOKEN, &credentials(username, password), None).await
}

/// A migrated database of `backend` (a WAL file for SQLite, kept while the guard lives) with
/// `alice` and `user0`…`user{count - 1}`, all with the password `correct horse`.
async fn database_with_users(
    backend: Backend,
    count: usize,
) -> (String, Option<tempfile::TempDir>) {
    let (url, dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    // One Argon2 hash, copied: the users differ only by name.
    let copy = "INSERT INTO tokenauth_users (username, password_hash, is_active, date_joined) \
                SELECT $1, password_hash, is_active, date_joined FROM tokenauth_users \
                WHERE username = 'alice'";
    for i in 0..count {
        let name = format!("user{i}");
        match (store.sqlite_pool(), store.postgres_pool()) {
            (Some(pool), _) => sqlx::query(copy).bind(name).execute(pool).await.map(drop),
            (_, Some(pool)) => sqlx::query(copy).bind(name).execute(pool).await.map(drop),
            _ => unreachable!("a store has a pool"),
        }
        .unwrap();
    }
    store.close().await;
    (url, dir)
}

/// Issue 17.5: the throttle counted reservations, not failures: of 100 users logging in at
/// once with their right passwords from one address (a NAT, a proxy), 72 got `429` on two
/// PostgreSQL instances (20 of 40 on SQLite), and the address stayed refused for 15 minutes
/// on each instance that had refused it, although no login had failed.
async fn simultaneous_right_logins_from_one_address_are_never_throttled(backend: Backend) {
    const USERS: usize = 100;
    let (url, _dir) = database_with_users(backend, USERS).await;
    // PostgreSQL's throttle is shared by the instances; SQLite's lives in the process.
    let instances = match backend {
        Backend::Postgres => 2,
        Backend::Sqlite => 1,
    };
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(common::Instance::start(&url).await);
    }
    let logins: Vec<_> = (0..USERS)
        .map(|i| {
            let addr = servers[i % instances].addr;
            let body = credentials(&format!("user{i}"), "correct horse");
            tokio::spawn(async move { post_json(addr, TOKEN, &body, None).await })
        })
        .collect();
    let responses = statuses(logins).await;
    let throttled = responses.iter().filter(|r| r.status == 429).count();
    assert_eq!(throttled, 0, "right logins were throttled");
    // With at most 20 logins of the address admitted at once, the password workers' queue
    // (64 per instance) never fills: every login gets its token.
    let refused: Vec<&RawResponse> = responses.iter().filter(|r| r.status != 200).collect();
    assert!(refused.is_empty(), "{} refused: {refused:?}", refused.len());
    // Nothing about the address outlives the burst: every instance lets it in at once.
    for server in &servers {
        let response = login(server, "alice", "correct horse").await;
        assert_eq!(response.status, 200, "after the burst: {response:?}");
    }
}

/// Issue 17.5: a PostgreSQL instance remembered an address it had refused until the refusal's
/// computed end, whatever became of the failures in the shared table. Now a refusal lasts as
/// long as the table holds the failures: once they are gone (here deleted, as the window's
/// passing deletes them), every instance lets the address in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_refusal_lasts_no_longer_than_the_shared_failures() {
    let _heavy = common::heavy().await;
    let (url, _) = database_with_users(Backend::Postgres, 0).await;
    let (a, b) = (
        common::Instance::start(&url).await,
        common::Instance::start(&url).await,
    );
    // The address's 20 failures (unknown usernames: the same Argon2 work), on both instances.
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let addr = if i % 2 == 0 { a.addr } else { b.addr };
            let body = credentials(&format!("nobody{i}"), "guess");
            tokio::spawn(async move { post_json(addr, TOKEN, &body, None).await })
        })
        .collect();
    for response in statuses(guesses).await {
        assert_eq!(response.status, 400, "{response:?}");
    }
    for server in [&a, &b] {
        let response = login(server, "alice", "correct horse").await;
        assert_eq!(response.status, 429, "{response:?}");
        let wait: u64 = response.header("retry-after").unwrap().parse().unwrap();
        assert!((880..=900).contains(&wait), "{wait}");
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM tokenauth_login_attempts")
        .execute(&pool)
        .await
        .unwrap();
    for server in [&a, &b] {
        let response = login(server, "alice", "correct horse").await;
        assert_eq!(response.status, 200, "{response:?}");
    }
}

/// Issue 17.5: attempts are pending until their login's verdict; one left pending by an
/// instance that stopped mid-login must not hold a limit forever. Past its bound (longer than
/// any login takes) it counts as a failure, as the conservative reading of an unknown verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_attempt_left_pending_past_its_bound_is_a_failure() {
    let _heavy = common::heavy().await;
    let (store, _) = common::file_store(Backend::Postgres).await;
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(auth_app(
        trusting_loopback(store.clone()),
        behind_proxy(1, 1000),
    ))
    .await;
    let login = |password: &'static str| {
        let body = credentials("alice", password);
        async move { post_json(server.addr, TOKEN, &body, Some("198.51.100.7")).await }
    };
    assert_eq!(login("wrong").await.status, 400);
    let pool = store.postgres_pool().unwrap();
    // What a stopped instance leaves: alice's attempt undecided, its bound passed.
    let abandon = "UPDATE tokenauth_login_attempts SET pending_until = now() - interval '1 second'";
    sqlx::query(abandon).execute(pool).await.unwrap();
    let response = login("correct horse").await;
    assert_eq!(response.status, 429, "{response:?}");
}

/// libfaketime, which shifts a process's clock: `TOKENAUTH_TEST_FAKETIME` or Debian's
/// `libfaketime` (tests/run installs it).
fn faketime_library() -> String {
    if let Ok(path) = std::env::var("TOKENAUTH_TEST_FAKETIME") {
        return path;
    }
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path().join("faketime/libfaketimeMT.so.1")))
        .find(|path| path.exists())
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| {
            panic!(
                "this test runs a server whose clock is off with libfaketime, which is missing: \
                 run `tests/run` (it installs Debian's libfaketime), or set \
                 TOKENAUTH_TEST_FAKETIME to libfaketimeMT.so.1"
            )
        })
}

/// Issue 17.5: instances timed attempts by their own clocks. One whose clock ran ahead swept
/// every other instance's live attempts and counted none of them; one whose clock ran behind
/// wrote attempts already expired for the others. Three quickstart processes on one
/// database: on time, a day ahead and a day behind (libfaketime). Every time is now the
/// database's: five failures made on the skewed instances block alice on all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_with_skewed_clocks_neither_sweep_nor_miscount() {
    let _heavy = common::heavy().await;
    let (url, _) = database_with_users(Backend::Postgres, 0).await;
    let library = faketime_library();
    let clock = |offset| {
        [
            ("LD_PRELOAD", library.as_str()),
            ("FAKETIME", offset),
            // Timers keep the true monotonic clock; only the wall clock is off.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ]
    };
    let on_time = common::Instance::start(&url).await;
    let ahead = common::Instance::start_with(&url, &clock("+1d")).await;
    let behind = common::Instance::start_with(&url, &clock("-1d")).await;
    // Three failures on the instance behind, then two on the one ahead (whose first login
    // used to sweep, by its clock, every attempt made until tomorrow).
    for (server, guesses) in [(&behind, 3), (&ahead, 2)] {
        for _ in 0..guesses {
            let response = login(server, "alice", "wrong").await;
            assert_eq!(response.status, 400, "{response:?}");
        }
    }
    for (name, server) in [
        ("on time", &on_time),
        ("ahead", &ahead),
        ("behind", &behind),
    ] {
        let response = login(server, "alice", "correct horse").await;
        assert_eq!(response.status, 429, "{name}: {response:?}");
        let wait: u64 = response.header("retry-after").unwrap().parse().unwrap();
        assert!((880..=900).contains(&wait), "{name}: {wait}");
    }
}

/// Defect 10: a NUL byte in the username was a 500 on PostgreSQL (22021), never throttled.
async fn a_nul_byte_in_the_username_is_a_throttled_failed_login(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let server = serve(auth_app(trusting_loopback(store), behind_proxy(3, 1000))).await;
    let body = credentials("alice\u{0}", "correct horse");
    for _ in 0..3 {
        let response = post_json(server.addr, TOKEN, &body, Some("198.51.100.7")).await;
        assert_eq!(
            (response.status, response.body_text()),
            (400, BAD_CREDENTIALS),
            "{response:?}"
        );
    }
    let response = post_json(server.addr, TOKEN, &body, Some("198.51.100.7")).await;
    assert_eq!(response.status, 429, "{response:?}");
}

/// Defect 11: SQLite compared timestamps as text, so an expiry in year 12000 (`+12000-…`)
/// sorted before today and `prune-expired` deleted a live token.
async fn far_future_expiries_are_kept_by_pruning(backend: Backend) {
    use chrono::{TimeZone as _, Utc};
    let (store, _dir) = common::file_store(backend).await;
    let alice = store.create_user("alice", None).await.unwrap();
    let far = Utc.with_ymd_and_hms(12_000, 1, 1, 0, 0, 0).unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default().expires_at(far))
        .await
        .unwrap();
    let past = Utc::now() - chrono::Duration::days(1);
    store
        .tokens()
        .create(alice.id, NewToken::default().expires_at(past))
        .await
        .unwrap();
    // Written by other tools in another of SQLite's time formats (`T`, `Z`): an hour ago is
    // before now, although as text `…T05…` sorts after `… 06…`.
    let (other_format, _) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let hour_ago = (Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let set = match backend {
        Backend::Sqlite => "expires_at = $1",
        Backend::Postgres => "expires_at = CAST($1 AS timestamptz)",
    };
    update_token(&store, set, hour_ago.to_string(), other_format.id).await;
    assert_eq!(store.tokens().prune_expired(Utc::now()).await.unwrap(), 2);
    let (_, token) = store.authenticate(key.expose_secret()).await.unwrap();
    assert!(token.expires_at.unwrap() > Utc::now() + chrono::Duration::days(365 * 99));
    // A cutoff past year 9999 is compared as a time too: what expires before it goes.
    let (_, expired) = store
        .tokens()
        .create(alice.id, NewToken::default().expires_at(past))
        .await
        .unwrap();
    assert_eq!(store.tokens().prune_expired(far).await.unwrap(), 2);
    assert!(store.authenticate(expired.expose_secret()).await.is_err());
}

/// Sets a column of a token with plain SQL (`set` is `column = $1`), as a tool other than
/// tokenauth would, then tells the store, as its docs ask of SQL run in the same process
/// (`Store::forget_cached`): else an authentication cached before the change may be served
/// until the change feed reports it, within the revocation bound, and an assertion made at
/// once depends on whether the feed had proven its lease yet.
async fn update_token<T>(store: &Store, set: &str, value: T, id: i64)
where
    T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'q> sqlx::Encode<'q, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + Send
        + 'static,
{
    let sql = sqlx::AssertSqlSafe(format!("UPDATE tokenauth_tokens SET {set} WHERE id = $2"));
    match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(pool), _) => sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        (_, Some(pool)) => sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        (None, None) => unreachable!("a store has a pool"),
    }
    .unwrap();
    store.forget_cached();
}

/// Defect 7: `Policy::max_ttl` holds at authentication too, for tokens created without it
/// (e.g. by a CLI run without `--max-ttl`, or before the policy was set).
async fn the_maximum_lifetime_holds_for_older_tokens(backend: Backend) {
    let (store, _dir) = common::file_store(backend).await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (token, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert_eq!(token.expires_at, None, "created without a maximum");
    let capped = store
        .clone()
        .with_policy(Policy::default().max_ttl(chrono::Duration::hours(1)));
    let (_, seen) = capped.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(
        seen.expires_at,
        Some(token.created + chrono::Duration::hours(1))
    );
    let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    update_token(&store, "created = $1", two_hours_ago, token.id).await;
    assert!(matches!(
        capped.authenticate(key.expose_secret()).await,
        Err(tokenauth::store::AuthenticateError::Denied(
            tokenauth::rejection::Reason::InvalidToken
        ))
    ));
    assert!(
        store.authenticate(key.expose_secret()).await.is_ok(),
        "without the policy"
    );
}

/// Every body the OpenAPI document allows fits the default limit, however it is escaped: its
/// fields at their longest, in characters outside the BMP that JSON writes as two `\uXXXX`.
#[tokio::test]
async fn the_largest_valid_body_fits_the_default_limit() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let server = serve(auth_app(store, AuthApi::new())).await;
    let astral = |n: usize| "\u{1F600}".repeat(n);
    let scopes: Vec<String> = (0..tokenauth::rules::MAX_SCOPES)
        .map(|i| format!("{}{:03}", astral(tokenauth::rules::MAX_SCOPE_LEN - 3), i))
        .collect();
    let body = json!({
        "username": astral(tokenauth::rules::MAX_USERNAME_LEN),
        "password": astral(4096),
        "name": astral(tokenauth::rules::MAX_TOKEN_NAME_LEN),
        "expires_in": 3155760000_i64,
        "scopes": scopes,
    });
    // serde_json writes non-ASCII as is; escape it as a client may.
    let escaped: String = body
        .to_string()
        .encode_utf16()
        .map(|unit| match unit {
            0x20..=0x7e => char::from(unit as u8).to_string(),
            _ => format!("\\u{unit:04x}"),
        })
        .collect();
    assert!(escaped.len() > 128 * 1024, "{}", escaped.len());
    let response = request(
        server.addr,
        "POST",
        TOKEN,
        None,
        Some(("application/json", escaped.as_bytes())),
    )
    .await;
    // Refused for its credentials, not for its size.
    assert_eq!(
        (response.status, response.body_text()),
        (
            400,
            r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
        )
    );
}

/// Defect 4: the whole body was read and copied before validation (8 × 100 MB took 1 GB).
#[tokio::test]
async fn oversized_bodies_are_refused_while_read() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let server = serve(auth_app(store, AuthApi::new())).await;
    let too_large = r#"{"detail":"Request body too large: at most 196608 bytes."}"#;

    let big = json!({"username": "alice", "password": "x".repeat(200_000)}).to_string();
    let response = request(
        server.addr,
        "POST",
        TOKEN,
        None,
        Some(("application/json", big.as_bytes())),
    )
    .await;
    assert_eq!((response.status, response.body_text()), (413, too_large));

    // A body that claims 100 MB is refused without waiting for it.
    let raw = "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
               Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{";
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        common::raw_exchange(server.addr, raw.as_bytes()),
    )
    .await
    .expect("answered before the body arrives");
    assert_eq!(response.status, 413);

    // A chunked body is cut off at the limit.
    let mut raw = b"POST /api/auth/token HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                    Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..256 {
        raw.extend_from_slice(format!("{:x}\r\n{}\r\n", 1024, "a".repeat(1024)).as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let response = common::raw_exchange(server.addr, &raw).await;
    assert_eq!((response.status, response.body_text()), (413, too_large));

    // Django's lengths: a 151-character username, a 4097-character password.
    let response = post_json(
        server.addr,
        TOKEN,
        &credentials(&"u".repeat(151), &"p".repeat(4097)),
        None,
    )
    .await;
    assert_eq!(
        (response.status, response.body_text()),
        (
            400,
            r#"{"username":["Ensure this field has no more than 150 characters."],"password":["Ensure this field has no more than 4096 characters."]}"#
        )
    );
}

/// Defect 6: 20k scopes in one login took seconds of quadratic work on an async worker.
#[tokio::test]
async fn scope_lists_are_capped() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let auth = AuthApi::new()
        .max_body_size(1 << 20)
        .grantable_scopes(["read"]);
    let server = serve(auth_app(store, auth)).await;
    let scopes: Vec<String> = (0..20_000).map(|i| format!("s{i}")).collect();
    let body = json!({"username": "alice", "password": "correct horse", "scopes": scopes});
    let response = post_json(server.addr, TOKEN, &body, None).await;
    assert_eq!(
        (response.status, response.body_text()),
        (
            400,
            r#"{"scopes":["Ensure this field has no more than 64 elements."]}"#
        )
    );
    let long = "s".repeat(129);
    let body = json!({"username": "alice", "password": "correct horse", "scopes": [long]});
    let response = post_json(server.addr, TOKEN, &body, None).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.body_text().starts_with(r#"{"scopes":["#));
}

/// Defect 7: a client could ask for any scope, `*` included, and any lifetime.
#[tokio::test]
async fn clients_get_only_grantable_scopes_and_the_policy_lifetime() {
    let store = common::store_with_login_users(Backend::Sqlite)
        .await
        .with_policy(Policy::default().max_ttl(chrono::Duration::hours(1)));
    let default = serve(auth_app(store.clone(), AuthApi::new())).await;
    for scope in ["*", "orders:read"] {
        let body = json!({"username": "alice", "password": "correct horse", "scopes": [scope]});
        let response = post_json(default.addr, TOKEN, &body, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (
                400,
                format!(r#"{{"scopes":["\"{scope}\" is not a valid choice."]}}"#).as_str()
            ),
            "nothing is grantable by default"
        );
    }
    // Only the right password learns that a scope is not grantable: with a wrong one (or an
    // unknown user), the refusal is the credentials', and counts as a failed login.
    let limited = serve(auth_app(
        store.clone(),
        AuthApi::new().login_limits(
            Limit::new(2, Duration::from_secs(60)),
            Limit::new(100, Duration::from_secs(60)),
        ),
    ))
    .await;
    let bad_credentials = r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;
    for _ in 0..2 {
        let body = json!({"username": "alice", "password": "wrong", "scopes": ["admin"]});
        let response = post_json(limited.addr, TOKEN, &body, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (400, bad_credentials)
        );
    }
    let body = json!({"username": "alice", "password": "correct horse", "scopes": ["admin"]});
    let response = post_json(limited.addr, TOKEN, &body, None).await;
    assert_eq!(response.status, 429, "the refusals were counted");
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let tokens = store.tokens().list(alice.id).await.unwrap();
    assert!(tokens.iter().all(|t| t.scopes.is_empty()), "{tokens:?}");

    let server = serve(auth_app(
        store.clone(),
        AuthApi::new().grantable_scopes(["orders:read"]),
    ))
    .await;
    let body = json!({
        "username": "alice", "password": "correct horse",
        "scopes": ["orders:read"], "expires_in": 10 * 365 * 24 * 3600,
    });
    let response = post_json(server.addr, TOKEN, &body, None).await;
    let key = key_of(&response).unwrap_or_else(|| panic!("{response:?}"));
    let (_, token) = store.authenticate(&key).await.unwrap();
    assert_eq!(token.scopes, ["orders:read"]);
    let lifetime = token.expires_at.unwrap() - token.created;
    assert!(lifetime <= chrono::Duration::hours(1), "{lifetime}");
    let body = json!({"username": "alice", "password": "correct horse", "scopes": ["*"]});
    let response = post_json(server.addr, TOKEN, &body, None).await;
    assert_eq!(response.status, 400, "`*` only when listed");

    // Without an asked-for expiry, the maximum applies.
    let response = post_json(
        server.addr,
        TOKEN,
        &credentials("alice", "correct horse"),
        None,
    )
    .await;
    let (_, token) = store
        .authenticate(&key_of(&response).unwrap())
        .await
        .unwrap();
    assert!(token.expires_at.is_some());
}

/// Defect 8: `expires_in` above ~8e12 seconds panicked the request (connection dropped).
#[tokio::test]
async fn huge_lifetimes_are_field_errors() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let server = serve(auth_app(store, AuthApi::new())).await;
    for expires_in in [
        json!(9_000_000_000_000_i64),
        json!(i64::MAX),
        json!("9223372036854775807"),
    ] {
        let body =
            json!({"username": "alice", "password": "correct horse", "expires_in": expires_in});
        let response = post_json(server.addr, TOKEN, &body, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (
                400,
                r#"{"expires_in":["Ensure this value is less than or equal to 3155760000."]}"#
            ),
            "{expires_in}"
        );
    }
}

/// Defect 9: control characters in `name` and `scopes` reached the CLI's output raw.
#[tokio::test]
async fn control_characters_are_refused_at_input() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let server = serve(auth_app(store, AuthApi::new().grantable_scopes(["read"]))).await;
    for name in ["evil\u{1b}[2J", "two\nlines", "nul\u{0}"] {
        let body = json!({"username": "alice", "password": "correct horse", "name": name});
        let response = post_json(server.addr, TOKEN, &body, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (
                400,
                r#"{"name":["This field may not contain control characters."]}"#
            ),
            "{name:?}"
        );
    }
    let body = json!({"username": "alice", "password": "correct horse", "scopes": ["re\u{7}ad"]});
    let response = post_json(server.addr, TOKEN, &body, None).await;
    assert_eq!(response.status, 400, "{response:?}");
}

/// Defect 13: the per-client throttle keyed IPv6 clients by their full address, so one /64
/// gave an attacker 2^64 clients.
#[tokio::test]
async fn ipv6_clients_share_their_64() {
    let store = common::store_with_login_users(Backend::Sqlite).await;
    let server = serve(auth_app(trusting_loopback(store), behind_proxy(1000, 3))).await;
    for i in 1..=3 {
        let client = format!("2001:db8:1:2::{i:x}");
        let body = credentials(&format!("user{i}"), "guess");
        let response = post_json(server.addr, TOKEN, &body, Some(&client)).await;
        assert_eq!(response.status, 400, "{response:?}");
    }
    let body = credentials("user9", "guess");
    let same_64 = post_json(server.addr, TOKEN, &body, Some("2001:db8:1:2:ffff::9")).await;
    assert_eq!(same_64.status, 429, "{same_64:?}");
    let next_64 = post_json(server.addr, TOKEN, &body, Some("2001:db8:1:3::9")).await;
    assert_eq!(next_64.status, 400, "{next_64:?}");
}
