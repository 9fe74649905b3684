//! What each subcommand does. Every failure is one line for standard error; what comes from
//! the database is escaped before it reaches the terminal.

use std::io::Write as _;

use chrono::{DateTime, SubsecRound as _, Utc};
use tokenauth::{Key, NewToken, Policy, Store, Token, User};
use tokenauth_cli::printable;

use crate::args::{Cli, Command};
use crate::input;
use crate::output::{Failure, say, store_error};

/// Runs the command.
pub(crate) async fn run(cli: Cli) -> Result<(), Failure> {
    let Some(url) = cli.database_url else {
        return Err(
            "error: no database: pass --database-url URL or set DATABASE_URL \
                    (e.g. sqlite://app.db or postgres://user@host/db)"
                .to_owned()
                .into(),
        );
    };
    if let Command::MigrateDjango = cli.command {
        let store = Store::connect_existing(&url).await.map_err(store_error)?;
        let applied = tokenauth::django::migrate(&store)
            .await
            .map_err(store_error)?;
        for migration in &applied {
            say!(
                "Applied migration {} {}",
                migration.version,
                migration.description
            );
        }
        say!(
            "Django's database is ready for tokenauth::django::DjangoUser{}",
            if applied.is_empty() {
                " (it was already)"
            } else {
                ""
            }
        );
        return Ok(());
    }
    if let Command::Check = cli.command {
        return crate::check::run(&url, cli.max_ttl).await;
    }
    if let Command::Migrate = cli.command {
        let store = Store::connect(&url).await.map_err(store_error)?;
        let applied = store.migrate().await.map_err(store_error)?;
        for migration in &applied {
            say!(
                "Applied migration {} {}",
                migration.version,
                migration.description
            );
        }
        if applied.is_empty() {
            say!("tokenauth's tables are up to date: no migration to apply");
        } else {
            let plural = if applied.len() == 1 { "" } else { "s" };
            say!(
                "Applied {} migration{plural}: tokenauth's tables are up to date",
                applied.len()
            );
        }
        return Ok(());
    }
    let store = Store::connect_existing(&url).await.map_err(|err| {
        if url.starts_with("sqlite:") && matches!(err, tokenauth::Error::Database(_)) {
            format!("error: cannot open the SQLite database {url}: {err} (`tokenauth migrate` creates it)")
        } else {
            store_error(err)
        }
    })?;
    let mut policy = crate::env::with_peppers(Policy::default())?;
    if let Some(max_ttl) = cli.max_ttl {
        policy = policy.max_ttl(max_ttl);
    }
    let store = store.with_policy(policy);
    let done = manage(&store, cli.command).await;
    // Tells the running instances of the changes made (a hint sent in the background), and
    // closes the connections, before the process exits.
    store.close().await;
    done
}

/// Runs a command that manages users and tokens.
async fn manage(store: &Store, command: Command) -> Result<(), Failure> {
    match command {
        Command::Migrate | Command::MigrateDjango | Command::Check => unreachable!("handled above"),
        Command::CreateUser {
            username,
            password_stdin,
            no_password,
            inactive,
        } => {
            let password = (!no_password)
                .then(|| input::password(password_stdin))
                .transpose()?;
            let user = store
                .create_user_with(&username, password.as_deref(), !inactive)
                .await
                .map_err(store_error)?;
            let state = if user.is_active { "" } else { " (inactive)" };
            say!("Created user {}{state}", printable(&user.username));
        }
        Command::SetPassword {
            username,
            password_stdin,
            no_password,
        } => {
            let user = existing_user(store, &username).await?;
            let password = (!no_password)
                .then(|| input::password(password_stdin))
                .transpose()?;
            let revoked = store
                .set_password(user.id, password.as_deref())
                .await
                .map_err(store_error)?;
            let done = if password.is_some() { "Set" } else { "Removed" };
            say!(
                "{done} the password of user {}; revoked {}",
                printable(&username),
                tokens(revoked)
            );
        }
        Command::Activate { username } => set_active(store, &username, true).await?,
        Command::Deactivate { username, revoke } => {
            let policy = store.policy().clone().revoke_on_deactivation(revoke);
            set_active(&store.clone().with_policy(policy), &username, false).await?
        }
        Command::CreateToken {
            username,
            reset,
            name,
            expires_in,
            scopes,
            allowed_ips,
            read_only,
            key_stdin,
        } => {
            let options = token_options(name, expires_in, scopes, allowed_ips, read_only)?;
            create_token(store, &username, reset, options, key_stdin).await?
        }
        Command::ImportDjango(options) => crate::django::import(store, options).await?,
        Command::ListTokens {
            username,
            unused_for,
        } => list_tokens(store, username.as_deref(), unused_for).await?,
        Command::Roll { token_id, grace } => {
            roll(store, token_id, grace.unwrap_or_default()).await?
        }
        Command::Revoke { token_id } => {
            if !store.tokens().revoke(token_id).await.map_err(store_error)? {
                return Err(format!("error: token {token_id} does not exist").into());
            }
            say!("Revoked token {token_id}");
        }
        Command::RevokeAll { username } => {
            let user = existing_user(store, &username).await?;
            let count = store
                .tokens()
                .revoke_all(user.id)
                .await
                .map_err(store_error)?;
            say!("Revoked {} of user {}", tokens(count), printable(&username));
        }
        Command::PruneExpired {
            older_than,
            unused_for,
        } => {
            let cutoff = tokenauth_cli::before(Utc::now(), older_than.unwrap_or_default())
                .map_err(|err| format!("error: --older-than: {err}"))?;
            // The store's one DELETE: expired tokens, and with `expire_unused` the unused ones
            // (unused since `cutoff - unused_for`, which must exist: the store would fall back
            // to `cutoff`).
            let mut policy = store.policy().clone();
            if let Some(unused_for) = unused_for {
                tokenauth_cli::before(cutoff, unused_for)
                    .map_err(|err| format!("error: --unused-for: {err}"))?;
                policy = policy.expire_unused(unused_for);
            }
            let count = store
                .clone()
                .with_policy(policy)
                .tokens()
                .prune_expired(cutoff)
                .await
                .map_err(store_error)?;
            let plural = if count == 1 { "" } else { "s" };
            let what = if unused_for.is_some() {
                "expired or unused"
            } else {
                "expired"
            };
            say!("Deleted {count} {what} token{plural}");
        }
    }
    Ok(())
}

/// What `create-token`'s options ask for, checked before anything is read or written.
fn token_options(
    name: Option<String>,
    expires_in: Option<chrono::Duration>,
    scopes: Vec<String>,
    allowed_ips: Vec<String>,
    read_only: bool,
) -> Result<NewToken, String> {
    let mut options = NewToken::named(name.unwrap_or_default()).read_only(read_only);
    if let Some(ttl) = expires_in {
        options = options.expires_in(ttl);
    }
    for scope in scopes {
        options = options
            .scope(scope)
            .map_err(|err| format!("error: {err}"))?;
    }
    for network in &allowed_ips {
        options = options
            .allow_ip(network)
            .map_err(|err| format!("error: --allow-ip: {err}"))?;
    }
    options.validate().map_err(|err| format!("error: {err}"))?;
    Ok(options)
}

async fn create_token(
    store: &Store,
    username: &str,
    reset: bool,
    options: NewToken,
    key_stdin: bool,
) -> Result<(), Failure> {
    let key = if key_stdin {
        let key = Key::import(input::stdin_line("key")?).map_err(|err| format!("error: {err}"))?;
        if !key.is_drf_format() {
            let _ = writeln!(
                std::io::stderr(),
                "warning: the key is not DRF's format (40 hexadecimal digits): it works, but a \
                 short key is easier to guess"
            );
        }
        key
    } else {
        store.generate_key().map_err(store_error)?
    };
    let Some(user) = store
        .user_by_username(username)
        .await
        .map_err(store_error)?
    else {
        // Django REST framework's `drf_create_token` message.
        return Err(format!(
            "Cannot create the Token: user {} does not exist",
            printable(username)
        )
        .into());
    };
    let tokens_of = store.tokens();
    let (token, revoked) = if reset {
        let (token, revoked) = tokens_of
            .replace_all(user.id, &key, options)
            .await
            .map_err(store_error)?;
        (token, Some(revoked))
    } else {
        let token = tokens_of
            .import(user.id, &key, options)
            .await
            .map_err(store_error)?;
        (token, None)
    };
    // DRF's line, alone on standard output for scripts; the revocation count on stderr. A key
    // that cannot be shown is of no use to anyone: its token is revoked again. An imported
    // key is not shown: its owner has it, and a terminal or a log is no place for it.
    let shown = if key_stdin {
        writeln!(
            std::io::stdout().lock(),
            "Imported a token for user {}",
            printable(username)
        )
    } else {
        writeln!(
            std::io::stdout().lock(),
            "Generated token {} for user {}",
            key.expose_secret(),
            printable(username)
        )
    };
    if let Err(err) = shown {
        let undone = match store.tokens().revoke(token.id).await {
            Ok(_) => "the new token was revoked",
            Err(_) => "the new token could not be revoked: revoke it with `tokenauth revoke`",
        };
        return Err(format!(
            "error: cannot write the key to standard output ({err}); {undone} (token {})",
            token.id
        )
        .into());
    }
    if let Some(revoked) = revoked {
        let _ = writeln!(
            std::io::stderr(),
            "Revoked {} of user {}",
            tokens(revoked),
            printable(username)
        );
    }
    Ok(())
}

/// Rolls token `token_id`, with the store's policy allowing `grace`: the administrator's
/// choice, bounded by the parser (at most 100 years, never negative).
async fn roll(store: &Store, token_id: i64, grace: chrono::Duration) -> Result<(), Failure> {
    let policy = store.policy().clone().max_roll_grace(grace);
    // No later than the store's own reading of the clock (microseconds, as it keeps them): the
    // grace ends at or after the instant shown.
    let rolled_at = Utc::now().trunc_subsecs(6);
    let (token, key) = store
        .clone()
        .with_policy(policy)
        .tokens()
        .roll(token_id, grace)
        .await
        .map_err(store_error)?;
    // The token is rolled: whatever happens now, its new key must be shown.
    let owner = match store.user(token.user_id).await {
        Ok(Some(user)) => printable(&user.username),
        _ => format!("#{}", token.user_id),
    };
    let previous = match rolled_at.checked_add_signed(grace) {
        Some(until) if until > rolled_at => {
            format!("the previous key keeps working until {}", timestamp(until))
        }
        _ => "the previous key is refused from now on".to_owned(),
    };
    // `create-token`'s line, alone on standard output for scripts; the rest on stderr. A roll
    // cannot be undone: a key that cannot be shown is lost, and the token must be rolled again.
    if let Err(err) = writeln!(
        std::io::stdout().lock(),
        "Generated token {} for user {owner}",
        key.expose_secret()
    ) {
        return Err(format!(
            "error: cannot write the key to standard output ({err}); token {token_id} was \
             rolled all the same and {previous}: roll it again (`tokenauth roll {token_id}`)"
        )
        .into());
    }
    let _ = writeln!(std::io::stderr(), "Rolled token {token_id}; {previous}");
    Ok(())
}

async fn list_tokens(
    store: &Store,
    username: Option<&str>,
    unused_for: Option<chrono::Duration>,
) -> Result<(), Failure> {
    let users = store.users().await.map_err(store_error)?;
    let user = match username {
        Some(username) => Some(existing_user(store, username).await?),
        None => None,
    };
    let tokens: Vec<Token> = match (&user, unused_for) {
        (_, Some(unused_for)) => {
            let cutoff = tokenauth_cli::before(Utc::now(), unused_for)
                .map_err(|err| format!("error: --unused-for: {err}"))?;
            let unused = store
                .tokens()
                .unused_since(cutoff)
                .await
                .map_err(store_error)?;
            unused
                .into_iter()
                .filter(|token| user.as_ref().is_none_or(|user| user.id == token.user_id))
                .collect()
        }
        (Some(user), None) => store.tokens().list(user.id).await.map_err(store_error)?,
        (None, None) => store.tokens().list_all().await.map_err(store_error)?,
    };
    let owner = |token: &Token| {
        users
            .iter()
            .find(|u| u.id == token.user_id)
            .map_or_else(|| format!("#{}", token.user_id), |u| printable(&u.username))
    };
    let mut rows = vec![[
        "ID".to_owned(),
        "USER".to_owned(),
        "NAME".to_owned(),
        "CREATED".to_owned(),
        "EXPIRES".to_owned(),
        "LAST USED".to_owned(),
        "SCOPES".to_owned(),
        "ALLOWED IPS".to_owned(),
        "READ ONLY".to_owned(),
    ]];
    let now = Utc::now();
    for token in &tokens {
        let expires = match token.expires_at {
            Some(at) if token.is_expired(now) => format!("{} (expired)", timestamp(at)),
            Some(at) => timestamp(at),
            None => "never".to_owned(),
        };
        rows.push([
            token.id.to_string(),
            owner(token),
            printable(&token.name),
            timestamp(token.created),
            expires,
            token
                .last_used_at
                .map_or_else(|| "never".to_owned(), timestamp),
            printable(&token.scopes.join(" ")),
            allowed_ips(token),
            if token.read_only { "yes" } else { "no" }.to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        say!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

async fn set_active(store: &Store, username: &str, active: bool) -> Result<(), Failure> {
    let user = existing_user(store, username).await?;
    let revoked = store
        .set_active(user.id, active)
        .await
        .map_err(store_error)?;
    let shown = printable(username);
    if active {
        say!("Activated user {shown}");
    } else {
        let kept = store
            .tokens()
            .list(user.id)
            .await
            .map_err(store_error)?
            .len();
        say!(
            "Deactivated user {shown}; revoked {}; {} kept, refused until `tokenauth activate {shown}`",
            tokens(revoked),
            tokens(kept as u64)
        );
    }
    Ok(())
}

async fn existing_user(store: &Store, username: &str) -> Result<User, String> {
    store
        .user_by_username(username)
        .await
        .map_err(store_error)?
        .ok_or_else(|| format!("error: user {} does not exist", printable(username)))
}

/// `1 token`, `2 tokens`.
fn tokens(count: u64) -> String {
    if count == 1 {
        "1 token".to_owned()
    } else {
        format!("{count} tokens")
    }
}

/// A token's networks, as `list-tokens` shows them: `anywhere` when it has none.
fn allowed_ips(token: &Token) -> String {
    if token.allowed_ips.is_empty() {
        return "anywhere".to_owned();
    }
    let networks: Vec<String> = token.allowed_ips.iter().map(ToString::to_string).collect();
    networks.join(" ")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}
