//! The `tokenauth` binary, run as a user runs it: help, argument errors, and every
//! subcommand against a real SQLite file and a real PostgreSQL database.

use assert_cmd::Command;
use predicates::prelude::*;
use tokenauth::Store;
use tokenauth::rejection::Reason;
use tokenauth::store::AuthenticateError;

fn tokenauth(url: &str) -> Command {
    let mut command = Command::cargo_bin("tokenauth").unwrap();
    command
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(url);
    command
}

/// The key printed by `create-token`, checking the exact DRF line.
fn generated_key(output: &[u8], username: &str) -> String {
    let text = std::str::from_utf8(output).unwrap();
    let key = text
        .strip_prefix("Generated token ")
        .and_then(|rest| rest.strip_suffix(&format!(" for user {username}\n")))
        .unwrap_or_else(|| panic!("unexpected output {text:?}"));
    assert_eq!(key.len(), 40, "{text:?}");
    assert!(key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    key.to_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let assert = Command::cargo_bin("tokenauth")
        .unwrap()
        .arg("--help")
        .assert()
        .success();
    let help = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for command in [
        "migrate",
        "create-user",
        "set-password",
        "activate",
        "deactivate",
        "create-token",
        "list-tokens",
        "roll",
        "revoke",
        "revoke-all",
        "prune-expired",
        "check",
        "--database-url",
        "DATABASE_URL",
    ] {
        assert!(help.contains(command), "{command} missing from\n{help}");
    }
    Command::cargo_bin("tokenauth")
        .unwrap()
        .args(["create-token", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--reset").and(predicate::str::contains("--key-stdin")));
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let url = "sqlite::memory:";
    tokenauth(url)
        .arg("frobnicate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unrecognized subcommand 'frobnicate'",
        ));
    tokenauth(url)
        .args(["create-token", "alice", "--expires-in", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'soon' for '--expires-in",
        ));
    tokenauth(url)
        .args(["revoke", "seven"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'seven'"));
    tokenauth(url)
        .args(["create-user", "alice", "--password-stdin", "--no-password"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    Command::cargo_bin("tokenauth")
        .unwrap()
        .env_remove("DATABASE_URL")
        .arg("list-tokens")
        .assert()
        .code(1)
        .stderr("error: no database: pass --database-url URL or set DATABASE_URL (e.g. sqlite://app.db or postgres://user@host/db)\n");
    tokenauth(url)
        .env("TOKENAUTH_LOG", "xml")
        .arg("list-tokens")
        .assert()
        .code(2)
        .stdout("")
        .stderr("error: TOKENAUTH_LOG must be `text` or `json`, not \"xml\"\n");
    tokenauth("mysql://localhost/app")
        .arg("migrate")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: unsupported database URL `mysql:`",
        ));
}

#[test]
fn a_missing_sqlite_file_is_not_created_except_by_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    tokenauth(&url)
        .args(["create-user", "alice", "--no-password"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("cannot open the SQLite database")
                .and(predicate::str::contains("`tokenauth migrate` creates it")),
        );
    assert!(!path.exists());
    tokenauth(&url).arg("migrate").assert().success();
    assert!(path.exists());
}

/// `import-django` refuses names that are not plain identifiers, URLs it cannot read and
/// databases without Django's tables, with one line and a non-zero exit, writing nothing.
#[test]
fn import_django_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("target.db").display());
    tokenauth(&url).arg("migrate").assert().success();
    let not_django = format!("sqlite://{}", dir.path().join("target.db").display());
    tokenauth(&url)
        .args(["import-django", "--from", &not_django, "--user-table"])
        .arg("auth_user\"; DROP TABLE x; --")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a table or column name is"));
    tokenauth(&url)
        .args(["import-django", "--from", "mysql://django@db/django"])
        .assert()
        .code(1)
        .stderr("error: --from takes a sqlite:// or postgres:// URL\n");
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    tokenauth(&url)
        .args(["import-django", "--from", &missing])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot open the Django database",
        ));
    assert!(
        !dir.path().join("missing.db").exists(),
        "read only: not created"
    );
    tokenauth(&url)
        .args(["import-django", "--from", &not_django])
        .assert()
        .code(1)
        .stderr("error: the Django database has no table auth_user (see --user-table, --token-table, --no-tokens)\n");

    // A column that does not exist is an error, not (as SQLite would read "idx") a constant.
    let django = dir.path().join("django.db");
    let django_url = format!("sqlite://{}", django.display());
    runtime().block_on(async {
        use tokenauth::sqlx::Connection as _;
        let options = tokenauth::sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&django)
            .create_if_missing(true);
        let mut conn = tokenauth::sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        for sql in [
            "CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT, password TEXT, \
             is_active BOOL, date_joined DATETIME)",
            "INSERT INTO auth_user VALUES (1, 'alice', '!', 1, '2020-01-01 00:00:00')",
        ] {
            tokenauth::sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    tokenauth(&url)
        .args([
            "import-django",
            "--from",
            &django_url,
            "--no-tokens",
            "--id-field",
            "idx",
        ])
        .assert()
        .code(1)
        .stderr(
            "error: the table auth_user has no column idx (see --id-field, --username-field)\n",
        );
    tokenauth(&url)
        .args(["import-django", "--from", &django_url])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no table authtoken_token"));
    tokenauth(&url)
        .args(["import-django", "--from", &django_url, "--no-tokens"])
        .assert()
        .success()
        .stdout("Users: 1 imported, 0 already present\nTokens: 0 imported, 0 already present\n");
}

#[test]
fn an_unmigrated_database_says_to_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::File::create(&path).unwrap();
    tokenauth(&format!("sqlite://{}", path.display()))
        .arg("list-tokens")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no such table")
                .and(predicate::str::contains("(run `tokenauth migrate` first)")),
        );
}

/// Every subcommand, end to end, checked through the library on the same database.
fn lifecycle(url: &str, runtime: &tokio::runtime::Runtime) {
    // A new database: migrate says what it applied; then that there is nothing to apply.
    let out = tokenauth(url).arg("migrate").assert().success();
    let applied = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        applied.starts_with("Applied migration 20261127000001 initial\n"),
        "{applied}"
    );
    assert!(
        applied.ends_with("migrations: tokenauth's tables are up to date\n"),
        "{applied}"
    );
    tokenauth(url)
        .arg("migrate")
        .assert()
        .success()
        .stdout("tokenauth's tables are up to date: no migration to apply\n");
    // Each check reads the database: this runtime runs only inside `block_on`, so a cache's
    // change feed would see the CLI's changes only after the check (tests/it/revocation.rs
    // checks the cache against the CLI, within its bound).
    let store = runtime
        .block_on(Store::connect_existing(url))
        .unwrap()
        .with_policy(tokenauth::Policy::default().no_auth_cache());

    tokenauth(url)
        .args(["create-user", "alice", "--password-stdin"])
        .write_stdin("correct horse\n")
        .assert()
        .success()
        .stdout("Created user alice\n");
    tokenauth(url)
        .args(["create-user", "alice", "--no-password"])
        .assert()
        .code(1)
        .stderr("error: a user named `alice` already exists\n");
    tokenauth(url)
        .args(["create-user", "bob", "--password-stdin"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("empty"));
    tokenauth(url)
        .args(["create-user", "carol"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--password-stdin"));
    assert!(
        runtime
            .block_on(store.user_by_username("carol"))
            .unwrap()
            .is_none(),
        "nothing half-written"
    );
    tokenauth(url)
        .args(["create-user", "bot", "--no-password", "--inactive"])
        .assert()
        .success()
        .stdout("Created user bot (inactive)\n");
    assert!(
        runtime
            .block_on(store.check_password("alice", "correct horse"))
            .unwrap()
            .is_some()
    );

    // DRF's drf_create_token, byte for byte.
    let out = tokenauth(url)
        .args(["create-token", "alice"])
        .assert()
        .success();
    let first = generated_key(&out.get_output().stdout, "alice");
    tokenauth(url)
        .args(["create-token", "nobody"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("Cannot create the Token: user nobody does not exist\n");
    let out = tokenauth(url)
        .args([
            "create-token",
            "alice",
            "--name",
            "ci",
            "--expires-in",
            "30d",
            "--scope",
            "deploy",
            "--scope",
            "read",
        ])
        .assert()
        .success();
    let second = generated_key(&out.get_output().stdout, "alice");
    let (_, token) = runtime.block_on(store.authenticate(&second)).unwrap();
    assert_eq!(
        (token.name.as_str(), token.scopes.clone()),
        ("ci", vec!["deploy".to_owned(), "read".to_owned()])
    );
    let ttl = token.expires_at.unwrap() - token.created;
    assert!(
        (ttl - chrono::Duration::days(30)).num_seconds().abs() < 5,
        "{ttl}"
    );
    assert!(runtime.block_on(store.authenticate(&first)).is_ok());

    // -r revokes the others, atomically.
    let out = tokenauth(url)
        .args(["create-token", "-r", "alice"])
        .assert()
        .success();
    let third = generated_key(&out.get_output().stdout, "alice");
    for old in [&first, &second] {
        assert!(matches!(
            runtime.block_on(store.authenticate(old)),
            Err(AuthenticateError::Denied(Reason::InvalidToken))
        ));
    }
    assert!(runtime.block_on(store.authenticate(&third)).is_ok());

    // Importing a Django key (shown to nobody); importing it again changes nothing.
    let drf_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
    tokenauth(url)
        .args(["create-token", "alice", "--key-stdin", "--name", "django"])
        .write_stdin(format!("{drf_key}\n"))
        .assert()
        .success()
        .stdout("Imported a token for user alice\n") // never the key
        .stderr("");
    let out = tokenauth(url)
        .args(["create-token", "bot"])
        .assert()
        .success();
    let bot_key = generated_key(&out.get_output().stdout, "bot");
    tokenauth(url)
        .args(["create-token", "-r", "bot", "--key-stdin"])
        .write_stdin(drf_key)
        .assert()
        .code(1)
        .stderr("error: a token with this key already exists\n");
    let bot = runtime
        .block_on(store.user_by_username("bot"))
        .unwrap()
        .unwrap();
    assert_eq!(
        runtime.block_on(store.tokens().list(bot.id)).unwrap().len(),
        1,
        "-r rolled back"
    );
    assert_eq!(
        runtime
            .block_on(store.authenticate(drf_key))
            .unwrap()
            .0
            .username,
        "alice"
    );
    drop(bot_key);

    // Listing shows everything but the keys.
    let out = tokenauth(url)
        .args(["list-tokens", "alice"])
        .assert()
        .success();
    let listing = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(listing.starts_with("ID  USER   NAME"), "{listing}");
    assert!(listing.contains("django"), "{listing}");
    assert_eq!(listing.lines().count(), 3, "{listing}");
    for key in [&first, &second, &third, &drf_key.to_owned()] {
        assert!(!listing.contains(key.as_str()));
    }
    tokenauth(url)
        .args(["list-tokens", "nobody"])
        .assert()
        .code(1)
        .stderr("error: user nobody does not exist\n");

    // Deactivation keeps the user's tokens and refuses them, as DRF; a new password revokes
    // them. Both say how many tokens they revoked.
    tokenauth(url)
        .args(["deactivate", "alice"])
        .assert()
        .success()
        .stdout(
            "Deactivated user alice; revoked 0 tokens; 2 tokens kept, refused until \
             `tokenauth activate alice`\n",
        );
    assert!(matches!(
        runtime.block_on(store.authenticate(&third)),
        Err(AuthenticateError::Denied(Reason::UserInactive))
    ));
    let response = tokenauth(url)
        .args(["create-token", "alice"])
        .assert()
        .success();
    let fourth = generated_key(&response.get_output().stdout, "alice");
    assert!(matches!(
        runtime.block_on(store.authenticate(&fourth)),
        Err(AuthenticateError::Denied(Reason::UserInactive))
    ));
    tokenauth(url)
        .args(["activate", "alice"])
        .assert()
        .success()
        .stdout("Activated user alice\n");
    assert!(runtime.block_on(store.authenticate(&fourth)).is_ok());
    assert!(
        runtime.block_on(store.authenticate(&third)).is_ok(),
        "kept through the deactivation"
    );

    tokenauth(url)
        .args(["set-password", "alice", "--password-stdin"])
        .write_stdin("battery staple")
        .assert()
        .success()
        .stdout("Set the password of user alice; revoked 3 tokens\n");
    assert!(
        runtime
            .block_on(store.check_password("alice", "battery staple"))
            .unwrap()
            .is_some()
    );
    assert!(
        runtime
            .block_on(store.check_password("alice", "correct horse"))
            .unwrap()
            .is_none()
    );
    assert!(
        runtime.block_on(store.authenticate(&fourth)).is_err(),
        "revoked by the new password"
    );

    // Revocation.
    let mut keys = Vec::new();
    for _ in 0..2 {
        let response = tokenauth(url)
            .args(["create-token", "alice"])
            .assert()
            .success();
        keys.push(generated_key(&response.get_output().stdout, "alice"));
    }
    let (_, token) = runtime.block_on(store.authenticate(&keys[0])).unwrap();
    let id = token.id.to_string();
    tokenauth(url)
        .args(["revoke", &id])
        .assert()
        .success()
        .stdout(format!("Revoked token {id}\n"));
    tokenauth(url)
        .args(["revoke", &id])
        .assert()
        .code(1)
        .stderr(format!("error: token {id} does not exist\n"));
    tokenauth(url)
        .args(["revoke-all", "alice"])
        .assert()
        .success()
        .stdout("Revoked 1 token of user alice\n");
    assert!(runtime.block_on(store.authenticate(&keys[1])).is_err());

    // Pruning deletes only what expired before the cutoff.
    let alice = runtime
        .block_on(store.user_by_username("alice"))
        .unwrap()
        .unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(10);
    let recently = chrono::Utc::now() - chrono::Duration::hours(1);
    for at in [long_ago, recently] {
        runtime
            .block_on(
                store
                    .tokens()
                    .create(alice.id, tokenauth::NewToken::default().expires_at(at)),
            )
            .unwrap();
    }
    runtime
        .block_on(
            store
                .tokens()
                .create(alice.id, tokenauth::NewToken::default()),
        )
        .unwrap();
    tokenauth(url)
        .args(["prune-expired", "--older-than", "7d"])
        .assert()
        .success()
        .stdout("Deleted 1 expired token\n");
    tokenauth(url)
        .arg("prune-expired")
        .assert()
        .success()
        .stdout("Deleted 1 expired token\n");
    assert_eq!(
        runtime
            .block_on(store.tokens().list(alice.id))
            .unwrap()
            .len(),
        1
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn sqlite_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    lifecycle(
        &format!("sqlite://{}", dir.path().join("cli.db").display()),
        &runtime(),
    );
}

#[test]
fn postgres_lifecycle() {
    let runtime = runtime();
    lifecycle(&postgres_database(&runtime, "lifecycle"), &runtime);
}

/// The URL of a new, empty PostgreSQL database named after this process and `purpose`.
fn postgres_database(runtime: &tokio::runtime::Runtime, purpose: &str) -> String {
    let admin = std::env::var("TOKENAUTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a server and TOKENAUTH_TEST_POSTGRES_URL is not set: run \
             the README's test command, `tests/run`, which starts a throwaway one"
        )
    });
    let name = format!("tokenauth_cli_test_{}_{purpose}", std::process::id());
    runtime.block_on(async {
        let pool = tokenauth::sqlx::PgPool::connect(&admin).await.unwrap();
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            tokenauth::sqlx::query(tokenauth::sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
    });
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

#[test]
fn a_locked_sqlite_database_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("locked.db").display());
    tokenauth(&url).arg("migrate").assert().success();
    runtime().block_on(async {
        // Another connection holds the write lock for the whole run.
        let pool = tokenauth::sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        tokenauth::sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut *conn)
            .await
            .unwrap();
        tokenauth(&url)
            .args(["create-user", "alice", "--no-password"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("database is locked"));
        tokenauth::sqlx::query("ROLLBACK")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        pool.close().await;
        let store = Store::connect_existing(&url).await.unwrap();
        assert!(store.user_by_username("alice").await.unwrap().is_none());
    });
}

/// A migrated SQLite file with user `alice`, and a store on it.
fn sqlite_with_alice(dir: &tempfile::TempDir) -> (String, Store, tokenauth::User) {
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    tokenauth(&url).arg("migrate").assert().success();
    let (store, alice) = runtime().block_on(async {
        let store = Store::connect_existing(&url).await.unwrap();
        let alice = store.create_user("alice", None).await.unwrap();
        (store, alice)
    });
    (url, store, alice)
}

#[test]
fn durations_beyond_a_timestamp_are_argument_errors_not_panics() {
    let url = "sqlite::memory:";
    for args in [
        ["create-token", "alice", "--expires-in", "1000000y"],
        ["prune-expired", "--older-than", "1000000y", "--"],
        ["list-tokens", "--max-ttl", "99999999999999d", "--"],
        // Found by fuzzing: humantime's parser panicked on this sum.
        [
            "create-token",
            "alice",
            "--expires-in",
            "18446744073709551615s15ms65ms5ms915ms",
        ],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| *a != "--").collect();
        tokenauth(url)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("at most 100 years"));
    }
}

#[test]
fn the_max_ttl_clamps_what_the_cli_creates() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    for args in [
        vec!["create-token", "alice", "--expires-in", "10y"],
        vec!["create-token", "alice"],
    ] {
        tokenauth(&url)
            .args(&args)
            .args(["--max-ttl", "1h"])
            .assert()
            .success();
    }
    let tokens = runtime().block_on(store.tokens().list(alice.id)).unwrap();
    assert_eq!(tokens.len(), 2);
    for token in tokens {
        let lifetime = token.expires_at.expect("the maximum applies") - token.created;
        assert!(lifetime <= chrono::Duration::hours(1), "{lifetime}");
    }
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    runtime().block_on(async {
        for _ in 0..1500 {
            store
                .tokens()
                .create(alice.id, tokenauth::NewToken::named("laptop"))
                .await
                .unwrap();
        }
    });
    // `tokenauth list-tokens | head -n 1`: more than a pipe buffer of output, read one line.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokenauth"))
        .args(["--database-url", &url, "list-tokens"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("ID"), "{first:?}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn stored_text_is_escaped_in_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    runtime().block_on(async {
        store
            .tokens()
            .create(alice.id, tokenauth::NewToken::named("laptop"))
            .await
            .unwrap();
        // Written by plain SQL, bypassing tokenauth's own checks.
        tokenauth::sqlx::query("UPDATE tokenauth_tokens SET name = $1, scopes = $2")
            .bind("evil\u{1b}[2J\n99  mallory  forged")
            .bind("read \u{202e}nimda")
            .execute(store.sqlite_pool().unwrap())
            .await
            .unwrap();
    });
    let out = tokenauth(&url).arg("list-tokens").assert().success();
    let listing = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(listing.lines().count(), 2, "no forged row: {listing}");
    assert!(
        !listing.contains(['\u{1b}', '\u{202e}']),
        "no raw control characters: {listing:?}"
    );
    assert!(
        listing.contains(r"evil\u{1b}[2J\n99  mallory  forged"),
        "{listing}"
    );
    assert!(listing.contains(r"read \u{202e}nimda"), "{listing}");
    // The same checks refuse such text at input.
    tokenauth(&url)
        .args(["create-token", "alice", "--name", "bell\u{7}"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid token name"));
}

#[test]
fn deactivate_can_delete_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    runtime().block_on(async {
        for _ in 0..2 {
            store
                .tokens()
                .create(alice.id, tokenauth::NewToken::default())
                .await
                .unwrap();
        }
    });
    tokenauth(&url)
        .args(["deactivate", "alice", "--revoke"])
        .assert()
        .success()
        .stdout(
            "Deactivated user alice; revoked 2 tokens; 0 tokens kept, refused until \
             `tokenauth activate alice`\n",
        );
    assert!(
        runtime()
            .block_on(store.tokens().list(alice.id))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_key_that_cannot_be_shown_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    // Standard output is a pipe whose reader is gone: the key cannot be delivered.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokenauth"))
        .args(["--database-url", &url, "create-token", "alice"])
        .env_remove("DATABASE_URL")
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot write the key to standard output")
            && stderr.contains("the new token was revoked"),
        "{stderr}"
    );
    assert!(
        runtime()
            .block_on(store.tokens().list(alice.id))
            .unwrap()
            .is_empty()
    );
}

/// A roll cannot be undone: when its key cannot be shown, the error says so and how to get a
/// key, and the old key's fate.
#[test]
fn a_rolled_key_that_cannot_be_shown_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store, alice) = sqlite_with_alice(&dir);
    let (token, old) = runtime()
        .block_on(
            store
                .tokens()
                .create(alice.id, tokenauth::NewToken::default()),
        )
        .unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let id = token.id.to_string();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("tokenauth"))
        .args(["--database-url", &url, "roll", &id])
        .env_remove("DATABASE_URL")
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot write the key to standard output")
            && stderr.ends_with(&format!(
                "token {id} was rolled all the same and the previous key is refused from now \
                 on: roll it again (`tokenauth roll {id}`)\n"
            )),
        "{stderr}"
    );
    let store = store.with_policy(tokenauth::Policy::default().no_auth_cache());
    assert!(
        runtime()
            .block_on(store.authenticate(old.expose_secret()))
            .is_err()
    );
}

/// A Django-shaped SQLite database (`auth_user`, `authtoken_token`) at `path`, filled by `sql`.
fn django_source(path: &std::path::Path, sql: &[&str]) -> String {
    runtime().block_on(async {
        use tokenauth::sqlx::Connection as _;
        let options = tokenauth::sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let mut conn = tokenauth::sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let schema = [
            "CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT, password TEXT, \
             is_active BOOL, date_joined DATETIME)",
            "CREATE TABLE authtoken_token (key TEXT PRIMARY KEY, created DATETIME, \
             user_id INTEGER)",
        ];
        for statement in schema.iter().chain(sql) {
            tokenauth::sqlx::query(tokenauth::sqlx::AssertSqlSafe(*statement))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    });
    format!("sqlite://{}", path.display())
}

/// A migrated tokenauth database of each backend: a SQLite file in `dir`, and a new
/// PostgreSQL database.
fn targets(dir: &tempfile::TempDir, purpose: &str) -> [String; 2] {
    let sqlite = format!("sqlite://{}", dir.path().join("target.db").display());
    let postgres = postgres_database(&runtime(), purpose);
    for url in [&sqlite, &postgres] {
        tokenauth(url).arg("migrate").assert().success();
    }
    [sqlite, postgres]
}

/// The usernames in a tokenauth database.
fn usernames(url: &str) -> Vec<String> {
    runtime().block_on(async {
        let store = Store::connect_existing(url).await.unwrap();
        let users = store.users().await.unwrap();
        store.close().await;
        users.into_iter().map(|user| user.username).collect()
    })
}

/// Standard error, checked to be one line.
fn one_line(output: &std::process::Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.matches('\n').count(), 1, "{stderr}");
    stderr
}

/// Usernames as Django stores them: `create-user` normalizes (NFKC), so `ａlice` is `alice`;
/// the import keeps a name Django holds unnormalized, and refuses two names that are one once
/// normalized, with one line and nothing written.
#[test]
fn usernames_are_normalized_as_django_does() {
    let dir = tempfile::tempdir().unwrap();
    let colliding = django_source(
        &dir.path().join("colliding.db"),
        &[
            "INSERT INTO auth_user VALUES (101, 'ｃarol', '!', 1, '2020-01-01 00:00:00')",
            "INSERT INTO auth_user VALUES (102, 'carol', '!', 1, '2020-01-01 00:00:00')",
        ],
    );
    let kept = django_source(
        &dir.path().join("kept.db"),
        &["INSERT INTO auth_user VALUES (7, 'ｂob', '!', 1, '2020-01-01 00:00:00')"],
    );
    for url in targets(&dir, "nfkc") {
        tokenauth(&url)
            .args(["create-user", "ﬀ", "--no-password"])
            .assert()
            .success()
            .stdout("Created user ff\n");
        tokenauth(&url)
            .args(["create-user", "ff", "--no-password"])
            .assert()
            .code(1)
            .stderr("error: a user named `ff` already exists\n");
        tokenauth(&url)
            .args(["create-user", "ａｌｉｃｅ", "--no-password"])
            .assert()
            .success()
            .stdout("Created user alice\n");
        tokenauth(&url)
            .args(["create-user", "ａlice", "--no-password"])
            .assert()
            .code(1)
            .stderr("error: a user named `alice` already exists\n");

        let out = tokenauth(&url)
            .args(["import-django", "--from", &colliding])
            .assert()
            .code(1);
        let stderr = one_line(out.get_output());
        assert!(
            stderr.starts_with("error: import conflict: users `ｃarol` and `carol` (#102)")
                && stderr.contains("are one username once normalized")
                && stderr.ends_with("; nothing was imported\n"),
            "{stderr}"
        );
        assert_eq!(usernames(&url), ["ff", "alice"], "{url}");

        tokenauth(&url)
            .args(["import-django", "--from", &kept])
            .assert()
            .success()
            .stdout(
                "Users: 1 imported, 0 already present\nTokens: 0 imported, 0 already present\n",
            );
        assert_eq!(usernames(&url), ["ff", "alice", "ｂob"], "{url}");
        tokenauth(&url)
            .args(["create-token", "ｂob"])
            .assert()
            .success();
    }
}

/// An imported id of `i64::MAX` would leave no id for the next `create-user`: refused up
/// front, with one line that points to `--new-ids`, and nothing written.
#[test]
fn the_last_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = django_source(
        &dir.path().join("django.db"),
        &[
            "INSERT INTO auth_user VALUES (1, 'alice', '!', 1, '2020-01-01 00:00:00')",
            "INSERT INTO auth_user VALUES (9223372036854775807, 'mallory', '!', 1, \
             '2020-01-01 00:00:00')",
        ],
    );
    for url in targets(&dir, "last_id") {
        let out = tokenauth(&url)
            .args(["import-django", "--from", &source])
            .assert()
            .code(1);
        let stderr = one_line(out.get_output());
        assert!(
            stderr.starts_with(
                "error: import conflict: user mallory has id 9223372036854775807, the largest"
            ) && stderr.contains("`--new-ids`"),
            "{stderr}"
        );
        assert_eq!(usernames(&url), Vec::<String>::new(), "{url}");
        tokenauth(&url)
            .args(["create-user", "carol", "--no-password"])
            .assert()
            .success();
        tokenauth(&url)
            .args(["import-django", "--from", &source, "--new-ids"])
            .assert()
            .success()
            .stdout(
                "Users: 2 imported, 0 already present\nTokens: 0 imported, 0 already present\n",
            );
        tokenauth(&url)
            .args(["create-user", "dave", "--no-password"])
            .assert()
            .success();
    }
}

/// A hostile Django database cannot make the import hold it in memory nor flood the terminal:
/// the import runs with 64 MiB of data memory over 100 MB of password fields and of keys (it
/// needed 1.2 GB for 300 MB), a password over Django's 128 characters is reported and not
/// imported, a key over 256 characters is skipped, and a 5 MB username is refused with one
/// short line.
#[test]
fn the_import_is_bounded_on_a_hostile_source() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("target.db").display());
    tokenauth(&url).arg("migrate").assert().success();
    let rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)";
    let megabyte = "printf('%.*c', 1048576, 'x')";
    let passwords = django_source(
        &dir.path().join("passwords.db"),
        &[&format!(
            "{rows} INSERT INTO auth_user SELECT i, 'user' || i, \
             'pbkdf2_sha256$1000000$' || {megabyte}, 1, '2020-01-01 00:00:00' FROM n"
        )],
    );
    let keys = django_source(
        &dir.path().join("keys.db"),
        &[
            "INSERT INTO auth_user VALUES (1000, 'keyholder', '!', 1, '2020-01-01 00:00:00')",
            "INSERT INTO authtoken_token VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', \
             '2020-01-01 00:00:00', 1000)",
            &format!(
                "{rows} INSERT INTO authtoken_token SELECT i || {megabyte}, \
                 '2020-01-01 00:00:00', 1000 FROM n"
            ),
        ],
    );
    let limited = |args: &[&str]| {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("ulimit -d 65536 && exec \"$@\"")
            .arg("sh")
            .arg(assert_cmd::cargo::cargo_bin("tokenauth"))
            .args(["--database-url", &url])
            .args(args)
            .env_remove("DATABASE_URL")
            // A process out of memory may hang instead of failing.
            .timeout(std::time::Duration::from_secs(60));
        command
    };

    let out = limited(&["import-django", "--from", &passwords, "--no-tokens"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with(
            "warning: the password of user user1 is longer than Django's 128 characters, so it \
             is no Django hash: the user is imported without a password and needs a new one\n"
        ) && stdout.ends_with(
            "warning: … and 80 more warnings\nUsers: 100 imported, 0 already present\n\
             Tokens: 0 imported, 0 already present\n"
        ),
        "{stdout}"
    );
    runtime().block_on(async {
        let store = Store::connect_existing(&url).await.unwrap();
        let with_hash: i64 = tokenauth::sqlx::query_scalar(
            "SELECT count(*) FROM tokenauth_users WHERE password_hash IS NOT NULL",
        )
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
        assert_eq!(with_hash, 0);
        store.close().await;
    });

    limited(&["import-django", "--from", &keys])
        .assert()
        .success()
        .stdout(
            "Users: 1 imported, 0 already present\nTokens: 1 imported, 0 already present\n\
             Skipped 100 tokens whose keys are over 256 characters (DRF's are 40): no client \
             can send them\n",
        );

    let huge = django_source(
        &dir.path().join("username.db"),
        &[
            "INSERT INTO auth_user VALUES (5000, printf('%.*c', 5242880, 'u'), '!', 1, \
           '2020-01-01 00:00:00')",
        ],
    );
    let out = limited(&["import-django", "--from", &huge])
        .assert()
        .code(1);
    let stderr = one_line(out.get_output());
    assert_eq!(
        stderr,
        format!(
            "error: invalid username `{}…` (5242880 characters) of user #5000: use 1 to 150 \
             letters, digits and `@`, `.`, `+`, `-`, `_` characters; nothing was imported\n",
            "u".repeat(100)
        )
    );
    assert_eq!(usernames(&url).len(), 101, "nothing more was written");
}
