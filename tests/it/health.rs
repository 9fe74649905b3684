//! `Store::health`, a readiness probe's view of a store, from outside: a fresh migrated store
//! is ready (its cache serving, or knowingly off); a database missing its last migration, or
//! on SQLite a change-feed trigger, is not, and says which; a closed pool is not, with a clear
//! message and no panic, within the stated time bound.

use crate::common::{self, execute};

use std::time::{Duration, Instant};

use tokenauth::store::{CacheState, HEALTH_TIMEOUT, Problem};
use tokenauth::{Policy, Store};

common::on_both_backends!(
    a_fresh_migrated_store_is_ready,
    a_missing_migration_is_named,
    a_closed_pool_is_not_ready,
);

/// The longest `Store::health` may take, as its documentation states.
const BOUND: Duration = Duration::from_secs(4 * HEALTH_TIMEOUT.as_secs());

/// `store.health()`, checked to return within [`BOUND`].
async fn health(store: &Store) -> tokenauth::store::Health {
    let started = Instant::now();
    let health = store.health().await;
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    health
}

async fn a_fresh_migrated_store_is_ready(backend: common::Backend) {
    let store = common::store(backend).await;
    let found = health(&store).await;
    assert!(found.is_ready(), "{found}");
    assert!(found.problems().is_empty());
    assert_eq!(found.cache(), CacheState::Serving);
    assert_eq!(found.to_string(), "ready");
    assert!(tokenauth::store::testing::cache_is_serving(&store));

    let uncached = store.with_policy(Policy::default().no_auth_cache());
    let found = health(&uncached).await;
    assert!(found.is_ready(), "{found}");
    assert_eq!(found.cache(), CacheState::Off);
}

async fn a_missing_migration_is_named(backend: common::Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    let applied = store.migrate().await.unwrap();
    let last = applied.last().unwrap().clone();
    execute(
        &store,
        &format!(
            "DELETE FROM {} WHERE version = {}",
            tokenauth::store::MIGRATIONS_TABLE,
            last.version
        ),
    )
    .await;

    let found = health(&store).await;
    assert!(!found.is_ready());
    assert_eq!(
        found.problems(),
        [Problem::MissingMigrations(vec![last.clone()])]
    );
    let line = found.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(&format!(
            "migrations not applied: {} {} (run `Store::migrate`",
            last.version, last.description
        )),
        "{line}"
    );
    store.close().await;
}

async fn a_closed_pool_is_not_ready(backend: common::Backend) {
    let store = common::store(backend).await;
    assert!(health(&store).await.is_ready());
    store.close().await;
    let found = health(&store).await;
    assert!(!found.is_ready());
    assert!(
        matches!(found.problems(), [Problem::Database(_)]),
        "{:?}",
        found.problems()
    );
    let line = found.to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("database unreachable: SELECT 1: "),
        "{line}"
    );
    assert!(line.contains("closed"), "{line}");
    assert_eq!(found.cache(), CacheState::Down);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sqlite_trigger_is_named() {
    let (store, _dir) = common::file_store(common::Backend::Sqlite).await;
    execute(&store, "DROP TRIGGER tokenauth_tokens_deleted").await;
    let found = health(&store).await;
    assert!(!found.is_ready());
    assert_eq!(
        found.problems(),
        [Problem::MissingTriggers(vec!["tokenauth_tokens_deleted"])]
    );
    assert!(
        found
            .to_string()
            .starts_with("change feed triggers missing or altered: tokenauth_tokens_deleted ("),
        "{found}"
    );
    store.close().await;
}

/// A role that may connect but not read the migrations table (a restricted deploy role, or a
/// grant gone missing): the database is named as refusing the read, and no migration is said
/// to be missing — which ones are applied is not known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_unreadable_migrations_table_names_no_missing_migration() {
    let url = common::fresh_postgres_database().await;
    let admin = Store::connect(&url).await.unwrap();
    admin.migrate().await.unwrap();
    let (_, database) = url.rsplit_once('/').unwrap();
    let role = format!("blind_{database}");
    execute(
        &admin,
        &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"),
    )
    .await;
    let as_role = common::as_role(&url, &role, database);
    let store = Store::connect(&as_role).await.unwrap();
    let found = health(&store).await;
    assert!(!found.is_ready());
    assert!(
        matches!(found.problems(), [Problem::Database(_)]),
        "{:?}",
        found.problems()
    );
    assert!(found.to_string().contains("permission denied"), "{found}");
    store.close().await;
    execute(&admin, &format!("DROP ROLE {role}")).await;
}

/// A PostgreSQL trigger of the change feed disabled (`ALTER TABLE … DISABLE TRIGGER`, as a
/// bulk load might leave it) is named, as a dropped one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_disabled_trigger_is_named() {
    let (store, _dir) = common::file_store(common::Backend::Postgres).await;
    execute(
        &store,
        "ALTER TABLE tokenauth_tokens DISABLE TRIGGER tokenauth_tokens_log_delete",
    )
    .await;
    let found = health(&store).await;
    assert!(!found.is_ready());
    assert_eq!(
        found.problems(),
        [Problem::MissingTriggers(vec![
            "tokenauth_tokens_log_delete"
        ])]
    );
    execute(
        &store,
        "ALTER TABLE tokenauth_tokens ENABLE TRIGGER tokenauth_tokens_log_delete",
    )
    .await;
    assert!(health(&store).await.is_ready());
    store.close().await;
}
