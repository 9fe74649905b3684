//! `tokenauth check`, run as an operator runs it (the built binary, in a process of its own)
//! on both backends: a clean, freshly migrated database exits 0 with one line; a database
//! seeded (with SQL) with each problem prints that problem's line and exits 1, and no key,
//! digest or password hash ever reaches the output.

use crate::common;

use std::process::Output;

use common::{Backend, execute};
use tokenauth::{NewToken, Store};

common::on_both_backends!(
    a_clean_database_has_no_problems,
    a_missing_migration_is_reported,
    expired_tokens_never_pruned_are_reported,
    tokens_without_expiry_are_reported_under_max_ttl,
    django_hashes_waiting_for_an_upgrade_are_counted,
    weak_argon2_parameters_are_reported,
);

/// A weak Argon2id hash (m=4096 KiB), with a recognisable salt and hash.
const WEAK_ARGON2: &str = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/// A fresh, migrated database (on SQLite a WAL file) with `alice` (with a password) and
/// `bob` (without): its URL, a store on it without a cache, and the SQLite file's directory.
async fn database(backend: Backend) -> (String, Store, Option<tempfile::TempDir>) {
    let (url, store, dir) = common::uncached_database(backend).await;
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    store.create_user("bob", None).await.unwrap();
    (url, store, dir)
}

/// Runs `tokenauth check` on `url` with `args`.
async fn check(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(common::built_binary("tokenauth"))
        .env_remove("DATABASE_URL")
        .env_remove("TOKENAUTH_MAX_TTL")
        .arg("--database-url")
        .arg(url)
        .arg("check")
        .args(args)
        .output()
        .await
        .unwrap()
}

/// Checks that `check` found exactly the problems whose lines start with `starts`, in order,
/// exited 1 and said how many on standard error; returns the lines.
fn found(output: &Output, starts: &[&str]) -> Vec<String> {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), starts.len(), "{stdout}");
    for (line, start) in lines.iter().zip(starts) {
        assert!(line.starts_with(start), "{start:?} does not start {line:?}");
    }
    let plural = if starts.len() == 1 {
        "1 problem found".to_owned()
    } else {
        format!("{} problems found", starts.len())
    };
    assert_eq!(stderr, format!("tokenauth check: {plural}\n"));
    for secret in ["c2FsdHNhbHQ", "aGFzaGhhc2hoYXNo", "pbkdf2_sha256$"] {
        assert!(!stdout.contains(secret), "{stdout}");
    }
    lines
}

/// Checks that `check` found nothing.
fn clean(output: &Output) {
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "No problems found\n"
    );
    assert!(output.stderr.is_empty(), "{output:?}");
}

async fn a_clean_database_has_no_problems(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let in_a_month = NewToken::default().expires_in(chrono::Duration::days(30));
    store.tokens().create(alice.id, in_a_month).await.unwrap();
    store.close().await;
    clean(&check(&url, &[]).await);
    clean(&check(&url, &["--max-ttl", "90d"]).await);
}

async fn a_missing_migration_is_reported(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    execute(
        &store,
        "DELETE FROM _tokenauth_migrations WHERE version = 20261207000001",
    )
    .await;
    store.close().await;
    let lines = found(
        &check(&url, &[]).await,
        &["migrations not applied: 20261207000001 token limits"],
    );
    assert!(lines[0].ends_with("(run `Store::migrate`, or `tokenauth migrate`)"));
}

async fn expired_tokens_never_pruned_are_reported(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    for _ in 0..3 {
        store
            .tokens()
            .create(alice.id, NewToken::default())
            .await
            .unwrap();
    }
    let (oldest, later) = match backend {
        Backend::Sqlite => ("'2020-01-02 03:04:05+00:00'", "'2021-06-07 08:09:10+00:00'"),
        Backend::Postgres => ("'2020-01-02 03:04:05+00'", "'2021-06-07 08:09:10+00'"),
    };
    execute(
        &store,
        &format!(
            "UPDATE tokenauth_tokens SET expires_at = {later} WHERE id = (SELECT min(id) FROM tokenauth_tokens);
             UPDATE tokenauth_tokens SET expires_at = {oldest} WHERE id = (SELECT max(id) FROM tokenauth_tokens);"
        ),
    )
    .await;
    store.close().await;
    let lines = found(
        &check(&url, &[]).await,
        &["2 tokens expired more than a day ago and are still stored \
           (the oldest expired at 2020-01-02 03:04:05Z): run `tokenauth prune-expired`"],
    );
    assert!(lines[0].ends_with("on a schedule"));
}

async fn tokens_without_expiry_are_reported_under_max_ttl(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    store.close().await;
    // Without a maximum lifetime, a token that never expires is no problem.
    clean(&check(&url, &[]).await);
    found(
        &check(&url, &["--max-ttl", "90d"]).await,
        &["1 token never expires although --max-ttl is 90d: revoke it"],
    );
}

async fn django_hashes_waiting_for_an_upgrade_are_counted(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    for name in ["carol", "dave", "erin"] {
        store.create_user(name, None).await.unwrap();
    }
    execute(
        &store,
        "UPDATE tokenauth_users SET password_hash = 'pbkdf2_sha256$1000000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo' WHERE username = 'bob';
         UPDATE tokenauth_users SET password_hash = 'bcrypt_sha256$$2b$12$c2FsdHNhbHQ' WHERE username = 'carol';
         UPDATE tokenauth_users SET password_hash = 'argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo' WHERE username = 'dave';
         UPDATE tokenauth_users SET password_hash = '!unusable' WHERE username = 'erin';",
    )
    .await;
    store.close().await;
    found(
        &check(&url, &[]).await,
        &[
            "3 users still have a Django password hash waiting for an upgrade: each is rehashed \
           with Argon2id at the user's next login",
        ],
    );
}

/// Weak parameters are counted per set; a malformed Argon2 string (nothing after its
/// parameters: PostgreSQL's `substr` refused the negative length and the whole check failed)
/// is left out.
async fn weak_argon2_parameters_are_reported(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    store.create_user("carol", None).await.unwrap();
    store.create_user("mallory", None).await.unwrap();
    execute(
        &store,
        &format!(
            "UPDATE tokenauth_users SET password_hash = '{WEAK_ARGON2}' WHERE username IN ('bob', 'carol');
             UPDATE tokenauth_users SET password_hash = '$argon2id$v=19$m=4096' WHERE username = 'mallory'"
        ),
    )
    .await;
    store.close().await;
    found(
        &check(&url, &[]).await,
        &[
            "2 Argon2 password hashes use parameters under OWASP's minimum (m=19456 KiB, t=2, \
           p=1) (2 with m=4096,t=3,p=1): each is rehashed",
        ],
    );
}

/// A SQLite database whose change feed lost a trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sqlite_trigger_is_reported() {
    let (url, store, _dir) = database(Backend::Sqlite).await;
    execute(&store, "DROP TRIGGER tokenauth_users_changed").await;
    store.close().await;
    found(
        &check(&url, &[]).await,
        &["change feed triggers missing or altered: tokenauth_users_changed ("],
    );
}

/// A PostgreSQL database whose change feed lost a trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_trigger_is_reported() {
    let (url, store, _dir) = database(Backend::Postgres).await;
    execute(
        &store,
        "DROP TRIGGER tokenauth_users_log_update ON tokenauth_users",
    )
    .await;
    store.close().await;
    found(
        &check(&url, &[]).await,
        &["change feed triggers missing or altered: tokenauth_users_log_update ("],
    );
}

/// A SQLite database not in WAL mode (and `check` leaves it so: it changes nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_not_in_wal_mode_is_reported() {
    let (url, store, _dir) = database(Backend::Sqlite).await;
    store.close().await;
    use sqlx::Connection as _;
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("PRAGMA journal_mode=DELETE")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    for _ in 0..2 {
        found(
            &check(&url, &[]).await,
            &["the SQLite database is in `delete` journal mode, not WAL: "],
        );
    }
}
