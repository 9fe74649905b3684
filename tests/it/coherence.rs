//! Coherence by construction: every public call of the store that writes is seen by a second
//! store's cache in another process. The list of calls is not written by hand and left to
//! rot: [`every_public_store_call_is_classified`] reads every `pub async fn` of
//! `tokenauth/src/store/`, `tokenauth/src/import.rs` and `tokenauth/src/django.rs`, and fails until a new one is placed in
//! [`API`]. Each call that narrows what a key grants is then made through a store in this
//! process while a quickstart process (its own store, its own cache, on the same database)
//! serves the key from its cache: the quickstart must refuse the key within the revocation
//! bound, and the store that made the call at once (its own cache was told before the call
//! returned); each call that adds a key must see the key accepted there at its first use.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokenauth::import;
use tokenauth::{Key, NewToken, Store, User};

use crate::common::{self, Backend, Instance};

common::on_both_backends!(every_public_write_is_seen_by_another_process);

/// The longest a change may take to be refused by another instance whose feed is up or down
/// (README, Security: 2 s).
const REVOCATION_BOUND: Duration = Duration::from_secs(2);

/// What a public call does to what keys grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Reads only (or opens a connection).
    Read,
    /// May narrow what some key grants: another process must refuse it within the bound.
    Narrows,
    /// Adds a key: another process must accept it at its first use.
    AddsKey,
    /// Writes, but nothing any key grants: a user without tokens, a record of use, the
    /// schema, a password hash upgraded to the same password.
    NoKey,
}

use Effect::{AddsKey, Narrows, NoKey, Read};

/// Every public `async fn` of the store, by file (under `tokenauth/src/`) and name.
const API: &[(&str, &str, Effect)] = &[
    ("store/auth.rs", "check_user_type", Read),
    ("store/auth.rs", "authenticate", Read),
    ("store/auth.rs", "authenticate_as", Read),
    ("store/usage.rs", "flush_usage", NoKey),
    ("store/health.rs", "health", Read),
    ("store/users.rs", "create_user", NoKey),
    ("store/users.rs", "create_user_with", NoKey),
    ("store/users.rs", "user", Read),
    ("store/users.rs", "user_by_username", Read),
    ("store/users.rs", "users", Read),
    ("store/users.rs", "set_password", Narrows),
    // Upgrades an imported hash to the same password: no key changes.
    ("store/users.rs", "check_password", NoKey),
    ("store/users.rs", "login", AddsKey),
    ("store/users.rs", "set_active", Narrows),
    ("store/users.rs", "delete_user", Narrows),
    ("store/tokens.rs", "create", AddsKey),
    ("store/tokens.rs", "import", AddsKey),
    ("store/tokens.rs", "get_or_create", AddsKey),
    // Both: the user's other keys go, a new one comes.
    ("store/tokens.rs", "reset", Narrows),
    ("store/tokens.rs", "replace_all", Narrows),
    ("store/tokens.rs", "list", Read),
    ("store/tokens.rs", "list_all", Read),
    ("store/tokens.rs", "prune_expired", Narrows),
    ("store/tokens.rs", "revoke", Narrows),
    ("store/tokens.rs", "revoke_all", Narrows),
    ("store/tokens.rs", "revoke_owned", Narrows),
    ("store/tokens.rs", "revoke_key", Narrows),
    ("store/tokens.rs", "revoke_key_of", Narrows),
    ("store/tokens.rs", "revoke_leaked", Narrows),
    // A new key, and the old one refused (no grace).
    ("store/tokens.rs", "roll", Narrows),
    ("store/tokens.rs", "roll_current", Narrows),
    ("store/tokens.rs", "unused_since", Read),
    ("store/mod.rs", "close", NoKey),
    ("store/backend.rs", "connect", Read),
    ("store/backend.rs", "connect_existing", Read),
    ("store/backend.rs", "migrate", NoKey),
    ("import.rs", "import_begin", Read),
    ("import.rs", "import_users", NoKey),
    ("import.rs", "import_tokens", AddsKey),
    // `Import::users` / `Import::tokens` write inside the import's transaction; its
    // `commit` is what others see.
    ("import.rs", "users", NoKey),
    ("import.rs", "tokens", NoKey),
    ("import.rs", "commit", AddsKey),
    ("import.rs", "rollback", NoKey),
    ("django.rs", "migrate", NoKey),
    // A hidden test hook: prunes the change log once, as each instance does every minute.
    ("store/testing.rs", "prune_change_log", NoKey),
];

/// The `pub async fn`s of the store's source, by file and name.
fn public_calls() -> BTreeSet<(String, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tokenauth/src");
    let mut files = vec![src.join("django.rs"), src.join("import.rs")];
    let mut dirs = vec![src.join("store")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut calls = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("pub async fn ") {
                let end = rest.find(['(', '<']).unwrap_or(rest.len());
                calls.insert((name.clone(), rest[..end].to_owned()));
            }
        }
    }
    calls
}

#[test]
fn every_public_store_call_is_classified() {
    let found = public_calls();
    let listed: BTreeSet<(String, String)> = API
        .iter()
        .map(|(file, name, _)| ((*file).to_owned(), (*name).to_owned()))
        .collect();
    let unlisted: Vec<_> = found.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&found).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "classify every public call of the store in `API` (what it does to keys), and give each \
         that writes a case in `every_public_write_is_seen_by_another_process`:\n\
         not listed: {unlisted:?}\nlisted but gone: {gone:?}"
    );
    assert_eq!(API.len(), listed.len(), "a call listed twice");
}

/// The status the quickstart process answers for `key` on `/api/me`.
async fn status(instance: &Instance, key: &str) -> u16 {
    let header = format!("Token {key}");
    common::get(instance.addr, "/api/me", Some(header.as_bytes()))
        .await
        .status
}

/// The other process serves `key` (from its cache, after the first use), and so does this
/// process's store, from its own cache (no query).
async fn warm(store: &Store, other: &Instance, key: &str, call: &str) {
    for _ in 0..3 {
        assert_eq!(status(other, key).await, 200, "{call}: accepted before");
    }
    store.authenticate(key).await.unwrap(); // starts the change feed, at the first use
    common::cache_serving(store).await;
    store.authenticate(key).await.unwrap(); // cached from now on
    let queries = tokenauth::store::testing::authentication_queries(store);
    store.authenticate(key).await.unwrap();
    assert_eq!(
        tokenauth::store::testing::authentication_queries(store),
        queries,
        "{call}: cached here before"
    );
}

/// The writing store refuses `key` as soon as the call returns: its own cache was told.
async fn refused_here_at_once(store: &Store, key: &str, call: &str) {
    assert!(
        store.authenticate(key).await.is_err(),
        "{call}: still accepted by the store that made the call"
    );
}

/// How long the other process took to refuse `key`, after the call returned; fails past the
/// revocation bound.
async fn refused_within_bound(other: &Instance, key: &str, call: &str) -> Duration {
    let done = Instant::now();
    loop {
        match status(other, key).await {
            401 => return done.elapsed(),
            200 => assert!(
                done.elapsed() < REVOCATION_BOUND,
                "{call}: still accepted by the other process past the bound"
            ),
            other => panic!("{call}: status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A user with a password and a key.
async fn user_with_key(store: &Store, name: &str, options: NewToken) -> (User, i64, Key) {
    let user = store
        .create_user(name, Some("correct horse"))
        .await
        .unwrap();
    let (token, key) = store.tokens().create(user.id, options).await.unwrap();
    (user, token.id, key)
}

async fn every_public_write_is_seen_by_another_process(backend: Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let other = Instance::start(&url).await;
    let mut seen = Vec::new();
    for &(file, call, effect) in API {
        if !matches!(effect, Narrows | AddsKey) {
            continue;
        }
        let name = format!("{}-{call}", file.trim_end_matches(".rs").replace('/', "-"));
        let (user, token_id, key) = user_with_key(&store, &name, NewToken::default()).await;
        warm(&store, &other, key.expose_secret(), call).await;
        // The key the call adds, if any; the key it must take away, if any.
        let (added, narrowed): (Option<Key>, Option<&Key>) = match (file, call) {
            ("store/users.rs", "set_password") => {
                store.set_password(user.id, Some("new")).await.unwrap();
                (None, Some(&key))
            }
            ("store/users.rs", "set_active") => {
                store.set_active(user.id, false).await.unwrap();
                (None, Some(&key))
            }
            ("store/users.rs", "delete_user") => {
                assert!(store.delete_user(user.id).await.unwrap());
                (None, Some(&key))
            }
            ("store/users.rs", "login") => {
                let (_, _, new) = store
                    .login(&name, "correct horse", NewToken::default())
                    .await
                    .unwrap()
                    .unwrap();
                (Some(new), None)
            }
            ("store/tokens.rs", "create") => {
                let (_, new) = store
                    .tokens()
                    .create(user.id, NewToken::default())
                    .await
                    .unwrap();
                (Some(new), None)
            }
            ("store/tokens.rs", "import") => {
                let new = store.generate_key().unwrap();
                store
                    .tokens()
                    .import(user.id, &new, NewToken::default())
                    .await
                    .unwrap();
                (Some(new), None)
            }
            ("store/tokens.rs", "get_or_create") => {
                // A user without a live token gets a new key.
                let fresh = store.create_user(&format!("{name}-2"), None).await.unwrap();
                let (_, new) = store.tokens().get_or_create(fresh.id).await.unwrap();
                (Some(new.expect("a new key")), None)
            }
            ("store/tokens.rs", "reset") => {
                let (_, new) = store.tokens().reset(user.id).await.unwrap();
                (Some(new), Some(&key))
            }
            ("store/tokens.rs", "replace_all") => {
                let new = store.generate_key().unwrap();
                store
                    .tokens()
                    .replace_all(user.id, &new, NewToken::default())
                    .await
                    .unwrap();
                (Some(new), Some(&key))
            }
            ("store/tokens.rs", "prune_expired") => {
                // A key that expires in an hour, pruned with a cutoff two hours ahead.
                let (_, _, expiring) = user_with_key(
                    &store,
                    &format!("{name}-2"),
                    NewToken::default().expires_in(chrono::Duration::hours(1)),
                )
                .await;
                warm(&store, &other, expiring.expose_secret(), call).await;
                let cutoff = Utc::now() + chrono::Duration::hours(2);
                assert!(store.tokens().prune_expired(cutoff).await.unwrap() >= 1);
                refused_here_at_once(&store, expiring.expose_secret(), call).await;
                let took = refused_within_bound(&other, expiring.expose_secret(), call).await;
                seen.push(format!("{call} {:.1} ms", took.as_secs_f64() * 1000.0));
                continue;
            }
            ("store/tokens.rs", "revoke") => {
                assert!(store.tokens().revoke(token_id).await.unwrap());
                (None, Some(&key))
            }
            ("store/tokens.rs", "revoke_all") => {
                assert_eq!(store.tokens().revoke_all(user.id).await.unwrap(), 1);
                (None, Some(&key))
            }
            ("store/tokens.rs", "revoke_owned") => {
                assert!(
                    store
                        .tokens()
                        .revoke_owned(user.id, token_id)
                        .await
                        .unwrap()
                );
                (None, Some(&key))
            }
            ("store/tokens.rs", "revoke_key") => {
                let revoked = store
                    .tokens()
                    .revoke_key(token_id, key.expose_secret())
                    .await;
                assert!(revoked.unwrap());
                (None, Some(&key))
            }
            ("store/tokens.rs", "revoke_key_of") => {
                let revoked = store
                    .tokens()
                    .revoke_key_of(user.id, key.expose_secret())
                    .await;
                assert!(revoked.unwrap());
                (None, Some(&key))
            }
            ("store/tokens.rs", "revoke_leaked") => {
                let revoked = store.tokens().revoke_leaked(&[key.expose_secret()]).await;
                assert_eq!(revoked.unwrap(), [true]);
                (None, Some(&key))
            }
            ("store/tokens.rs", "roll") => {
                let zero = chrono::Duration::zero();
                let (_, new) = store.tokens().roll(token_id, zero).await.unwrap();
                (Some(new), Some(&key))
            }
            ("store/tokens.rs", "roll_current") => {
                let zero = chrono::Duration::zero();
                let (_, new) = store
                    .tokens()
                    .roll_current(token_id, key.expose_secret(), zero)
                    .await
                    .unwrap();
                (Some(new), Some(&key))
            }
            ("import.rs", "import_tokens") => {
                let new = store.generate_key().unwrap();
                let report = store
                    .import_tokens(&[import_token(&name, &new)])
                    .await
                    .unwrap();
                assert_eq!(report.tokens_imported, 1);
                (Some(new), None)
            }
            ("import.rs", "commit") => {
                let imported = format!("{name}-imported");
                let new = store.generate_key().unwrap();
                let mut import = store.import_begin().await.unwrap();
                import.users(&[import_user(&imported)]).await.unwrap();
                import
                    .tokens(&[import_token(&imported, &new)])
                    .await
                    .unwrap();
                import.commit().await.unwrap();
                (Some(new), None)
            }
            _ => panic!("{file} {call}: no case says what another process must see"),
        };
        if let Some(new) = &added {
            assert_eq!(
                status(&other, new.expose_secret()).await,
                200,
                "{call}: the added key, at its first use in the other process"
            );
        }
        if let Some(old) = narrowed {
            refused_here_at_once(&store, old.expose_secret(), call).await;
            let took = refused_within_bound(&other, old.expose_secret(), call).await;
            seen.push(format!("{call} {:.1} ms", took.as_secs_f64() * 1000.0));
        }
    }
    eprintln!(
        "{backend:?}: refused by the other process after: {}",
        seen.join(", ")
    );
}

fn import_user(username: &str) -> import::User {
    import::User {
        id: None,
        username: username.to_owned(),
        password_hash: None,
        is_active: true,
        date_joined: Utc::now(),
    }
}

fn import_token(username: &str, key: &Key) -> import::Token {
    import::Token {
        username: username.to_owned(),
        key: key.clone(),
        created: Utc::now(),
        name: String::new(),
    }
}
