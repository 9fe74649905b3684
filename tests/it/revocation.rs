//! Revocations reach every instance. With the authentication cache on (the default), a change
//! made anywhere — through another store, the `tokenauth` CLI in another process, plain SQL —
//! is refused by every store within the change feed's bound, while clients keep that store
//! busy with the revoked key: 0 requests that start after the bound are accepted. Both
//! backends, two stores on one database; on PostgreSQL also two quickstart server processes.
//! Each case prints how long the other instance took to refuse (the closing notes quote it).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Backend;
use tokenauth::rejection::Reason;
use tokenauth::store::AuthenticateError;
use tokenauth::{NewToken, Store};

common::on_both_backends!(
    every_revocation_path_reaches_the_other_instance,
    unknown_keys_cost_no_query_and_new_keys_are_seen_everywhere,
);

/// The longest a change made elsewhere may take to be refused here, in these tests, with the
/// feed up: a change through tokenauth is hinted at once on PostgreSQL; others are read
/// within 100 ms (PostgreSQL's poll, SQLite's longest wait between two looks). The margin is
/// for debug builds on a loaded 2-core machine. (Under faults the bound is 2 s: see
/// tests/instances.rs.)
const BOUND: Duration = Duration::from_millis(300);

/// Concurrent clients authenticating the key under test.
const CLIENTS: usize = 8;

/// Two stores on one database (a WAL file for SQLite), as two application instances, with
/// the database URL (and the directory of the SQLite file, kept while it lives).
async fn two_instances(backend: Backend) -> (Store, Store, String, Option<tempfile::TempDir>) {
    let (url, dir) = common::database_url(backend).await;
    let a = Store::connect(&url).await.unwrap();
    a.migrate().await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    (a, b, url, dir)
}

/// Clients authenticating `key` on `store` as fast as they can until stopped; each returns
/// the start times of its accepted requests.
fn load(
    store: &Store,
    key: &str,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Instant>>> {
    (0..CLIENTS)
        .map(|_| {
            let (store, key, stop) = (store.clone(), key.to_owned(), Arc::clone(stop));
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    match store.authenticate(&key).await {
                        Ok(_) => accepted.push(started),
                        Err(AuthenticateError::Denied(_)) => {}
                        Err(other) => panic!("the store failed: {other}"),
                    }
                    // A cache hit never waits: let the feed and the revoking task run.
                    tokio::task::yield_now().await;
                }
                accepted
            })
        })
        .collect()
}

/// Runs one SQL statement with `binds` on the store's database.
macro_rules! run_sql {
    ($store:expr, $sql:expr $(, $bind:expr)*) => {
        match $store.sqlite_pool() {
            Some(pool) => {
                sqlx::query(sqlx::AssertSqlSafe($sql))$(.bind($bind))*.execute(pool).await.unwrap();
            }
            None => {
                let pool = $store.postgres_pool().unwrap();
                sqlx::query(sqlx::AssertSqlSafe($sql))$(.bind($bind))*.execute(pool).await.unwrap();
            }
        }
    };
}

/// Lets the clients run past the bound, stops them, and counts the requests they started
/// after `done` + [`BOUND`] that were accepted.
async fn accepted_after_the_bound(
    stop: &AtomicBool,
    clients: Vec<tokio::task::JoinHandle<Vec<Instant>>>,
    done: Instant,
) -> usize {
    tokio::time::sleep(BOUND * 2).await;
    stop.store(true, Ordering::SeqCst);
    let mut late = 0;
    for client in clients {
        let accepted = client.await.unwrap();
        late += accepted
            .iter()
            .filter(|started| **started > done + BOUND)
            .count();
    }
    late
}

/// How a key is revoked (or narrowed to nothing) by instance A, the CLI or SQL.
#[derive(Debug, Clone, Copy)]
enum Path {
    Logout,
    LogoutAll,
    PasswordChange,
    Deactivation,
    DeleteUser,
    CliRevoke,
    CliDeactivate,
    SqlDeleteToken,
    SqlExpireToken,
    SqlDeactivateUser,
    /// SQLite's `INSERT OR REPLACE` (which fires no DELETE trigger) and PostgreSQL's
    /// `INSERT … ON CONFLICT DO UPDATE`, giving the token's id a new key.
    SqlReplaceToken,
}

async fn revoke(path: Path, a: &Store, url: &str, user: &tokenauth::User, token_id: i64) {
    let user_id = user.id;
    let cli = |args: Vec<String>| {
        let url = url.to_owned();
        async move {
            let out = tokio::process::Command::new(common::built_binary("tokenauth"))
                .arg("--database-url")
                .arg(&url)
                .args(&args)
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "tokenauth {args:?}: {out:?}");
        }
    };
    let expired_sql = match a.backend() {
        "sqlite" => {
            "UPDATE tokenauth_tokens SET expires_at = datetime('now', '-1 second') WHERE id = $1"
        }
        _ => "UPDATE tokenauth_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
    };
    match path {
        Path::Logout => assert!(a.tokens().revoke(token_id).await.unwrap()),
        Path::LogoutAll => assert_eq!(a.tokens().revoke_all(user_id).await.unwrap(), 1),
        Path::PasswordChange => {
            a.set_password(user_id, Some("a new password"))
                .await
                .unwrap();
        }
        Path::Deactivation => {
            a.set_active(user_id, false).await.unwrap();
        }
        Path::DeleteUser => assert!(a.delete_user(user_id).await.unwrap()),
        Path::CliRevoke => cli(vec!["revoke".into(), token_id.to_string()]).await,
        Path::CliDeactivate => cli(vec!["deactivate".into(), user.username.clone()]).await,
        Path::SqlDeleteToken => {
            run_sql!(a, "DELETE FROM tokenauth_tokens WHERE id = $1", token_id);
        }
        Path::SqlExpireToken => run_sql!(a, expired_sql, token_id),
        Path::SqlDeactivateUser => {
            run_sql!(
                a,
                "UPDATE tokenauth_users SET is_active = FALSE WHERE id = $1",
                user_id
            );
        }
        Path::SqlReplaceToken => {
            let replace = match a.backend() {
                "sqlite" => {
                    "INSERT OR REPLACE INTO tokenauth_tokens (id, user_id, key_digest, name, created) \
                     SELECT id, user_id, lower(hex(randomblob(32))), name, created \
                     FROM tokenauth_tokens WHERE id = $1"
                }
                _ => {
                    "INSERT INTO tokenauth_tokens (id, user_id, key_digest, name, created) \
                     SELECT id, user_id, md5(random()::text) || md5(random()::text), name, created \
                     FROM tokenauth_tokens WHERE id = $1 \
                     ON CONFLICT (id) DO UPDATE SET key_digest = EXCLUDED.key_digest"
                }
            };
            run_sql!(a, replace, token_id);
        }
    }
}

/// Every path, on instance B under load while the change is made through A, the CLI or SQL:
/// no request that B starts once the bound has passed is accepted. Also B itself revoking
/// (immediately, before the call returns) through the same paths as A.
async fn every_revocation_path_reaches_the_other_instance(backend: Backend) {
    let (a, b, url, _dir) = two_instances(backend).await;
    let paths = [
        Path::Logout,
        Path::LogoutAll,
        Path::PasswordChange,
        Path::Deactivation,
        Path::DeleteUser,
        Path::CliRevoke,
        Path::CliDeactivate,
        Path::SqlDeleteToken,
        Path::SqlExpireToken,
        Path::SqlDeactivateUser,
        Path::SqlReplaceToken,
    ];
    let mut report = Vec::new();
    for (round, path) in paths.iter().cycle().take(paths.len() * 2).enumerate() {
        let user = a
            .create_user(&format!("user{round}"), Some("a password"))
            .await
            .unwrap();
        let (token, key) = a
            .tokens()
            .create(user.id, NewToken::default())
            .await
            .unwrap();
        // B accepts it at its first use (though its feed may not have delivered it yet),
        // and caches it.
        b.authenticate(key.expose_secret())
            .await
            .expect("a new key, at its first use on B");
        common::cache_serving(&b).await;
        b.authenticate(key.expose_secret()).await.unwrap();
        let before = tokenauth::store::testing::authentication_queries(&b);
        b.authenticate(key.expose_secret()).await.unwrap();
        assert_eq!(
            tokenauth::store::testing::authentication_queries(&b),
            before,
            "{path:?}: cached on B"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let clients = load(&b, key.expose_secret(), &stop);
        tokio::time::sleep(Duration::from_millis(20)).await;
        revoke(*path, &a, &url, &user, token.id).await;
        let done = Instant::now();
        // The first refusal on B, seen by a fresh request.
        let refused_after = loop {
            match b.authenticate(key.expose_secret()).await {
                Err(AuthenticateError::Denied(Reason::InvalidToken | Reason::UserInactive)) => {
                    break done.elapsed();
                }
                Err(other) => panic!("{path:?}: {other}"),
                Ok(_) => {
                    assert!(
                        done.elapsed() < Duration::from_secs(5),
                        "{path:?}: never refused on B"
                    );
                    tokio::task::yield_now().await;
                }
            }
        };
        let late = accepted_after_the_bound(&stop, clients, done).await;
        assert_eq!(late, 0, "{path:?}: requests accepted on B after the bound");
        report.push(format!(
            "{path:?} {:.1} ms",
            refused_after.as_secs_f64() * 1000.0
        ));
    }
    eprintln!(
        "{backend:?}: first refusal on the other instance after: {}",
        report.join(", ")
    );
}

/// A key made elsewhere — on A, by the CLI, with SQL — is accepted by B at its first use,
/// though B's filter has not heard of it yet. With the filter built, made-up keys cost at most
/// the budget of refusal checks, and a made-up key repeated costs one query.
async fn unknown_keys_cost_no_query_and_new_keys_are_seen_everywhere(backend: Backend) {
    let (a, b, url, _dir) = two_instances(backend).await;
    let checks = 50;
    let b = b.with_policy(tokenauth::Policy::default().refusal_checks(checks));
    let alice = a.create_user("alice", None).await.unwrap();
    let (_, key) = a
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    b.authenticate(key.expose_secret()).await.unwrap();
    common::cache_serving(&b).await;
    // The filter is built in the background after the first lookup that needed it.
    for _ in 0..10_000 {
        let _ = b
            .authenticate("0000000000000000000000000000000000000000")
            .await;
        if tokenauth::store::testing::live_key_filter_ready(&b, "tokenauth_tokens") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(tokenauth::store::testing::live_key_filter_ready(
        &b,
        "tokenauth_tokens"
    ));

    // New keys, made elsewhere, are accepted by B at once: a refusal is checked first.
    let accepted_at_once = |key: String, how: &'static str| {
        let b = b.clone();
        async move {
            match b.authenticate(&key).await {
                Ok(_) => {}
                other => panic!("{how}: refused at its first use on B: {other:?}"),
            }
        }
    };
    let (_, on_a) = a
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    accepted_at_once(on_a.expose_secret().to_owned(), "made on A").await;
    let out = tokio::process::Command::new(common::built_binary("tokenauth"))
        .args(["--database-url", &url, "create-token", "alice"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let cli_key = printed.split_whitespace().nth(2).unwrap().to_owned();
    accepted_at_once(cli_key, "made by the CLI").await;
    let sql_key = "f".repeat(40);
    let digest = tokenauth::key::KeyDigest::of(&sql_key);
    let insert = "INSERT INTO tokenauth_tokens (user_id, key_digest, name, created) VALUES ($1, $2, 'sql', CURRENT_TIMESTAMP)";
    run_sql!(a, insert, alice.id, digest.as_str());
    accepted_at_once(sql_key, "inserted with SQL").await;

    // A made-up key repeated: one query, then the database's answer is remembered.
    let queries = || tokenauth::store::testing::authentication_queries(&b);
    tokio::time::sleep(Duration::from_secs(1)).await; // the budget refills
    let before = queries();
    for _ in 0..1000 {
        assert!(matches!(
            b.authenticate("1234567890123456789012345678901234567890")
                .await,
            Err(AuthenticateError::Denied(Reason::InvalidToken))
        ));
    }
    assert_eq!(queries() - before, 1, "a repeated made-up key");

    // A flood of made-up keys: at most the budget is queried.
    let before = queries();
    let started = Instant::now();
    for i in 0..1000 {
        let made_up = format!("{:040x}", 0xdead_beef_u64 + i);
        assert!(matches!(
            b.authenticate(&made_up).await,
            Err(AuthenticateError::Denied(Reason::InvalidToken))
        ));
    }
    let queried = queries() - before;
    let refilled = started.elapsed().as_secs_f64() * f64::from(checks);
    assert!(
        queried as f64 <= f64::from(checks) + refilled + 1.0,
        "{queried} of 1,000 made-up keys were queried with a budget of {checks} a second"
    );
    let stats = b.cache_stats().unwrap();
    assert!(
        stats.unconfirmed_refusals >= 1000 - queried,
        "refusals past the budget are counted: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_down_bypasses_the_cache_until_it_is_back() {
    let (a, b, _url, _dir) = two_instances(Backend::Postgres).await;
    let alice = a.create_user("alice", None).await.unwrap();
    let (token, key) = a
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    b.authenticate(key.expose_secret()).await.unwrap();
    common::cache_serving(&b).await;
    b.authenticate(key.expose_secret()).await.unwrap();
    let queries = || tokenauth::store::testing::authentication_queries(&b);

    // Cut B's listening connection, as a network failure or a server restart would.
    run_sql!(
        a,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'tokenauth change feed' AND datname = current_database()"
    );
    let cut = Instant::now();
    while tokenauth::store::testing::cache_is_serving(&b) {
        assert!(
            cut.elapsed() < Duration::from_secs(2),
            "the feed's loss went unnoticed"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // Down: every authentication reads the database, so a revocation made now is seen.
    let before = queries();
    b.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(queries(), before + 1, "bypassed while the feed is down");
    run_sql!(a, "DELETE FROM tokenauth_tokens WHERE id = $1", token.id);
    assert!(matches!(
        b.authenticate(key.expose_secret()).await,
        Err(AuthenticateError::Denied(Reason::InvalidToken))
    ));
    // Back up by itself, and caching again.
    common::cache_serving(&b).await;
    let (_, key) = a
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    b.authenticate(key.expose_secret()).await.unwrap();
    b.authenticate(key.expose_secret()).await.unwrap();
    let before = queries();
    b.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(queries(), before, "cached again once the feed is back");
}

/// A database whose triggers are gone (or not yet migrated) is not cached: the feed reads
/// which triggers exist at every heartbeat. And the listener has a connection of its own: a
/// store whose pool has a single connection still works, and caches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_watched_tables_are_cached_and_the_feed_takes_no_pooled_connection() {
    let url = common::fresh_postgres_database().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&url)
        .await
        .unwrap();
    let store = Store::from(pool);
    store.migrate().await.unwrap();
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    common::cache_serving(&store).await;
    let queries = || tokenauth::store::testing::authentication_queries(&store);
    let cached = || async {
        store.authenticate(key.expose_secret()).await.unwrap();
        let before = queries();
        store.authenticate(key.expose_secret()).await.unwrap();
        queries() == before
    };
    let started = Instant::now();
    while !cached().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never cached with one pooled connection"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    run_sql!(
        store,
        "DROP TRIGGER tokenauth_tokens_log_delete ON tokenauth_tokens"
    );
    let dropped = Instant::now();
    while cached().await {
        assert!(
            dropped.elapsed() < Duration::from_secs(5),
            "still cached without its trigger"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "caching stopped {:?} after the trigger was dropped",
        dropped.elapsed()
    );
}

/// Two quickstart server processes on one PostgreSQL database: a logout through A's HTTP API
/// and a deactivation with SQL, while clients keep B busy with the key over HTTP. No request
/// B starts once the bound has passed is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_server_processes() {
    let url = common::fresh_postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let (a, b) = (
        common::Instance::start(&url).await,
        common::Instance::start(&url).await,
    );
    let mut report = Vec::new();
    for round in 0..6 {
        let user = store
            .create_user(&format!("user{round}"), None)
            .await
            .unwrap();
        let (_, key) = store
            .tokens()
            .create(user.id, NewToken::default())
            .await
            .unwrap();
        let header = format!("Token {}", key.expose_secret());
        let first = common::get(b.addr, "/api/me", Some(header.as_bytes())).await;
        assert_eq!(first.status, 200, "a new key at its first use on B");
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (header, stop, addr) = (header.clone(), Arc::clone(&stop), b.addr);
                tokio::spawn(async move {
                    let mut accepted = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let started = Instant::now();
                        let response = common::get(addr, "/api/me", Some(header.as_bytes())).await;
                        match response.status {
                            200 => accepted.push(started),
                            401 => {}
                            other => panic!("B answered {other}: {}", response.body_text()),
                        }
                    }
                    accepted
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let how = if round % 2 == 0 {
            let response = common::request(
                a.addr,
                "POST",
                "/api/auth/logout",
                Some(header.as_bytes()),
                None,
            )
            .await;
            assert_eq!(
                response.status,
                204,
                "logout on A: {}",
                response.body_text()
            );
            "logout on A"
        } else {
            run_sql!(
                store,
                "UPDATE tokenauth_users SET is_active = FALSE WHERE id = $1",
                user.id
            );
            "deactivated with SQL"
        };
        let done = Instant::now();
        let refused_after = loop {
            let response = common::get(b.addr, "/api/me", Some(header.as_bytes())).await;
            if response.status == 401 {
                break done.elapsed();
            }
            assert!(
                done.elapsed() < Duration::from_secs(5),
                "{how}: never refused on B"
            );
        };
        let late = accepted_after_the_bound(&stop, clients, done).await;
        assert_eq!(late, 0, "{how}: requests accepted by B after the bound");
        report.push(format!(
            "{how} {:.1} ms",
            refused_after.as_secs_f64() * 1000.0
        ));
    }
    drop((a, b));
    eprintln!(
        "two server processes: first refusal on B after: {}",
        report.join(", ")
    );
}
