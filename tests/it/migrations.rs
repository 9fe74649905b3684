//! tokenauth's migrations live beside an application's own: separate bookkeeping tables, both
//! migrators idempotent, on SQLite files and on PostgreSQL.

use crate::common;

use std::path::Path;

use sqlx::migrate::Migrator;
use tokenauth::{NewToken, Store};

async fn app_migrator() -> Migrator {
    Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app_migrations"))
        .await
        .unwrap()
}

/// A user `alice` with one new key.
async fn alice_with_a_key(store: &Store) -> (tokenauth::User, tokenauth::Key) {
    let user = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(user.id, NewToken::default())
        .await
        .unwrap();
    (user, key)
}

#[tokio::test]
async fn sqlite_file_is_created_and_migrations_coexist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let url = format!("sqlite://{}", path.display());
    assert!(!path.exists());

    let store = Store::connect(&url).await.unwrap();
    assert!(path.exists(), "the database file is created on first use");
    store.migrate().await.unwrap();
    let pool = store.sqlite_pool().unwrap();

    // The application's migrator, on its own default table, after and before ours.
    app_migrator().await.run(pool).await.unwrap();
    store.migrate().await.unwrap();
    app_migrator().await.run(pool).await.unwrap();

    let ours: Vec<String> = sqlx::query_scalar("SELECT description FROM _tokenauth_migrations")
        .fetch_all(pool)
        .await
        .unwrap();
    let theirs: Vec<String> = sqlx::query_scalar("SELECT description FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        ours,
        [
            "initial",
            "login security",
            "change feed",
            "token limits",
            "peppered digests"
        ]
    );
    assert_eq!(theirs, ["app notes"]);

    // Reopening the file finds everything in place.
    let (user, key) = alice_with_a_key(&store).await;
    store.close().await;
    let reopened = Store::connect(&url).await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(
        reopened.authenticate(key.expose_secret()).await.unwrap().0,
        user
    );
    reopened.close().await;

    // No plaintext key anywhere in the database's files (main file, WAL, shared memory).
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let secret = key.expose_secret().as_bytes();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        files += 1;
    }
    assert!(files >= 1);
}

/// `Store::close` closes every connection of the store, the change feed's included: once it
/// returns, SQLite has removed the write-ahead log and shared-memory files (it does when the
/// last connection to a database in WAL mode closes), so the files can be copied or deleted.
#[tokio::test]
async fn close_closes_the_change_feeds_connection_too() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let (_, key) = alice_with_a_key(&store).await;
        store.authenticate(key.expose_secret()).await.unwrap(); // starts the feed
        common::cache_serving(&store).await;
        store.close().await;
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["app.db"], "files left open after close");
    }
}

#[tokio::test]
async fn postgres_migrations_coexist() {
    let url = common::fresh_postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    let pool = store.postgres_pool().unwrap();
    app_migrator().await.run(pool).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    app_migrator().await.run(pool).await.unwrap();

    let ours: Vec<String> = sqlx::query_scalar("SELECT description FROM _tokenauth_migrations")
        .fetch_all(pool)
        .await
        .unwrap();
    let theirs: Vec<String> = sqlx::query_scalar("SELECT description FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        ours,
        [
            "initial",
            "login security",
            "change feed",
            "feed log",
            "login throttle failures",
            "token limits",
            "peppered digests"
        ]
    );
    assert_eq!(theirs, ["app notes"]);
}

#[tokio::test]
async fn postgres_instances_migrating_at_once_agree() {
    let url = common::fresh_postgres_database().await;
    let mut starts = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.push(tokio::spawn(async move {
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            store
        }));
    }
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap());
    }
    // A token created through one instance authenticates through another.
    let user = stores[0].create_user("alice", None).await.unwrap();
    let (_, key) = stores[1]
        .tokens()
        .create(user.id, NewToken::default())
        .await
        .unwrap();
    assert_eq!(
        stores[3].authenticate(key.expose_secret()).await.unwrap().0,
        user
    );
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = Store::connect("mysql://root:hunter2@localhost/app")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported database URL `mysql:`: expected `sqlite:…` (feature `sqlite`) or `postgres://…` (feature `postgres`)"
    );
}
