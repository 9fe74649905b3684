//! Store behaviour on real databases: every test runs on SQLite and on PostgreSQL.

use crate::common;

use chrono::{Duration, Utc};
use common::Backend;
use sha2::{Digest as _, Sha256};
use tokenauth::rejection::Reason;
use tokenauth::store::AuthenticateError;
use tokenauth::{Error, Key, NewToken, Policy, Store};

common::on_both_backends!(
    store:
    users_are_created_and_found,
    usernames_are_unique_and_validated,
    usernames_are_stored_as_django_normalizes_them,
    passwords_are_argon2_and_verified,
    only_the_digest_of_a_key_is_stored,
    many_named_tokens_per_user,
    imported_keys_authenticate_and_never_overwrite,
    get_or_create_shows_the_key_only_when_it_creates,
    reset_revokes_every_token_and_creates_one,
    authentication_refuses_unknown_expired_and_inactive,
    revoking_tokens,
    deleting_a_user_cascades_to_tokens,
    tokens_need_an_existing_user,
    concurrent_get_or_create_makes_one_token,
    password_changes_revoke_tokens_and_deactivation_keeps_them,
    default_ttl_and_token_limit,
    last_used_and_sliding_refresh,
    usage_is_written_off_the_request,
    cached_authentications_are_revoked_at_once,
    cached_authentications_race_revocations,
    secrets_stay_out_of_debug_and_display,
);

/// Token `id` of `user_id` as stored once the pending records of use are written.
async fn written(store: &Store, user_id: i64, id: i64) -> tokenauth::Token {
    store.flush_usage().await.unwrap();
    let tokens = store.tokens().list(user_id).await.unwrap();
    tokens
        .into_iter()
        .find(|t| t.id == id)
        .expect("the token is stored")
}

fn denied(result: Result<impl Sized, AuthenticateError>) -> Option<Reason> {
    match result {
        Err(AuthenticateError::Denied(reason)) => Some(reason),
        _ => None,
    }
}

async fn users_are_created_and_found(store: Store) {
    let before = Utc::now() - Duration::seconds(1);
    let alice = store
        .create_user("alice", Some("pw-alice-123"))
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert!(alice.is_active);
    assert!(alice.date_joined >= before && alice.date_joined <= Utc::now());
    assert_eq!(store.user(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_username("ALICE").await.unwrap(), None);
    assert_eq!(store.user(alice.id + 1000).await.unwrap(), None);

    store.set_active(alice.id, false).await.unwrap();
    assert!(!store.user(alice.id).await.unwrap().unwrap().is_active);
    store.set_active(alice.id, true).await.unwrap();
    assert!(store.user(alice.id).await.unwrap().unwrap().is_active);
    assert!(matches!(
        store.set_active(alice.id + 1000, true).await,
        Err(Error::UserNotFound(_))
    ));
}

async fn usernames_are_unique_and_validated(store: Store) {
    store.create_user("alice", None).await.unwrap();
    assert!(matches!(
        store.create_user("alice", Some("other")).await,
        Err(Error::UsernameTaken(name)) if name == "alice"
    ));
    // Case-sensitive, as Django.
    store.create_user("Alice", None).await.unwrap();
    for bad in ["", "with space", "semi;colon", &"x".repeat(151)] {
        assert!(matches!(
            store.create_user(bad, None).await,
            Err(Error::InvalidUsername(_))
        ));
    }
    store.create_user("zoë.o'k", None).await.unwrap_err();
    store
        .create_user("zoë.ok+tag@example.com", None)
        .await
        .unwrap();
}

/// Django's `create_user` stores `NFKC(username)`: `ａlice` is `alice` and a duplicate, the
/// 150-character limit counts the normalized name, and a login takes the name as sent.
async fn usernames_are_stored_as_django_normalizes_them(store: Store) {
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    for twin in ["ａlice", "ａｌｉｃｅ"] {
        assert!(
            matches!(
                store.create_user(twin, None).await,
                Err(Error::UsernameTaken(name)) if name == "alice"
            ),
            "{twin}"
        );
    }
    let ff = store.create_user("ﬀ", None).await.unwrap();
    assert_eq!(ff.username, "ff");
    assert!(matches!(
        store.create_user("ff", None).await,
        Err(Error::UsernameTaken(name)) if name == "ff"
    ));
    assert_eq!(store.user_by_username("ff").await.unwrap(), Some(ff));
    assert_eq!(
        store.user_by_username("ﬀ").await.unwrap(),
        None,
        "looked up as given, as Django's get_by_natural_key"
    );
    // 75 ligatures are 150 characters once normalized, 76 are 152.
    let long = store.create_user(&"ﬀ".repeat(75), None).await.unwrap();
    assert_eq!(long.username, "f".repeat(150));
    assert!(matches!(
        store.create_user(&"ﬀ".repeat(76), None).await,
        Err(Error::InvalidUsername(_))
    ));
    // A login matches the name as sent, as Django's `authenticate()`.
    assert!(
        store
            .check_password("ａlice", "correct horse")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .check_password("alice", "correct horse")
            .await
            .unwrap(),
        Some(alice)
    );
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.username)
        .collect();
    assert_eq!(names, ["alice", "ff", &"f".repeat(150)]);
}

async fn passwords_are_argon2_and_verified(store: Store) {
    let alice = store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let nopass = store.create_user("nopass", None).await.unwrap();

    let stored: Option<String> = sqlx_scalar(
        &store,
        "SELECT password_hash FROM tokenauth_users WHERE username = 'alice'",
    )
    .await;
    let stored = stored.unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains("correct horse"));

    assert_eq!(
        store
            .check_password("alice", "correct horse")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .check_password("alice", "correct horsE")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.check_password("alice", "").await.unwrap(), None);
    assert_eq!(
        store
            .check_password("nobody", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.check_password("nopass", "").await.unwrap(), None);

    store
        .set_password(nopass.id, Some("now set"))
        .await
        .unwrap();
    assert_eq!(
        store.check_password("nopass", "now set").await.unwrap(),
        Some(nopass)
    );
    store.set_password(alice.id, None).await.unwrap();
    assert_eq!(
        store
            .check_password("alice", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.set_password(alice.id + 1000, Some("x")).await,
        Err(Error::UserNotFound(_))
    ));

    store.set_password(alice.id, Some("back")).await.unwrap();
    store.set_active(alice.id, false).await.unwrap();
    assert_eq!(store.check_password("alice", "back").await.unwrap(), None);
}

async fn only_the_digest_of_a_key_is_stored(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let (token, key) = store
        .tokens()
        .create(alice.id, NewToken::named("laptop").scope("read").unwrap())
        .await
        .unwrap();
    let key = key.expose_secret().to_owned();
    assert_eq!(key.len(), 40);
    assert!(key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));

    // Every column of the row, as text: the key appears nowhere; the digest is SHA-256(key).
    let row: Vec<String> = sqlx_row_as_text(&store, token.id).await;
    assert!(row.iter().all(|value| !value.contains(&key)), "{row:?}");
    let digest: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(row.contains(&digest), "{row:?}");
    assert!(row.contains(&"laptop".to_owned()));
    assert!(row.contains(&"read".to_owned()));

    let (user, auth) = store.authenticate(&key).await.unwrap();
    assert_eq!((user, auth), (alice, token));
}

async fn many_named_tokens_per_user(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let in_a_day = Utc::now() + Duration::days(1);
    let (laptop, laptop_key) = store
        .tokens()
        .create(alice.id, NewToken::named("laptop"))
        .await
        .unwrap();
    let (ci, ci_key) = store
        .tokens()
        .create(
            alice.id,
            NewToken::named("ci")
                .expires_at(in_a_day)
                .scope("deploy")
                .unwrap()
                .scope("*")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_ne!(laptop_key, ci_key);
    assert_eq!(ci.name, "ci");
    assert_eq!(ci.scopes, ["deploy", "*"]);
    assert!(ci.has_scope("anything"));
    assert!(!laptop.has_scope("anything"));
    // Timestamps survive the round trip to within the database's precision.
    let stored = ci.expires_at.unwrap();
    assert!(
        (stored - in_a_day).num_milliseconds().abs() < 1,
        "{stored} vs {in_a_day}"
    );
    assert_eq!(
        store.tokens().list(alice.id).await.unwrap(),
        [laptop.clone(), ci.clone()]
    );
    assert_eq!(
        store
            .authenticate(laptop_key.expose_secret())
            .await
            .unwrap()
            .1,
        laptop
    );
    assert_eq!(
        store.authenticate(ci_key.expose_secret()).await.unwrap().1,
        ci
    );
}

async fn imported_keys_authenticate_and_never_overwrite(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let bob = store.create_user("bob", None).await.unwrap();
    let drf_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
    let key = Key::import(drf_key).unwrap();
    let token = store
        .tokens()
        .import(alice.id, &key, NewToken::named("django"))
        .await
        .unwrap();
    assert_eq!(store.authenticate(drf_key).await.unwrap().0, alice);

    // The same key for another user is refused; the original token is untouched.
    assert!(matches!(
        store
            .tokens()
            .import(bob.id, &key, NewToken::default())
            .await,
        Err(Error::DuplicateKey)
    ));
    assert!(store.tokens().list(bob.id).await.unwrap().is_empty());
    assert_eq!(
        store.tokens().list(alice.id).await.unwrap(),
        std::slice::from_ref(&token)
    );
    assert_eq!(store.authenticate(drf_key).await.unwrap(), (alice, token));
}

async fn get_or_create_shows_the_key_only_when_it_creates(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let (first, key) = store.tokens().get_or_create(alice.id).await.unwrap();
    let key = key.expect("a new token comes with its key");
    assert_eq!(
        store.authenticate(key.expose_secret()).await.unwrap().1,
        first
    );

    let (again, no_key) = store.tokens().get_or_create(alice.id).await.unwrap();
    assert_eq!(again, first);
    assert!(no_key.is_none(), "an existing key can never be shown again");

    // Once the only token has expired, a new one is created.
    let bob = store.create_user("bob", None).await.unwrap();
    let past = Utc::now() - Duration::minutes(1);
    let (expired, _) = store
        .tokens()
        .create(bob.id, NewToken::default().expires_at(past))
        .await
        .unwrap();
    let (fresh, key) = store.tokens().get_or_create(bob.id).await.unwrap();
    assert_ne!(fresh.id, expired.id);
    assert!(key.is_some());
    assert!(matches!(
        store.tokens().get_or_create(alice.id + 1000).await,
        Err(Error::UserNotFound(_))
    ));
}

async fn reset_revokes_every_token_and_creates_one(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let bob = store.create_user("bob", None).await.unwrap();
    let (_, old1) = store
        .tokens()
        .create(alice.id, NewToken::named("a"))
        .await
        .unwrap();
    let (_, old2) = store
        .tokens()
        .create(alice.id, NewToken::named("b"))
        .await
        .unwrap();
    let (bob_token, bob_key) = store
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();

    let (token, key) = store.tokens().reset(alice.id).await.unwrap();
    assert_eq!(
        store.tokens().list(alice.id).await.unwrap(),
        std::slice::from_ref(&token)
    );
    for old in [&old1, &old2] {
        assert_eq!(
            denied(store.authenticate(old.expose_secret()).await),
            Some(Reason::InvalidToken)
        );
    }
    assert_eq!(
        store.authenticate(key.expose_secret()).await.unwrap().1,
        token
    );
    // Other users are untouched.
    assert_eq!(
        store.authenticate(bob_key.expose_secret()).await.unwrap().1,
        bob_token
    );
}

async fn authentication_refuses_unknown_expired_and_inactive(store: Store) {
    // Keep tokens on deactivation, so that they answer "User inactive or deleted."
    let store = store.with_policy(Policy::default().revoke_on_deactivation(false));
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let (_, expired) = store
        .tokens()
        .create(
            alice.id,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    let (_, later) = store
        .tokens()
        .create(alice.id, NewToken::default().expires_in(Duration::hours(1)))
        .await
        .unwrap();

    assert_eq!(
        denied(store.authenticate("0".repeat(40).as_str()).await),
        Some(Reason::InvalidToken)
    );
    assert_eq!(
        denied(store.authenticate("").await),
        Some(Reason::InvalidToken)
    );
    assert_eq!(
        denied(store.authenticate(expired.expose_secret()).await),
        Some(Reason::InvalidToken)
    );
    assert!(store.authenticate(later.expose_secret()).await.is_ok());

    store.set_active(alice.id, false).await.unwrap();
    assert_eq!(
        denied(store.authenticate(key.expose_secret()).await),
        Some(Reason::UserInactive)
    );
    // An expired token stays "Invalid token." even for an inactive user.
    assert_eq!(
        denied(store.authenticate(expired.expose_secret()).await),
        Some(Reason::InvalidToken)
    );
    store.set_active(alice.id, true).await.unwrap();
    assert!(store.authenticate(key.expose_secret()).await.is_ok());
}

async fn revoking_tokens(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let (one, one_key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let (_, two_key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert!(store.tokens().revoke(one.id).await.unwrap());
    assert!(!store.tokens().revoke(one.id).await.unwrap());
    assert_eq!(
        denied(store.authenticate(one_key.expose_secret()).await),
        Some(Reason::InvalidToken)
    );
    assert!(store.authenticate(two_key.expose_secret()).await.is_ok());
    assert_eq!(store.tokens().revoke_all(alice.id).await.unwrap(), 1);
    assert_eq!(
        denied(store.authenticate(two_key.expose_secret()).await),
        Some(Reason::InvalidToken)
    );
    assert_eq!(store.tokens().revoke_all(alice.id).await.unwrap(), 0);
}

async fn deleting_a_user_cascades_to_tokens(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let (token, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(
        denied(store.authenticate(key.expose_secret()).await),
        Some(Reason::InvalidToken)
    );
    let left: Option<i64> = sqlx_scalar(
        &store,
        &format!("SELECT id FROM tokenauth_tokens WHERE id = {}", token.id),
    )
    .await;
    assert_eq!(left, None, "the token row was deleted with its user");
}

async fn tokens_need_an_existing_user(store: Store) {
    assert!(matches!(
        store.tokens().create(4242, NewToken::default()).await,
        Err(Error::UserNotFound(_))
    ));
    assert!(matches!(
        store.tokens().reset(4242).await,
        Err(Error::UserNotFound(_))
    ));
}

async fn concurrent_get_or_create_makes_one_token(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let calls = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.tokens().get_or_create(alice.id).await.unwrap() })
    });
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for call in calls.collect::<Vec<_>>() {
        let (token, key) = call.await.unwrap();
        created += usize::from(key.is_some());
        ids.insert(token.id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(store.tokens().list(alice.id).await.unwrap().len(), 1);
}

async fn secrets_stay_out_of_debug_and_display(store: Store) {
    let alice = store
        .create_user("alice", Some("hunter2-password"))
        .await
        .unwrap();
    let (token, key) = store
        .tokens()
        .create(alice.id, NewToken::named("laptop"))
        .await
        .unwrap();
    let secret = key.expose_secret();
    let digest = key.digest().as_str().to_owned();
    let (user, auth) = store.authenticate(secret).await.unwrap();
    for shown in [
        format!("{key:?}"),
        format!("{:?}", key.digest()),
        format!("{token:?}"),
        format!("{token}"),
        format!("{auth:?}"),
        format!("{user:?}"),
        format!("{user}"),
        format!("{store:?}"),
        serde_json::to_string(&token).unwrap(),
        serde_json::to_string(&user).unwrap(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(&digest), "{shown}");
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

/// One optional column of one row, as the backend's native type.
async fn sqlx_scalar<T>(store: &Store, sql: &str) -> Option<T>
where
    T: Send + Unpin + 'static,
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match backend_pool(store).await {
        Pool::Sqlite(pool) => sqlx::query_scalar(sql)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten(),
        Pool::Postgres(pool) => sqlx::query_scalar(sql)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .flatten(),
    }
}

/// Every column of a token row, cast to text by the database itself.
async fn sqlx_row_as_text(store: &Store, token_id: i64) -> Vec<String> {
    let columns = [
        "id",
        "user_id",
        "key_digest",
        "name",
        "created",
        "expires_at",
        "last_used_at",
        "scopes",
    ];
    let mut values = Vec::new();
    for column in columns {
        let sql =
            format!("SELECT CAST({column} AS TEXT) FROM tokenauth_tokens WHERE id = {token_id}");
        if let Some(value) = sqlx_scalar::<String>(store, &sql).await {
            values.push(value.trim_end().to_owned());
        }
    }
    values
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A raw pool on the store's database, for checking what is really stored.
async fn backend_pool(store: &Store) -> Pool {
    match store.backend() {
        "sqlite" => Pool::Sqlite(store.sqlite_pool().unwrap().clone()),
        _ => Pool::Postgres(store.postgres_pool().unwrap().clone()),
    }
}

/// A SQLite connection is a handle in this process: the pool does not ping it before each
/// use (which would be a round trip to the connection's thread on every authentication).
#[tokio::test]
async fn sqlite_connections_are_not_pinged_before_each_use() {
    let store = common::sqlite_store().await;
    let options = store.sqlite_pool().unwrap().options();
    assert!(!options.get_test_before_acquire());
}

/// The lookup by digest uses the unique index on PostgreSQL: the parameter's type (`text`)
/// matches the column's, so the planner can use it.
#[tokio::test]
async fn postgres_lookup_by_digest_uses_the_index() {
    let store = common::store(Backend::Postgres).await;
    let pool = store.postgres_pool().unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT t.id FROM tokenauth_tokens t JOIN tokenauth_users u ON u.id = t.user_id \
         WHERE t.key_digest = $1",
    )
    .bind("0".repeat(64))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("tokenauth_tokens_key_digest_key"), "{plan}");
}

async fn password_changes_revoke_tokens_and_deactivation_keeps_them(store: Store) {
    let alice = store
        .create_user("alice", Some("old password"))
        .await
        .unwrap();
    let bob = store.create_user("bob", None).await.unwrap();
    let (_, bob_key) = store
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert_eq!(
        store
            .set_password(alice.id, Some("new password"))
            .await
            .unwrap(),
        1,
        "one token revoked"
    );
    assert_eq!(
        denied(store.authenticate(key.expose_secret()).await),
        Some(Reason::InvalidToken)
    );

    // DRF: deactivation keeps the tokens, refused until the user is active again.
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert_eq!(store.set_active(alice.id, false).await.unwrap(), 0);
    assert_eq!(
        denied(store.authenticate(key.expose_secret()).await),
        Some(Reason::UserInactive)
    );
    assert_eq!(store.set_active(alice.id, true).await.unwrap(), 0);
    assert!(store.authenticate(key.expose_secret()).await.is_ok());
    assert!(
        store.authenticate(bob_key.expose_secret()).await.is_ok(),
        "other users keep theirs"
    );

    // Both are configurable.
    let policy = Policy::default()
        .revoke_on_password_change(false)
        .revoke_on_deactivation(true);
    let other = store.clone().with_policy(policy);
    assert_eq!(
        other.set_password(alice.id, Some("another")).await.unwrap(),
        0
    );
    assert!(other.authenticate(key.expose_secret()).await.is_ok());
    assert_eq!(other.set_active(alice.id, false).await.unwrap(), 1);
    other.set_active(alice.id, true).await.unwrap();
    assert_eq!(
        denied(other.authenticate(key.expose_secret()).await),
        Some(Reason::InvalidToken),
        "deleted on deactivation"
    );
}

async fn default_ttl_and_token_limit(store: Store) {
    let store = store.with_policy(
        Policy::default()
            .default_ttl(Duration::hours(2))
            .max_tokens_per_user(2),
    );
    let alice = store.create_user("alice", None).await.unwrap();
    let (token, _) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let ttl = token.expires_at.expect("the default TTL applies") - token.created;
    assert_eq!(ttl.num_seconds(), 2 * 3600);
    let explicit = Utc::now() + Duration::days(3);
    let (token, _) = store
        .tokens()
        .create(alice.id, NewToken::default().expires_at(explicit))
        .await
        .unwrap();
    assert!(
        (token.expires_at.unwrap() - explicit)
            .num_milliseconds()
            .abs()
            < 1,
        "explicit wins"
    );
    assert!(matches!(
        store.tokens().create(alice.id, NewToken::default()).await,
        Err(Error::TokenLimit)
    ));
    assert_eq!(
        store.tokens().list(alice.id).await.unwrap().len(),
        2,
        "nothing written over the limit"
    );
    // Expired tokens do not count; reset replaces instead of adding.
    store
        .tokens()
        .create(
            alice.id,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap_err();
    store.tokens().reset(alice.id).await.unwrap();
    assert_eq!(store.tokens().list(alice.id).await.unwrap().len(), 1);
    let bob = store.create_user("bob", None).await.unwrap();
    store
        .tokens()
        .create(
            bob.id,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    store
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();
    store
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();
}

async fn last_used_and_sliding_refresh(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    // Off by default: authentication writes nothing.
    let (_, token) = store.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(token.last_used_at, None);

    let tracking = store
        .clone()
        .with_policy(Policy::default().last_used_interval(Some(Duration::hours(1))));
    let (_, first) = tracking.authenticate(key.expose_secret()).await.unwrap();
    let used = first.last_used_at.expect("recorded on first use");
    assert_eq!(
        tracking.tokens().list(alice.id).await.unwrap()[0].last_used_at,
        None,
        "no write on the request"
    );
    tracking.flush_usage().await.unwrap();
    let (_, second) = tracking.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(
        second.last_used_at,
        Some(used),
        "not rewritten within the interval"
    );
    assert_eq!(
        tracking.tokens().list(alice.id).await.unwrap()[0].last_used_at,
        Some(used)
    );

    let sliding = store.with_policy(
        Policy::default()
            .default_ttl(Duration::minutes(10))
            .auto_refresh(Duration::zero(), Duration::hours(1)),
    );
    let (created, key) = sliding
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let before = created.expires_at.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, used) = sliding.authenticate(key.expose_secret()).await.unwrap();
    let after = used.expires_at.unwrap();
    assert!(after > before, "{after} > {before}");
    let stored = written(&sliding, alice.id, created.id).await;
    let drift = stored.expires_at.unwrap() - after;
    assert!(drift.num_milliseconds().abs() < 1, "stored {drift} away");
}

/// Prefixed keys: new keys carry the prefix and a checksum; a mistyped one is refused without
/// touching the database (shown by closing the pool: a query would be a store error); hex keys
/// created before the switch keep working.
#[tokio::test]
async fn prefixed_keys_are_checked_before_any_query() {
    let store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, hex) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let store = store.with_policy(
        Policy::default().key_format(tokenauth::key::KeyFormat::prefixed("tka").unwrap()),
    );
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert!(key.expose_secret().starts_with("tka_"));
    assert!(store.authenticate(key.expose_secret()).await.is_ok());
    assert!(
        store.authenticate(hex.expose_secret()).await.is_ok(),
        "old keys keep working"
    );

    let mut typo = key.expose_secret().to_owned();
    typo.pop();
    typo.push(if key.expose_secret().ends_with('x') {
        'y'
    } else {
        'x'
    });
    store.close().await;
    assert_eq!(
        denied(store.authenticate(&typo).await),
        Some(Reason::InvalidToken)
    );
    assert!(
        matches!(
            store.authenticate(key.expose_secret()).await,
            Err(AuthenticateError::Store(_))
        ),
        "a well-formed key does reach the (closed) database"
    );
}

/// Token use is recorded off the request path: many concurrent authentications of one token
/// make one `UPDATE` (counted by a trigger in the database), written by the background writer
/// within a second or by `close`; a sliding refresh never overrides an expiry changed
/// meanwhile, and `last_used_at` never moves back.
async fn usage_is_written_off_the_request(store: Store) {
    let alice = store.create_user("alice", None).await.unwrap();
    let store = store.with_policy(
        Policy::default()
            .last_used_interval(Some(Duration::hours(1)))
            .default_ttl(Duration::minutes(10))
            .auto_refresh(Duration::minutes(1), Duration::hours(1)),
    );
    // Five minutes left of ten: a use slides the expiry (by more than the one-minute step).
    let (token, key) = store
        .tokens()
        .create(
            alice.id,
            NewToken::default().expires_in(Duration::minutes(5)),
        )
        .await
        .unwrap();
    let count_writes = [
        "CREATE TABLE token_writes (n BIGINT NOT NULL)",
        "INSERT INTO token_writes VALUES (0)",
    ];
    if let Some(pool) = store.sqlite_pool() {
        for sql in count_writes.iter().chain(&[
            "CREATE TRIGGER count_token_writes AFTER UPDATE ON tokenauth_tokens \
             BEGIN UPDATE token_writes SET n = n + 1; END",
        ]) {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .execute(pool)
                .await
                .unwrap();
        }
    } else {
        let pool = store.postgres_pool().unwrap();
        for sql in count_writes.iter().chain(&[
            "CREATE FUNCTION count_token_writes() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN UPDATE token_writes SET n = n + 1; RETURN NULL; END $$",
            "CREATE TRIGGER count_token_writes AFTER UPDATE ON tokenauth_tokens \
             FOR EACH ROW EXECUTE FUNCTION count_token_writes()",
        ]) {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .execute(pool)
                .await
                .unwrap();
        }
    }
    let writes = async || -> i64 {
        let sql = "SELECT n FROM token_writes";
        match store.sqlite_pool() {
            Some(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            None => sqlx::query_scalar(sql)
                .fetch_one(store.postgres_pool().unwrap())
                .await
                .unwrap(),
        }
    };

    // 64 concurrent requests: none writes; the background writer makes one write.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let requests: Vec<_> = (0..64)
        .map(|_| {
            let (store, key) = (store.clone(), key.expose_secret().to_owned());
            tokio::spawn(async move { store.authenticate(&key).await.unwrap().1 })
        })
        .collect();
    let mut latest = None;
    for request in requests {
        let seen = request.await.unwrap();
        assert!(seen.last_used_at.is_some() && seen.expires_at > token.expires_at);
        latest = latest.max(seen.expires_at);
    }
    assert_eq!(writes().await, 0, "no write on the request path");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while writes().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "written within the interval"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(writes().await, 1, "coalesced: one write for 64 uses");
    let stored = store.tokens().list(alice.id).await.unwrap().pop().unwrap();
    assert!(stored.last_used_at.is_some());
    assert_eq!(stored.expires_at, latest, "the latest refresh");

    // Within the interval (and the refresh step), later uses write nothing more.
    store.authenticate(key.expose_secret()).await.unwrap();
    store.flush_usage().await.unwrap();
    assert_eq!(writes().await, 1);

    // An expiry changed after a refresh was recorded wins over the refresh.
    // Five minutes left of ten: a use slides the expiry (by more than the one-minute step).
    let (token, key) = store
        .tokens()
        .create(
            alice.id,
            NewToken::default().expires_in(Duration::minutes(5)),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    store.authenticate(key.expose_secret()).await.unwrap();
    let cut = Utc::now() + Duration::seconds(30);
    let sql = "UPDATE tokenauth_tokens SET expires_at = $1 WHERE id = $2";
    match store.sqlite_pool() {
        Some(pool) => {
            sqlx::query(sql)
                .bind(cut)
                .bind(token.id)
                .execute(pool)
                .await
                .unwrap();
        }
        None => {
            sqlx::query(sql)
                .bind(cut)
                .bind(token.id)
                .execute(store.postgres_pool().unwrap())
                .await
                .unwrap();
        }
    }
    let stored = written(&store, alice.id, token.id).await;
    let drift = stored.expires_at.unwrap() - cut;
    assert!(
        drift.num_milliseconds().abs() < 1,
        "the changed expiry stays: {drift}"
    );
    assert!(stored.last_used_at.is_some(), "the use itself is recorded");
}

/// With the cache on, a key repeated costs no query, and every revoking call through the
/// store takes effect before it returns.
async fn cached_authentications_are_revoked_at_once(store: Store) {
    let store =
        store.with_policy(Policy::default().auth_cache(1000, std::time::Duration::from_secs(600)));
    let denied = |result: Result<_, AuthenticateError>, why: Reason| match result {
        Err(AuthenticateError::Denied(reason)) => assert_eq!(reason, why),
        Ok(_) => panic!("accepted, expected {why:?}"),
        Err(other) => panic!("{other}"),
    };
    let alice = store
        .create_user("alice", Some("old password"))
        .await
        .unwrap();
    let tokens = store.tokens();
    let queries = || tokenauth::store::testing::authentication_queries(&store);

    // Cached: the second use of a key runs no query.
    let (_, key) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    common::cache_serving(&store).await;
    store.authenticate(key.expose_secret()).await.unwrap();
    let before = queries();
    store.authenticate(key.expose_secret()).await.unwrap();
    assert_eq!(queries(), before, "served from the cache");

    // Recording a use (a due last use or sliding refresh) updates the key's own entry and
    // invalidates nothing else.
    let tracking = store.clone().with_policy(
        Policy::default()
            .auth_cache(1000, std::time::Duration::from_secs(600))
            .last_used_interval(Some(Duration::hours(1))),
    );
    let (_, other) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    tracking.authenticate(other.expose_secret()).await.unwrap();
    common::cache_serving(&tracking).await;
    let (_, first) = tracking.authenticate(other.expose_secret()).await.unwrap();
    let (_, second) = tracking.authenticate(other.expose_secret()).await.unwrap();
    assert_eq!(
        second.last_used_at, first.last_used_at,
        "the cached use is not due again"
    );
    let before = tokenauth::store::testing::authentication_queries(&tracking);
    tracking.authenticate(other.expose_secret()).await.unwrap();
    assert_eq!(
        tokenauth::store::testing::authentication_queries(&tracking),
        before,
        "still cached after a recorded use"
    );

    // Each revoking call, once it returns.
    let (token, key) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    assert!(tokens.revoke(token.id).await.unwrap());
    denied(
        store.authenticate(key.expose_secret()).await,
        Reason::InvalidToken,
    );

    let (_, key) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    tokens.revoke_all(alice.id).await.unwrap();
    denied(
        store.authenticate(key.expose_secret()).await,
        Reason::InvalidToken,
    );

    let (_, key) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    let (_, new_key) = tokens.reset(alice.id).await.unwrap();
    denied(
        store.authenticate(key.expose_secret()).await,
        Reason::InvalidToken,
    );
    store.authenticate(new_key.expose_secret()).await.unwrap();

    store.set_active(alice.id, false).await.unwrap();
    denied(
        store.authenticate(new_key.expose_secret()).await,
        Reason::UserInactive,
    );
    store.set_active(alice.id, true).await.unwrap();
    store.authenticate(new_key.expose_secret()).await.unwrap();

    store
        .set_password(alice.id, Some("new password"))
        .await
        .unwrap();
    denied(
        store.authenticate(new_key.expose_secret()).await,
        Reason::InvalidToken,
    );

    let (_, key) = tokens.create(alice.id, NewToken::default()).await.unwrap();
    store.authenticate(key.expose_secret()).await.unwrap();
    assert!(store.delete_user(alice.id).await.unwrap());
    denied(
        store.authenticate(key.expose_secret()).await,
        Reason::InvalidToken,
    );
}

/// Authentications racing a revocation: once `revoke` has returned, no authentication that
/// starts afterwards is accepted — also those whose query began before the revocation and
/// whose result would fill the cache after it. 8 concurrent clients, 20 rounds.
async fn cached_authentications_race_revocations(store: Store) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let store =
        store.with_policy(Policy::default().auth_cache(1000, std::time::Duration::from_secs(600)));
    let alice = store.create_user("alice", None).await.unwrap();
    let late_accepts = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let (token, key) = store
            .tokens()
            .create(alice.id, NewToken::default())
            .await
            .unwrap();
        let revoked = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (store, key) = (store.clone(), key.expose_secret().to_owned());
                let (revoked, late_accepts) = (Arc::clone(&revoked), Arc::clone(&late_accepts));
                tokio::spawn(async move {
                    loop {
                        let after = revoked.load(Ordering::SeqCst);
                        let accepted = store.authenticate(&key).await.is_ok();
                        if after && accepted {
                            late_accepts.fetch_add(1, Ordering::SeqCst);
                        }
                        if after {
                            return;
                        }
                        // A cache hit never waits: let the revoking task run.
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store.tokens().revoke(token.id).await.unwrap();
        revoked.store(true, Ordering::SeqCst);
        for client in clients {
            client.await.unwrap();
        }
    }
    assert_eq!(late_accepts.load(Ordering::SeqCst), 0);
}
