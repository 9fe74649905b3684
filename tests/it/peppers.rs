//! Peppered digests (`Policy::pepper`), on both backends with two instances on one database
//! and the `tokenauth` CLI beside them: a new key is stored as HMAC-SHA-256 under the current
//! pepper and never as its plain SHA-256; a dump without the pepper matches no key; rotation
//! keeps every older key working until its pepper is dropped; every path that finds a key by
//! its digest (the cache, the filter, the feed, revocation, a roll, an import, the CLI)
//! follows.

use crate::common;

use common::{Backend, Instance, get};
use sha2::{Digest as _, Sha256};
use tokenauth::{Key, NewToken, Policy, Store};

const OLD: [u8; 32] = [0x11; 32];
const NEW: [u8; 32] = [0x22; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA-256 (RFC 2104), written here from the RFC rather than taken from the library.
fn hmac_sha256(secret: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    block[..secret.len()].copy_from_slice(secret);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex(&outer)
}

fn sha256(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// `(key_digest, key_pepper)` of every token, as a dump would show them.
async fn dump(store: &Store) -> Vec<(String, Option<i16>)> {
    let sql = "SELECT key_digest, key_pepper FROM tokenauth_tokens ORDER BY id";
    if let Some(pool) = store.sqlite_pool() {
        sqlx::query_as(sql).fetch_all(pool).await.unwrap()
    } else {
        let pool = store.postgres_pool().unwrap();
        sqlx::query_as(sql).fetch_all(pool).await.unwrap()
    }
}

async fn open(url: &str, policy: Policy) -> Store {
    Store::connect(url).await.unwrap().with_policy(policy)
}

async fn works(store: &Store, key: &str) -> bool {
    store.authenticate(key).await.is_ok()
}

/// Polls `store` for at most 2 s until `key` is refused: a change through another store
/// reaches this one within the change feed's bound.
async fn refused_within_bound(store: &Store, key: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while works(store, key).await {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    true
}

async fn peppered_digests(backend: Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let plain = open(&url, Policy::default()).await;
    plain.migrate().await.unwrap();
    let alice = plain.create_user("alice", None).await.unwrap();
    // A key from before any pepper.
    let (_, before) = plain
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let before = before.expose_secret().to_owned();

    // Pepper 1 on two instances: a new key is stored as HMAC under it, with its id.
    let one_policy = Policy::default().pepper(1, OLD).unwrap();
    let one = open(&url, one_policy.clone()).await;
    let two = open(&url, one_policy.clone()).await;
    let (token, under_one) = one
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let under_one = under_one.expose_secret().to_owned();
    let rows = dump(&one).await;
    assert_eq!(
        rows[0],
        (sha256(&before), None),
        "the older key stays plain"
    );
    assert_eq!(rows[1], (hmac_sha256(&OLD, under_one.as_bytes()), Some(1)));
    assert!(
        rows.iter().all(|(digest, _)| *digest != sha256(&under_one)),
        "no plain SHA-256 of a new key"
    );
    // Both instances find both keys (the second caches them, and its filter holds them).
    for store in [&one, &two] {
        for key in [&before, &under_one] {
            assert!(works(store, key).await);
            assert!(works(store, key).await, "again, from the cache");
        }
    }

    // A dump and the list of keys, without the pepper, match nothing new; with it, all.
    let digests: Vec<String> = dump(&one).await.into_iter().map(|(d, _)| d).collect();
    assert!(!digests.contains(&sha256(&under_one)));
    assert!(digests.contains(&hmac_sha256(&OLD, under_one.as_bytes())));
    // And a store without the pepper does not accept the key.
    assert!(!works(&plain, &under_one).await);

    // A rotation's first step: pepper 2 given, pepper 1 still current (`current=1`, as
    // `TOKENAUTH_PEPPER` writes it): new keys stay under 1, which instances that have only
    // pepper 1 accept.
    let spec = format!("2:{},1:{},current=1", hex(&NEW), hex(&OLD));
    let step_one = open(&url, Policy::default().peppers(&spec).unwrap()).await;
    let (_, during) = step_one
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    assert!(
        works(&two, during.expose_secret()).await,
        "an instance without pepper 2"
    );
    let stored = hmac_sha256(&OLD, during.expose_secret().as_bytes());
    assert!(dump(&one).await.contains(&(stored, Some(1))));
    one.tokens()
        .revoke_leaked(&[during.expose_secret()])
        .await
        .unwrap();

    // Rotation: pepper 2 is current; pepper 1 and plain keys keep working everywhere.
    let rotating = Policy::default()
        .pepper(1, OLD)
        .unwrap()
        .pepper(2, NEW)
        .unwrap();
    let three = open(&url, rotating.clone()).await;
    let four = open(&url, rotating).await;
    let (_, under_two) = three
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let under_two = under_two.expose_secret().to_owned();
    assert_eq!(
        dump(&three).await[2],
        (hmac_sha256(&NEW, under_two.as_bytes()), Some(2))
    );
    for key in [&before, &under_one, &under_two] {
        assert!(works(&four, key).await, "rotation logs nobody out");
    }
    // A roll with the presented key (found under pepper 1) stores the new key under 2.
    let (_, rolled) = three
        .tokens()
        .roll_current(token.id, &under_one, chrono::Duration::zero())
        .await
        .unwrap();
    let rolled = rolled.expose_secret().to_owned();
    assert!(refused_within_bound(&four, &under_one).await);
    assert!(works(&four, &rolled).await);
    assert!(
        dump(&three)
            .await
            .contains(&(hmac_sha256(&NEW, rolled.as_bytes()), Some(2)))
    );
    // Revocation by key, and a leak report, find keys under any pepper.
    assert!(
        three
            .tokens()
            .revoke_key_of(alice.id, &before)
            .await
            .unwrap()
    );
    assert!(refused_within_bound(&four, &before).await);
    assert_eq!(
        three
            .tokens()
            .revoke_leaked(&[under_two.as_str()])
            .await
            .unwrap(),
        [true]
    );
    assert!(refused_within_bound(&four, &under_two).await);

    // An import stores under the current pepper, and finds a key already stored under
    // another (or plain) as present, not as a second token.
    let imported = Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b").unwrap();
    let token = |key: &Key| tokenauth::import::Token {
        username: "alice".to_owned(),
        key: key.clone(),
        created: chrono::Utc::now(),
        name: "drf".to_owned(),
    };
    let mut import = plain.import_begin().await.unwrap();
    import.tokens(&[token(&imported)]).await.unwrap();
    assert_eq!(import.commit().await.unwrap().tokens_imported, 1);
    let mut import = three.import_begin().await.unwrap();
    import.tokens(&[token(&imported)]).await.unwrap();
    let report = import.commit().await.unwrap();
    assert_eq!((report.tokens_imported, report.tokens_present), (0, 1));
    let fresh = Key::import("a".repeat(40)).unwrap();
    let mut import = three.import_begin().await.unwrap();
    import.tokens(&[token(&fresh)]).await.unwrap();
    import.commit().await.unwrap();
    assert!(
        dump(&three)
            .await
            .contains(&(hmac_sha256(&NEW, fresh.expose_secret().as_bytes()), Some(2)))
    );
    assert!(works(&four, imported.expose_secret()).await);
    assert!(works(&four, fresh.expose_secret()).await);

    // Pepper 1 dropped: its keys are refused, the others still work.
    let (_, last_under_one) = one
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let only_two = open(&url, Policy::default().pepper(2, NEW).unwrap()).await;
    assert!(!works(&only_two, last_under_one.expose_secret()).await);
    assert!(works(&only_two, &rolled).await);
    assert!(works(&only_two, imported.expose_secret()).await);

    // A reset with a key the user already has (stored before any pepper) replaces it,
    // as it does without peppers; another user's key is refused.
    let bob = plain.create_user("bob", None).await.unwrap();
    let (_, replaced) = three
        .tokens()
        .replace_all(alice.id, &imported, NewToken::default())
        .await
        .unwrap();
    // alice's keys then: the rolled, the imported, the fresh and the last under pepper 1.
    assert_eq!(replaced, 4);
    assert!(works(&four, imported.expose_secret()).await);
    let taken = three
        .tokens()
        .import(bob.id, &imported, NewToken::default())
        .await;
    assert!(
        matches!(taken, Err(tokenauth::Error::DuplicateKey)),
        "{taken:?}"
    );
}

/// The CLI beside two quickstart processes, all given the peppers by `TOKENAUTH_PEPPER`: a
/// key the CLI creates works on the instances; `tokenauth check` names keys under a pepper it
/// was not given, and plain keys left once a pepper is in use; the value is never printed.
async fn the_cli_and_the_quickstart_follow(backend: Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let spec = format!("1:{}", hex(&OLD));
    let env = [("TOKENAUTH_PEPPER", spec.as_str())];
    let one = Instance::start_with(&url, &env).await;
    let two = Instance::start_with(&url, &env).await;
    let plain = open(&url, Policy::default()).await;
    let run = |args: &'static [&'static str], pepper: Option<&str>| {
        let url = url.clone();
        let pepper = pepper.map(str::to_owned);
        async move {
            let mut command = tokio::process::Command::new(common::built_binary("tokenauth"));
            command.arg("--database-url").arg(&url).args(args);
            if let Some(pepper) = pepper {
                command.env("TOKENAUTH_PEPPER", pepper);
            }
            command.output().await.unwrap()
        }
    };
    let out = run(&["create-user", "bob", "--no-password"], Some(&spec)).await;
    assert!(out.status.success(), "{out:?}");
    let out = run(&["create-token", "bob"], Some(&spec)).await;
    assert!(out.status.success(), "{out:?}");
    // DRF's line: `Generated token <key> for user bob`.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.split_whitespace().nth(2).unwrap().to_owned();
    let header = format!("Token {key}");
    for instance in [&one, &two] {
        let status = get(instance.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status;
        assert_eq!(status, 200);
    }
    assert!(
        dump(&plain)
            .await
            .contains(&(hmac_sha256(&OLD, key.as_bytes()), Some(1)))
    );

    // The doctor, with the pepper: nothing wrong. Without it, or with another only: the two
    // keys under pepper 1 (bob's, and the demo key the quickstart made) are named.
    let out = run(&["check"], Some(&spec)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for pepper in [None, Some(format!("2:{}", hex(&NEW)))] {
        let out = run(&["check"], pepper.as_deref()).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success());
        assert!(
            stdout.contains(
                "2 keys are digested under pepper 1, which TOKENAUTH_PEPPER does not give"
            ),
            "{stdout}"
        );
    }
    // A plain key made by a store without pepper: counted while a pepper is in use.
    let bob = plain.user_by_username("bob").await.unwrap().unwrap();
    plain
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();
    let out = run(&["check"], Some(&spec)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 key is still digested with plain SHA-256"),
        "{stdout}"
    );

    // A bad value: a clear error that does not echo it.
    let secret = "zz".repeat(40);
    let out = run(&["list-tokens"], Some(&secret)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("TOKENAUTH_PEPPER") && !stderr.contains(&secret),
        "{stderr}"
    );
}

common::on_both_backends!(peppered_digests, the_cli_and_the_quickstart_follow);

#[test]
fn the_test_hmac_is_rfc_4231() {
    // RFC 4231, test case 2.
    assert_eq!(
        hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
