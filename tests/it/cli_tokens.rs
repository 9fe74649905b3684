//! The `tokenauth` CLI's token commands of issue 20, run as an administrator runs them (the
//! built binary, in a process of its own) on both backends: `roll` with and without a grace
//! period, `create-token --allow-ip/--read-only`, `list-tokens --unused-for` and
//! `prune-expired --unused-for`, and the bad arguments each refuses without changing anything.
//! What the CLI did is checked through a store without an authentication cache, which reads
//! the database on every call.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::Backend;
use tokenauth::rejection::Reason;
use tokenauth::store::AuthenticateError;
use tokenauth::{NewToken, Store};

common::on_both_backends!(
    roll_replaces_the_key_at_once,
    roll_with_a_grace_keeps_the_old_key_until_it_ends,
    roll_refuses_bad_arguments_and_changes_nothing,
    create_token_sets_limits_and_refuses_malformed_networks,
    unused_tokens_are_listed_and_pruned,
);

/// A fresh, migrated database with `alice` and `bob`: its URL, a store on it that reads the
/// database at every authentication, and the SQLite file's directory (kept while it lives).
async fn database(backend: Backend) -> (String, Store, Option<tempfile::TempDir>) {
    let (url, store, dir) = common::uncached_database(backend).await;
    for name in ["alice", "bob"] {
        store.create_user(name, None).await.unwrap();
    }
    (url, store, dir)
}

/// Runs the `tokenauth` CLI on `url` with `args`, whatever its outcome.
async fn run(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(common::built_binary("tokenauth"))
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .await
        .unwrap()
}

/// Checks that the CLI failed with exit code `code`, printing nothing on standard output and
/// a message containing `message` on standard error.
fn failed(output: &Output, code: i32, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{output:?}");
    assert!(stderr.contains(message), "{message:?} not in {stderr:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

/// The key in `Generated token <key> for user <username>`, `create-token`'s and `roll`'s one
/// line on standard output.
fn generated_key(output: &Output, username: &str) -> String {
    assert!(output.status.success(), "{output:?}");
    let text = std::str::from_utf8(&output.stdout).unwrap();
    let key = text
        .strip_prefix("Generated token ")
        .and_then(|rest| rest.strip_suffix(&format!(" for user {username}\n")))
        .unwrap_or_else(|| panic!("unexpected output {text:?}"));
    assert_eq!(key.len(), 40, "{text:?}");
    key.to_owned()
}

/// Whether `store` accepts `key` (and refuses it as `Invalid token.` otherwise).
async fn accepted(store: &Store, key: &str) -> bool {
    match store.authenticate(key).await {
        Ok(_) => true,
        Err(AuthenticateError::Denied(Reason::InvalidToken)) => false,
        Err(other) => panic!("{other:?}"),
    }
}

/// A token of `username`'s made with the store, its id and key.
async fn token_of(store: &Store, username: &str, options: NewToken) -> (i64, String) {
    let user = store.user_by_username(username).await.unwrap().unwrap();
    let (token, key) = store.tokens().create(user.id, options).await.unwrap();
    (token.id, key.expose_secret().to_owned())
}

/// `roll <id>`: the same token gets a new key, printed once; the old key is refused at once.
async fn roll_replaces_the_key_at_once(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let options = NewToken::named("ci")
        .scope("deploy")
        .unwrap()
        .allow_ip("10.0.0.0/8")
        .unwrap()
        .read_only(true);
    let (id, old) = token_of(&store, "alice", options).await;
    let output = run(&url, &["roll", &id.to_string()]).await;
    let new = generated_key(&output, "alice");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("Rolled token {id}; the previous key is refused from now on\n")
    );
    assert_ne!(new, old);
    assert!(
        !accepted(&store, &old).await,
        "the old key, refused at once"
    );
    let (user, token) = store.authenticate(&new).await.unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(token.id, id, "the same token");
    assert_eq!(token.name, "ci");
    assert_eq!(token.scopes, ["deploy"]);
    assert_eq!(token.allowed_ips.len(), 1);
    assert_eq!(token.allowed_ips[0].to_string(), "10.0.0.0/8");
    assert!(token.read_only);
    // Rolled again, the key just printed is refused in turn; with `TOKENAUTH_LOG=json`, the
    // roll's security event is logged on standard error, for an audit trail.
    let output = tokio::process::Command::new(common::built_binary("tokenauth"))
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("TOKENAUTH_LOG", "json")
        .args(["--database-url", &url, "roll", &id.to_string()])
        .output()
        .await
        .unwrap();
    let newer = generated_key(&output, "alice");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert_eq!(events.len(), 1, "{stderr}");
    assert_eq!(events[0]["target"], "tokenauth::security", "{stderr}");
    let fields = &events[0]["fields"];
    assert_eq!(
        (&fields["event"], &fields["token_id"], &fields["user_id"]),
        (
            &serde_json::json!("authn_token_rolled"),
            &serde_json::json!(id),
            &serde_json::json!(user.id)
        ),
        "{stderr}"
    );
    for key in [&new, &newer] {
        assert!(!stderr.contains(key.as_str()), "{stderr}");
    }
    assert!(!accepted(&store, &new).await);
    assert!(accepted(&store, &newer).await);
    assert_eq!(store.tokens().list_all().await.unwrap().len(), 1);
}

/// `roll <id> --grace 2s`: both keys work until the grace ends, ~2 s after the roll; then only
/// the new one. The message says until when.
async fn roll_with_a_grace_keeps_the_old_key_until_it_ends(backend: Backend) {
    const GRACE: Duration = Duration::from_secs(2);
    let (url, store, _dir) = database(backend).await;
    let (id, old) = token_of(&store, "alice", NewToken::default()).await;
    let (started, started_utc) = (Instant::now(), Utc::now());
    let output = run(&url, &["roll", &id.to_string(), "--grace", "2s"]).await;
    let (returned, returned_utc) = (Instant::now(), Utc::now());
    let new = generated_key(&output, "alice");
    // `Rolled token <id>; the previous key keeps working until <YYYY-MM-DD HH:MM:SSZ>`.
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let until = stderr
        .strip_prefix(&format!(
            "Rolled token {id}; the previous key keeps working until "
        ))
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected message {stderr:?}"));
    let until: DateTime<Utc> = chrono::NaiveDateTime::parse_from_str(until, "%Y-%m-%d %H:%M:%SZ")
        .unwrap()
        .and_utc();
    let grace = chrono::Duration::from_std(GRACE).unwrap();
    // Shown to the second, rounded down.
    assert!(
        until > started_utc + grace - chrono::Duration::seconds(1) && until <= returned_utc + grace,
        "{until} is not 2 s after the roll ({started_utc} – {returned_utc})"
    );
    assert!(accepted(&store, &new).await);
    // The old key: accepted until the grace ends, refused soon after; never refused before.
    let refused_at = loop {
        let asked = Instant::now();
        if !accepted(&store, &old).await {
            break asked;
        }
        assert!(
            asked < returned + GRACE + Duration::from_secs(1),
            "the old key still accepted {:?} after the roll",
            asked - started
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused_at >= started + GRACE,
        "refused {:?} after the roll, within its grace",
        refused_at - started
    );
    assert!(!accepted(&store, &old).await, "refused for good");
    assert!(accepted(&store, &new).await);
}

/// An unknown id, and a grace that is negative, too long, overflowing or not a duration:
/// a message, a non-zero exit, and the token keeps its key.
async fn roll_refuses_bad_arguments_and_changes_nothing(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let (id, key) = token_of(&store, "alice", NewToken::named("kept")).await;
    let id = id.to_string();
    let unknown = run(&url, &["roll", "999999"]).await;
    failed(&unknown, 1, "error: token 999999 does not exist");
    for (grace, message) in [
        ("--grace=-5s", "a duration cannot be negative"),
        ("-5s", "a duration cannot be negative"),
        ("-0s", "a duration cannot be negative"),
        ("101y", "at most 100 years"),
        ("1000000y", "at most 100 years"),
        ("18446744073709551615s15ms65ms5ms915ms", "at most 100 years"),
        (
            "99999999999999999999999999999999999999999s",
            "at most 100 years",
        ),
        ("soon", "invalid value 'soon' for '--grace <DURATION>'"),
        ("", "an empty duration"),
    ] {
        let args: Vec<&str> = match grace.strip_prefix("--grace=") {
            Some(_) => vec!["roll", &id, grace],
            None => vec!["roll", &id, "--grace", grace],
        };
        failed(&run(&url, &args).await, 2, message);
    }
    failed(
        &run(&url, &["roll", "seven"]).await,
        2,
        "invalid value 'seven'",
    );
    // Nothing changed: the key is the token's current one, and no previous key was made.
    let (_, token) = store.authenticate(&key).await.unwrap();
    assert_eq!(token.previous_key_until(), None);
    assert_eq!(token.name, "kept");
    assert_eq!(store.tokens().list_all().await.unwrap().len(), 1);
}

/// `create-token --allow-ip … --read-only` makes a token with those limits, which
/// `list-tokens` shows (never a key); a malformed network is named in the error, and no token
/// is made.
async fn create_token_sets_limits_and_refuses_malformed_networks(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let args = [
        "create-token",
        "alice",
        "--name",
        "dashboard",
        "--allow-ip",
        "10.1.2.3/8",
        "--allow-ip",
        "2001:db8::1",
        "--read-only",
    ];
    let limited = generated_key(&run(&url, &args).await, "alice");
    let (_, token) = store.authenticate(&limited).await.unwrap();
    let networks: Vec<String> = token.allowed_ips.iter().map(ToString::to_string).collect();
    assert_eq!(networks, ["10.0.0.0/8", "2001:db8::1/128"]);
    assert!(token.read_only);
    let plain = generated_key(&run(&url, &["create-token", "alice"]).await, "alice");
    let (_, token) = store.authenticate(&plain).await.unwrap();
    assert!(token.allowed_ips.is_empty() && !token.read_only);

    let listing = common::cli(&url, &["list-tokens", "alice"]).await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[0].ends_with("SCOPES  ALLOWED IPS                 READ ONLY"),
        "{listing}"
    );
    assert!(
        lines[1].contains("dashboard") && lines[1].ends_with("10.0.0.0/8 2001:db8::1/128  yes"),
        "{listing}"
    );
    assert!(
        lines[2].ends_with("anywhere                    no"),
        "{listing}"
    );
    for key in [&limited, &plain] {
        assert!(!listing.contains(key.as_str()), "a key listed: {listing}");
    }

    let before = store.tokens().list_all().await.unwrap();
    for (network, shown) in [
        ("10.0.0.0/33", "`10.0.0.0/33`"),
        ("example.com", "`example.com`"),
        ("10.0.0.0/8,10.1.0.0/16", "`10.0.0.0/8,10.1.0.0/16`"),
        ("", "``"),
    ] {
        let args = [
            "create-token",
            "alice",
            "--allow-ip",
            "192.0.2.0/24",
            "--allow-ip",
            network,
            "--read-only",
        ];
        failed(
            &run(&url, &args).await,
            1,
            &format!("error: --allow-ip: invalid network {shown}: expected an IP address"),
        );
    }
    let mut too_many = vec!["create-token".to_owned(), "bob".to_owned()];
    for n in 0..=tokenauth::rules::MAX_ALLOWED_IPS {
        too_many.extend(["--allow-ip".to_owned(), format!("10.0.{n}.0/24")]);
    }
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    failed(&run(&url, &too_many).await, 1, "too many networks");
    assert_eq!(
        store.tokens().list_all().await.unwrap(),
        before,
        "nothing created"
    );
}

/// Sets a token's `created` and `last_used_at` with plain SQL, as if it had been made and used
/// back then.
async fn backdate(
    store: &Store,
    id: i64,
    created: DateTime<Utc>,
    last_used: Option<DateTime<Utc>>,
) {
    let sql = "UPDATE tokenauth_tokens SET created = $1, last_used_at = $2 WHERE id = $3";
    match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(pool), _) => sqlx::query(sql)
            .bind(created)
            .bind(last_used)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        (_, Some(pool)) => sqlx::query(sql)
            .bind(created)
            .bind(last_used)
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
        (None, None) => unreachable!("a store has a pool"),
    }
    .unwrap();
}

/// The ids in a `list-tokens` listing (its first column, below the header).
fn listed_ids(listing: &str) -> Vec<i64> {
    let mut lines = listing.lines();
    assert!(lines.next().unwrap().starts_with("ID  "), "{listing}");
    lines
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// `list-tokens --unused-for 90d` lists exactly the tokens not used for 90 days (never used:
/// counted from their creation), of everyone or of one user; `prune-expired --unused-for 90d`
/// deletes exactly those, and a too short or malformed duration changes nothing.
async fn unused_tokens_are_listed_and_pruned(backend: Backend) {
    let (url, store, _dir) = database(backend).await;
    let now = Utc::now();
    let days = chrono::Duration::days;
    let mut stale = Vec::new();
    let mut live = Vec::new();
    // (owner, created, last used, stale after 90 days?)
    for (owner, created, last_used, is_stale) in [
        ("alice", now, None, false),
        ("alice", now - days(100), None, true),
        ("alice", now - days(200), Some(now - days(100)), true),
        ("alice", now - days(200), Some(now - days(1)), false),
        ("alice", now - days(89), None, false),
        ("bob", now - days(365), None, true),
        ("bob", now - days(365), Some(now - days(30)), false),
    ] {
        let (id, key) = token_of(&store, owner, NewToken::default()).await;
        backdate(&store, id, created, last_used).await;
        if is_stale {
            stale.push(id);
        } else {
            live.push((id, key));
        }
    }
    let everyone = common::cli(&url, &["list-tokens", "--unused-for", "90d"]).await;
    assert_eq!(listed_ids(&everyone), stale, "{everyone}");
    let alices = common::cli(&url, &["list-tokens", "alice", "--unused-for", "90d"]).await;
    assert_eq!(listed_ids(&alices), stale[..2], "{alices}");
    let bobs = common::cli(&url, &["list-tokens", "bob", "--unused-for", "2y"]).await;
    assert_eq!(listed_ids(&bobs), [] as [i64; 0], "{bobs}");
    failed(
        &run(&url, &["list-tokens", "nobody", "--unused-for", "90d"]).await,
        1,
        "error: user nobody does not exist",
    );

    for (args, code, message) in [
        (
            ["--unused-for", "0s"],
            2,
            "the duration is too short: at least 1s",
        ),
        (
            ["--unused-for", "500ms"],
            2,
            "the duration is too short: at least 1s",
        ),
        (["--unused-for", "-90d"], 2, "a duration cannot be negative"),
        (["--unused-for", "101y"], 2, "at most 100 years"),
        (["--unused-for", "stale"], 2, "invalid value 'stale'"),
    ] {
        failed(
            &run(&url, &[&["prune-expired"], &args[..]].concat()).await,
            code,
            message,
        );
        failed(
            &run(&url, &[&["list-tokens"], &args[..]].concat()).await,
            code,
            message,
        );
    }
    assert_eq!(
        store.tokens().list_all().await.unwrap().len(),
        7,
        "nothing pruned"
    );

    // With --older-than 50d, only those refused for more than 50 days: unused for 140.
    let pruned = common::cli(
        &url,
        &[
            "prune-expired",
            "--unused-for",
            "90d",
            "--older-than",
            "50d",
        ],
    )
    .await;
    assert_eq!(pruned, "Deleted 1 expired or unused token\n");
    let pruned = common::cli(&url, &["prune-expired", "--unused-for", "90d"]).await;
    assert_eq!(pruned, "Deleted 2 expired or unused tokens\n");
    let left: Vec<i64> = store
        .tokens()
        .list_all()
        .await
        .unwrap()
        .iter()
        .map(|token| token.id)
        .collect();
    let live_ids: Vec<i64> = live.iter().map(|(id, _)| *id).collect();
    assert_eq!(left, live_ids);
    for (_, key) in &live {
        assert!(accepted(&store, key).await);
    }
    let listing = common::cli(&url, &["list-tokens", "--unused-for", "90d"]).await;
    assert_eq!(listed_ids(&listing), [] as [i64; 0]);
    assert_eq!(
        common::cli(&url, &["prune-expired", "--unused-for", "90d"]).await,
        "Deleted 0 expired or unused tokens\n"
    );
}
