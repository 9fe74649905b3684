//! Moving from Django: users imported with the password hashes Django produced
//! (`tests/fixtures/django_hashes.json`, written by `tests/django`'s `hash_fixtures` command)
//! log in with their Django passwords and are upgraded to Argon2id; bulk imports keep ids,
//! dates and keys, are idempotent, and write nothing when they fail.

use crate::common;

use chrono::{TimeZone as _, Utc};
use serde_json::Value;
use tokenauth::import;
use tokenauth::{Error, Key, NewToken, Policy, Store, sqlx};

/// The hashes Django 5.2 produced, with their passwords.
fn django_hashes() -> Vec<(String, Option<String>, String)> {
    let text = include_str!("../fixtures/django_hashes.json");
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    entries
        .into_iter()
        .map(|entry| {
            (
                entry["hasher"].as_str().unwrap().to_owned(),
                entry["password"].as_str().map(str::to_owned),
                entry["encoded"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn user(id: i64, username: &str, hash: Option<&str>) -> import::User {
    import::User {
        id: Some(id),
        username: username.to_owned(),
        password_hash: hash.map(str::to_owned),
        is_active: true,
        date_joined: Utc.with_ymd_and_hms(2019, 5, 4, 3, 2, 1).unwrap(),
    }
}

async fn stored_hash(store: &Store, username: &str) -> Option<String> {
    let sql = "SELECT password_hash FROM tokenauth_users WHERE username = $1";
    if let Some(pool) = store.sqlite_pool() {
        return sqlx::query_scalar(sql)
            .bind(username)
            .fetch_one(pool)
            .await
            .unwrap();
    }
    sqlx::query_scalar(sql)
        .bind(username)
        .fetch_one(store.postgres_pool().unwrap())
        .await
        .unwrap()
}

/// Every Django hash verifies with its password and no other, and a successful login replaces
/// it by tokenauth's Argon2id, keeping the user's tokens (the password did not change).
async fn django_passwords_log_in_and_are_upgraded(store: Store) {
    let hashes = django_hashes();
    let users: Vec<import::User> = hashes
        .iter()
        .enumerate()
        .map(|(i, (hasher, _, encoded))| {
            user(100 + i as i64, &format!("{hasher}-{i}"), Some(encoded))
        })
        .collect();
    let report = store.import_users(&users).await.unwrap();
    assert_eq!(report.users_imported, users.len() as u64);
    assert_eq!(report.warnings, [], "every Django format is verifiable");

    let mut checked = 0;
    for (i, (hasher, password, encoded)) in hashes.iter().enumerate() {
        let username = format!("{hasher}-{i}");
        let Some(password) = password else {
            // Unusable: no password matches, not even the hash itself.
            assert_eq!(
                store.check_password(&username, encoded).await.unwrap(),
                None
            );
            assert_eq!(store.check_password(&username, "").await.unwrap(), None);
            continue;
        };
        let wrong = format!("{password}x");
        assert_eq!(
            store.check_password(&username, &wrong).await.unwrap(),
            None,
            "{hasher}: a wrong password"
        );
        assert_eq!(
            stored_hash(&store, &username).await.as_deref(),
            Some(encoded.as_str()),
            "{hasher}: a failed login changes nothing"
        );
        let (_, before) = store
            .tokens()
            .create(100 + i as i64, NewToken::default())
            .await
            .unwrap();
        let (user, _, key) = store
            .login(&username, password, NewToken::named("after import"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{hasher}: the Django password logs in"));
        assert_eq!(user.id, 100 + i as i64);
        assert!(store.authenticate(key.expose_secret()).await.is_ok());
        assert!(
            store.authenticate(before.expose_secret()).await.is_ok(),
            "{hasher}: the upgrade keeps the user's tokens"
        );
        let after = stored_hash(&store, &username).await.unwrap();
        if hasher == "argon2id_strong_phc" {
            assert_eq!(&after, encoded, "a stronger Argon2id hash is kept");
        } else {
            assert!(
                after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{hasher}: upgraded to {after}"
            );
        }
        assert!(
            store
                .check_password(&username, password)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.check_password(&username, &wrong).await.unwrap(), None);
        checked += 1;
    }
    assert!(
        checked >= 6,
        "pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, scrypt, argon2id"
    );
}

/// An Argon2id hash weaker than the policy's cost is replaced at the next login.
async fn weaker_argon2_hashes_are_rehashed(store: Store) {
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    let default = stored_hash(&store, "alice").await.unwrap();
    let store = store.with_policy(Policy::default().argon2(32 * 1024, 2, 1).unwrap());
    assert!(
        store
            .check_password("alice", "wrong")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stored_hash(&store, "alice").await.unwrap(), default);
    assert!(
        store
            .check_password("alice", "correct horse")
            .await
            .unwrap()
            .is_some()
    );
    let stronger = stored_hash(&store, "alice").await.unwrap();
    assert!(
        stronger.starts_with("$argon2id$v=19$m=32768,t=2,p=1$"),
        "{stronger}"
    );
    assert!(
        store
            .check_password("alice", "correct horse")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        stored_hash(&store, "alice").await.unwrap(),
        stronger,
        "once"
    );
}

/// Ids, dates and keys are kept; a rerun reports what is there and writes nothing new; a
/// short key is imported with a warning; new users get ids after the imported ones.
async fn imports_keep_ids_and_are_idempotent(store: Store) {
    let users = vec![user(7, "alice", None), user(42, "bob", None), {
        let mut carol = user(43, "carol", Some("md5$salt$hash"));
        carol.is_active = false;
        carol
    }];
    let created = Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap();
    let drf_key = Key::generate().unwrap();
    let tokens = vec![
        import::Token {
            username: "alice".into(),
            key: drf_key.clone(),
            created,
            name: "drf".into(),
        },
        import::Token {
            username: "bob".into(),
            key: Key::import("b").unwrap(),
            created,
            name: "drf".into(),
        },
        import::Token {
            username: "carol".into(),
            key: Key::import("carols-key").unwrap(),
            created,
            name: "drf".into(),
        },
    ];
    let mut import = store.import_begin().await.unwrap();
    import.users(&users).await.unwrap();
    import.tokens(&tokens).await.unwrap();
    let report = import.commit().await.unwrap();
    assert_eq!(
        (report.users_imported, report.users_present),
        (3, 0),
        "{report:?}"
    );
    assert_eq!((report.tokens_imported, report.tokens_present), (3, 0));
    assert_eq!(
        report.warnings,
        [
            import::Warning::UnverifiablePassword {
                username: "carol".into(),
                hasher: "md5".into()
            },
            import::Warning::NonStandardKey {
                username: "bob".into(),
                length: 1
            },
            import::Warning::NonStandardKey {
                username: "carol".into(),
                length: 10
            },
        ]
    );

    let (alice, token) = store.authenticate(drf_key.expose_secret()).await.unwrap();
    assert_eq!((alice.id, alice.username.as_str()), (7, "alice"));
    assert_eq!(alice.date_joined, users[0].date_joined);
    assert_eq!((token.created, token.name.as_str()), (created, "drf"));
    assert_eq!(store.authenticate("b").await.unwrap().0.id, 42);
    assert!(matches!(
        store.authenticate("carols-key").await,
        Err(tokenauth::store::AuthenticateError::Denied(
            tokenauth::rejection::Reason::UserInactive
        ))
    ));

    // Again, with one new user and token: only those are written.
    let mut more = users.clone();
    more.push(user(50, "dave", None));
    let mut more_tokens = tokens.clone();
    let dave_key = Key::generate().unwrap();
    more_tokens.push(import::Token {
        username: "dave".into(),
        key: dave_key.clone(),
        created,
        name: "drf".into(),
    });
    let mut import = store.import_begin().await.unwrap();
    import.users(&more).await.unwrap();
    import.tokens(&more_tokens).await.unwrap();
    let report = import.commit().await.unwrap();
    assert_eq!((report.users_imported, report.users_present), (1, 3));
    assert_eq!((report.tokens_imported, report.tokens_present), (1, 3));
    assert_eq!(
        report.warnings,
        [],
        "rows already present are not warned about again"
    );
    assert_eq!(
        store
            .authenticate(dave_key.expose_secret())
            .await
            .unwrap()
            .0
            .id,
        50
    );

    // Changed at the source since: reported, and left as it is.
    let mut changed = more.clone();
    changed[0].is_active = false;
    changed[1].password_hash = Some("pbkdf2_sha256$1000000$salt$hash".into());
    let report = store.import_users(&changed).await.unwrap();
    assert_eq!((report.users_imported, report.users_present), (0, 4));
    assert_eq!(
        report.warnings,
        [
            import::Warning::Changed {
                username: "alice".into(),
                fields: vec!["is_active"]
            },
            import::Warning::Changed {
                username: "bob".into(),
                fields: vec!["password"]
            },
        ]
    );
    assert!(
        store.user(7).await.unwrap().unwrap().is_active,
        "not overwritten"
    );

    // The database's own numbering continues after the imported ids.
    let erin = store.create_user("erin", None).await.unwrap();
    assert!(erin.id > 50, "{}", erin.id);
}

/// A conflicting row fails the whole import, and a dry run writes nothing: the store is as
/// it was in both cases.
async fn failed_and_dry_run_imports_write_nothing(store: Store) {
    store.create_user("alice", None).await.unwrap();
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let before = store.users().await.unwrap();

    // `bob` would be new, but `mallory` claims alice's id.
    let mut import = store.import_begin().await.unwrap();
    import.users(&[user(90, "bob", None)]).await.unwrap();
    let conflict = import.users(&[user(alice.id, "mallory", None)]).await;
    assert!(
        matches!(conflict, Err(Error::ImportConflict(_))),
        "{conflict:?}"
    );
    drop(import);
    assert_eq!(store.users().await.unwrap(), before);

    // A username held under another id.
    let conflict = store
        .import_users(&[user(alice.id + 1, "alice", None)])
        .await;
    assert!(
        matches!(conflict, Err(Error::ImportConflict(_))),
        "{conflict:?}"
    );
    // A key already held by another user.
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    store.import_users(&[user(91, "carl", None)]).await.unwrap();
    let stolen = import::Token {
        username: "carl".into(),
        key: key.clone(),
        created: Utc::now(),
        name: "drf".into(),
    };
    let conflict = store.import_tokens(&[stolen]).await;
    assert!(
        matches!(conflict, Err(Error::ImportConflict(_))),
        "{conflict:?}"
    );
    assert_eq!(
        store.authenticate(key.expose_secret()).await.unwrap().0.id,
        alice.id
    );
    // An unknown owner.
    let orphan = import::Token {
        username: "nobody".into(),
        key: Key::generate().unwrap(),
        created: Utc::now(),
        name: "drf".into(),
    };
    assert!(matches!(
        store.import_tokens(&[orphan]).await,
        Err(Error::UserNotFound(_))
    ));

    // A dry run reports, and rolls back.
    let users_before = store.users().await.unwrap();
    let mut import = store.import_begin().await.unwrap();
    import.users(&[user(92, "dina", None)]).await.unwrap();
    let report = import.rollback().await.unwrap();
    assert_eq!(report.users_imported, 1);
    assert_eq!(store.users().await.unwrap(), users_before);
}

/// Thousands of rows go through in batches (more than one `INSERT` each).
async fn large_imports_are_batched(store: Store) {
    let users: Vec<import::User> = (1..=2500)
        .map(|i| user(i, &format!("user{i}"), None))
        .collect();
    let keys: Vec<Key> = (0..2500).map(|_| Key::generate().unwrap()).collect();
    let tokens: Vec<import::Token> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| import::Token {
            username: format!("user{}", i + 1),
            key: key.clone(),
            created: Utc::now(),
            name: "drf".into(),
        })
        .collect();
    let mut import = store.import_begin().await.unwrap();
    import.users(&users).await.unwrap();
    import.tokens(&tokens).await.unwrap();
    let report = import.commit().await.unwrap();
    assert_eq!(
        (report.users_imported, report.tokens_imported),
        (2500, 2500)
    );
    for (i, key) in keys.iter().enumerate().step_by(499) {
        let (user, _) = store.authenticate(key.expose_secret()).await.unwrap();
        assert_eq!(user.id, i as i64 + 1);
    }
}

/// Checks that an import was refused for two names that are one once normalized.
fn refused<T: std::fmt::Debug>(result: Result<T, Error>, case: &str) {
    match result {
        Err(Error::ImportConflict(message)) => assert!(
            message.contains("are one username once normalized as Django's `create_user`"),
            "{case}: {message}"
        ),
        other => panic!("{case}: {other:?}"),
    }
}

/// A Django username that is not in NFKC form (Django may hold such rows: made before it
/// normalized, or by SQL) is imported as it is and logs in as before; two users whose names are
/// one name once normalized are refused, in one batch, across batches or against the store,
/// and nothing is written.
async fn unnormalized_usernames_are_kept_and_collisions_refused(store: Store) {
    let (_, password, encoded) = django_hashes()
        .into_iter()
        .find(|(hasher, password, _)| hasher.starts_with("pbkdf2_sha256") && password.is_some())
        .unwrap();
    let password = password.unwrap();
    let report = store
        .import_users(&[user(1, "ａlice", Some(&encoded))])
        .await
        .unwrap();
    assert_eq!(report.users_imported, 1);
    assert_eq!(store.user(1).await.unwrap().unwrap().username, "ａlice");
    assert!(
        store
            .check_password("ａlice", &password)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .check_password("alice", &password)
            .await
            .unwrap()
            .is_none()
    );
    store.create_user("carol", None).await.unwrap(); // #2
    let before = store.users().await.unwrap();

    // In one batch, either order.
    refused(
        store
            .import_users(&[user(32, "bob", None), user(33, "ｂob", None)])
            .await,
        "one batch",
    );
    refused(
        store
            .import_users(&[user(33, "ｂob", None), user(32, "bob", None)])
            .await,
        "one batch, reversed",
    );
    // Against the store: a normalized name, and a name imported as it was.
    refused(
        store.import_users(&[user(40, "ｃarol", None)]).await,
        "the store's carol",
    );
    refused(
        store.import_users(&[user(41, "alice", None)]).await,
        "the store's ａlice",
    );
    // Across batches of one import, either order.
    for (first, second) in [("dave", "ｄave"), ("ｅrin", "erin")] {
        let mut import = store.import_begin().await.unwrap();
        import.users(&[user(50, first, None)]).await.unwrap();
        refused(
            import.users(&[user(51, second, None)]).await,
            &format!("{first}, then {second}"),
        );
    }
    assert_eq!(store.users().await.unwrap(), before, "nothing was written");

    // A rerun finds ａlice present; new ids are no exception.
    let report = store
        .import_users(&[user(1, "ａlice", Some(&encoded))])
        .await
        .unwrap();
    assert_eq!((report.users_imported, report.users_present), (0, 1));
    let mut new_id = user(0, "ｃarol", None);
    new_id.id = None;
    refused(store.import_users(&[new_id]).await, "without an id");
    // As in Django, whose names are unique as stored, `create_user` may add `alice` beside an
    // imported `ａlice`: it stores the normalized `alice`, which nobody has.
    assert_eq!(
        store.create_user("ａlice", None).await.unwrap().username,
        "alice"
    );
}

/// An id of `i64::MAX` would leave the database no id for the next user: refused, nothing
/// written, and the store can still create users.
async fn the_last_id_is_refused(store: Store) {
    let result = store
        .import_users(&[user(5, "bob", None), user(i64::MAX, "mallory", None)])
        .await;
    match result {
        Err(Error::ImportConflict(message)) => assert!(
            message.contains("has id 9223372036854775807") && message.contains("new ids"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.users().await.unwrap(), []);
    store.create_user("carol", None).await.unwrap();
    // One below is fine: the next user takes the last id.
    store
        .import_users(&[user(i64::MAX - 1, "dave", None)])
        .await
        .unwrap();
    assert_eq!(store.create_user("erin", None).await.unwrap().id, i64::MAX);
}

/// A password field longer than Django's 128 characters is no hash: the user is imported
/// without a password, with a warning; a megabytes-long username is refused with a message
/// that quotes 100 characters of it and says how long it is.
async fn oversized_values_are_bounded(store: Store) {
    let huge = format!("pbkdf2_sha256$1000000${}", "x".repeat(1 << 20));
    let report = store
        .import_users(&[
            user(1, "alice", Some(&huge)),
            user(
                2,
                "bob",
                Some(&"y".repeat(tokenauth::rules::MAX_PASSWORD_HASH_LEN)),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(report.users_imported, 2);
    assert_eq!(
        report.warnings,
        [
            import::Warning::OversizedPassword {
                username: "alice".into()
            },
            import::Warning::UnverifiablePassword {
                username: "bob".into(),
                hasher: "unknown".into()
            },
        ]
    );
    assert_eq!(stored_hash(&store, "alice").await, None);
    assert_eq!(
        stored_hash(&store, "bob").await.map(|hash| hash.len()),
        Some(tokenauth::rules::MAX_PASSWORD_HASH_LEN)
    );
    // A rerun sees no change.
    let report = store
        .import_users(&[user(1, "alice", Some(&huge))])
        .await
        .unwrap();
    assert_eq!((report.users_present, report.warnings), (1, vec![]));

    let long = "u".repeat(5 << 20);
    let err = store
        .import_users(&[user(3, &long, None)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUsername(_)));
    let message = err.to_string();
    assert!(message.len() < 300, "{} bytes", message.len());
    assert!(
        message.starts_with(&format!(
            "invalid username `{}…` (5242880 characters): ",
            "u".repeat(100)
        )),
        "{message}"
    );
    // Warnings quote as little.
    let warning = import::Warning::UnverifiablePassword {
        username: long,
        hasher: "md5".into(),
    };
    assert!(warning.to_string().len() < 300);
}

common::on_both_backends!(
    heavy:
    store: django_passwords_log_in_and_are_upgraded,
    unnormalized_usernames_are_kept_and_collisions_refused,
    the_last_id_is_refused,
    oversized_values_are_bounded,
    imports_keep_ids_and_are_idempotent,
    failed_and_dry_run_imports_write_nothing,
    large_imports_are_batched,
    weaker_argon2_hashes_are_rehashed,
);
