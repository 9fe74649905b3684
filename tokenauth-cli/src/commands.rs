//! What each subcommand does. Every failure is one line for standard error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokenauth::{Key, NewToken, Store, Token, User};

use crate::{Cli, Command, input};

/// Runs the command; `Err` is the line to print on standard error.
pub(crate) async fn run(cli: Cli) -> Result<(), String> {
    let Some(url) = cli.database_url else {
        return Err(
            "error: no database: pass --database-url URL or set DATABASE_URL \
                    (e.g. sqlite://app.db or postgres://user@host/db)"
                .to_owned(),
        );
    };
    if let Command::Migrate = cli.command {
        let store = Store::connect(&url).await.map_err(store_error)?;
        store.migrate().await.map_err(store_error)?;
        println!("tokenauth's tables are up to date");
        return Ok(());
    }
    let store = Store::connect_existing(&url).await.map_err(|err| {
        if url.starts_with("sqlite:") && matches!(err, tokenauth::Error::Database(_)) {
            format!("error: cannot open the SQLite database {url}: {err} (`tokenauth migrate` creates it)")
        } else {
            store_error(err)
        }
    })?;
    match cli.command {
        Command::Migrate => unreachable!("handled above"),
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
            println!("Created user {}{state}", user.username);
        }
        Command::SetPassword {
            username,
            password_stdin,
            no_password,
        } => {
            let user = existing_user(&store, &username).await?;
            let password = (!no_password)
                .then(|| input::password(password_stdin))
                .transpose()?;
            store
                .set_password(user.id, password.as_deref())
                .await
                .map_err(store_error)?;
            match password {
                Some(_) => println!("Set the password of user {username}"),
                None => println!("Removed the password of user {username}"),
            }
        }
        Command::Activate { username } => set_active(&store, &username, true).await?,
        Command::Deactivate { username } => set_active(&store, &username, false).await?,
        Command::CreateToken {
            username,
            reset,
            name,
            expires_in,
            scopes,
            key_stdin,
        } => {
            create_token(
                &store, &username, reset, name, expires_in, scopes, key_stdin,
            )
            .await?
        }
        Command::ListTokens { username } => list_tokens(&store, username.as_deref()).await?,
        Command::Revoke { token_id } => {
            if !store.revoke_token(token_id).await.map_err(store_error)? {
                return Err(format!("error: token {token_id} does not exist"));
            }
            println!("Revoked token {token_id}");
        }
        Command::RevokeAll { username } => {
            let user = existing_user(&store, &username).await?;
            let count = store
                .revoke_all_tokens(user.id)
                .await
                .map_err(store_error)?;
            println!("Revoked {count} token(s) of user {username}");
        }
        Command::PruneExpired { older_than } => {
            let cutoff = Utc::now() - chrono_duration(older_than.unwrap_or_default())?;
            let count = store
                .prune_expired_tokens(cutoff)
                .await
                .map_err(store_error)?;
            println!("Deleted {count} expired token(s)");
        }
    }
    Ok(())
}

async fn create_token(
    store: &Store,
    username: &str,
    reset: bool,
    name: Option<String>,
    expires_in: Option<Duration>,
    scopes: Vec<String>,
    key_stdin: bool,
) -> Result<(), String> {
    let mut options = NewToken::named(name.unwrap_or_default());
    if let Some(ttl) = expires_in {
        options = options.expires_in(chrono_duration(ttl)?);
    }
    for scope in scopes {
        options = options
            .scope(scope)
            .map_err(|err| format!("error: {err}"))?;
    }
    let key = if key_stdin {
        Key::import(input::stdin_line("key")?).map_err(|err| format!("error: {err}"))?
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
            "Cannot create the Token: user {username} does not exist"
        ));
    };
    let tokens = store.tokens_for::<User>();
    if reset {
        tokens.replace_all(user.id, &key, options).await
    } else {
        tokens.import(user.id, &key, options).await
    }
    .map_err(store_error)?;
    println!(
        "Generated token {} for user {username}",
        key.expose_secret()
    );
    Ok(())
}

async fn list_tokens(store: &Store, username: Option<&str>) -> Result<(), String> {
    let users = store.users().await.map_err(store_error)?;
    let tokens: Vec<Token> = match username {
        Some(username) => {
            let user = existing_user(store, username).await?;
            store.tokens(user.id).await.map_err(store_error)?
        }
        None => store.all_tokens().await.map_err(store_error)?,
    };
    let owner = |token: &Token| {
        users
            .iter()
            .find(|u| u.id == token.user_id)
            .map_or_else(|| format!("#{}", token.user_id), |u| u.username.clone())
    };
    let mut rows = vec![[
        "ID".to_owned(),
        "USER".to_owned(),
        "NAME".to_owned(),
        "CREATED".to_owned(),
        "EXPIRES".to_owned(),
        "LAST USED".to_owned(),
        "SCOPES".to_owned(),
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
            token.name.clone(),
            timestamp(token.created),
            expires,
            token
                .last_used_at
                .map_or_else(|| "never".to_owned(), timestamp),
            token.scopes.join(" "),
        ]);
    }
    let widths: Vec<usize> = (0..7)
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
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

async fn set_active(store: &Store, username: &str, active: bool) -> Result<(), String> {
    let user = existing_user(store, username).await?;
    store
        .set_active(user.id, active)
        .await
        .map_err(store_error)?;
    let verb = if active { "Activated" } else { "Deactivated" };
    println!("{verb} user {username}");
    Ok(())
}

async fn existing_user(store: &Store, username: &str) -> Result<User, String> {
    store
        .user_by_username(username)
        .await
        .map_err(store_error)?
        .ok_or_else(|| format!("error: user {username} does not exist"))
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

fn chrono_duration(duration: Duration) -> Result<chrono::Duration, String> {
    chrono::Duration::from_std(duration).map_err(|_| "error: the duration is too long".to_owned())
}

/// One line for a store error, with a hint when the tables are missing.
fn store_error(err: tokenauth::Error) -> String {
    let text = err.to_string();
    let missing_tables = text.contains("no such table") || text.contains("does not exist");
    if missing_tables && matches!(err, tokenauth::Error::Database(_)) {
        format!("error: {text} (run `tokenauth migrate` first)")
    } else {
        format!("error: {text}")
    }
}
