//! Beside Django (PostgreSQL): `DjangoUser` authenticated from Django-shaped tables
//! (`auth_user`, DRF's `authtoken_token`), cached once the change feed watches them — which a
//! store's feed does only once that store has authenticated a `DjangoUser`: the tables to
//! watch come from the user types, not from a list in the store.

use crate::common;

use std::time::{Duration, Instant};

use tokenauth::django::DjangoUser;
use tokenauth::rejection::Reason;
use tokenauth::store::AuthenticateError;
use tokenauth::{NewToken, Store};

/// Django's tables as Django 5.2 and DRF make them (the columns `DjangoUser` reads, and the
/// password), with a user and a token.
const DJANGO_TABLES: &str = "\
    CREATE TABLE auth_user (\
        id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz, \
        is_superuser boolean NOT NULL, username varchar(150) NOT NULL UNIQUE, \
        first_name varchar(150) NOT NULL, last_name varchar(150) NOT NULL, \
        email varchar(254) NOT NULL, is_staff boolean NOT NULL, is_active boolean NOT NULL, \
        date_joined timestamptz NOT NULL); \
    CREATE TABLE authtoken_token (\
        key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, \
        user_id integer NOT NULL UNIQUE REFERENCES auth_user (id) ON DELETE CASCADE); \
    INSERT INTO auth_user VALUES \
        (7, '!', NULL, false, 'django', 'Dja', 'Ngo', 'd@example.com', true, true, now()); \
    INSERT INTO authtoken_token VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', now(), 7);";

/// Counts every statement run on Django's tables — a heartbeat's among them, which change no
/// row. Not one of tokenauth's triggers (whose names start with `tokenauth_`), so the change
/// feed's look at the catalog ignores it.
const COUNT_STATEMENTS: &str = "\
    CREATE TABLE statements_seen (tbl text NOT NULL); \
    CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS $$ \
        BEGIN INSERT INTO statements_seen VALUES (TG_TABLE_NAME); RETURN NULL; END $$; \
    CREATE TRIGGER count_statements AFTER INSERT OR UPDATE OR DELETE ON authtoken_token \
        FOR EACH STATEMENT EXECUTE FUNCTION count_statement(); \
    CREATE TRIGGER count_statements AFTER INSERT OR UPDATE OR DELETE ON auth_user \
        FOR EACH STATEMENT EXECUTE FUNCTION count_statement();";

const DJANGO_KEY: &str = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";

async fn statements_seen(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM statements_seen")
        .fetch_one(store.postgres_pool().unwrap())
        .await
        .unwrap()
}

/// The feed's heartbeats so far (each one a look at the catalog).
fn heartbeats(store: &Store) -> u64 {
    tokenauth::store::testing::feed_work(store).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_django_tables_are_watched_once_a_django_user_is_authenticated() {
    let url = common::fresh_postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = store.postgres_pool().unwrap().clone();
    sqlx::raw_sql(DJANGO_TABLES).execute(&pool).await.unwrap();
    tokenauth::django::migrate(&store).await.unwrap();
    store.check_user_type::<DjangoUser>().await.unwrap();
    // Peppers stay off beside Django, and the check says so.
    let peppered = tokenauth::Policy::default().pepper(1, [7; 32]).unwrap();
    let error = store
        .clone()
        .with_policy(peppered)
        .check_user_type::<DjangoUser>()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("beside Django"), "{error}");
    sqlx::raw_sql(COUNT_STATEMENTS)
        .execute(&pool)
        .await
        .unwrap();

    // Only tokenauth's own users so far: the feed watches tokenauth's tables alone, though
    // Django's triggers are in place.
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    common::cache_serving(&store).await;
    let first = heartbeats(&store);
    let started = Instant::now();
    while heartbeats(&store) < first + 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "no heartbeats");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        statements_seen(&store).await,
        0,
        "a store that never authenticated a DjangoUser sent heartbeats through Django's tables"
    );

    // The first DjangoUser registers Django's tables with the feed: cached once it proves
    // them, and the heartbeats go through Django's triggers from then on.
    let queries = || tokenauth::store::testing::authentication_queries(&store);
    let (user, token) = store
        .authenticate_as::<DjangoUser>(DJANGO_KEY)
        .await
        .unwrap();
    assert_eq!((user.id, user.username.as_str()), (7, "django"));
    assert_eq!(token.user_id, 7);
    let registered = Instant::now();
    loop {
        store
            .authenticate_as::<DjangoUser>(DJANGO_KEY)
            .await
            .unwrap();
        let before = queries();
        store
            .authenticate_as::<DjangoUser>(DJANGO_KEY)
            .await
            .unwrap();
        if queries() == before {
            break;
        }
        assert!(
            registered.elapsed() < Duration::from_secs(5),
            "a DjangoUser was never cached"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "Django's tables cached {:?} after the first DjangoUser",
        registered.elapsed()
    );
    let seen = statements_seen(&store).await;
    assert!(
        seen >= 5,
        "a heartbeat fires each of Django's triggers: {seen}"
    );

    // Watched: a token Django deletes is refused within the feed's bound.
    sqlx::query("DELETE FROM authtoken_token WHERE key = $1")
        .bind(DJANGO_KEY)
        .execute(&pool)
        .await
        .unwrap();
    let deleted = Instant::now();
    loop {
        match store.authenticate_as::<DjangoUser>(DJANGO_KEY).await {
            Err(AuthenticateError::Denied(Reason::InvalidToken)) => break,
            Ok(_) => assert!(
                deleted.elapsed() < Duration::from_secs(2),
                "a token deleted in Django still accepted"
            ),
            Err(other) => panic!("{other}"),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
