//! `tokenauth`: manage the users and tokens of a tokenauth database (SQLite or PostgreSQL)
//! from the command line — DRF's `drf_create_token`, and what knox and Sanctum add.
//!
//! Keys are stored as digests, so a key is printed once, when it is created, and never again.
//! Passwords are read from standard input (`--password-stdin`) or a prompt, never from the
//! command line, where other users could see them.

mod commands;
mod django;
mod input;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Manage tokenauth users and tokens.
#[derive(Debug, Parser)]
#[command(
    name = "tokenauth",
    version,
    about,
    after_help = "Examples:\n  \
        tokenauth --database-url sqlite://app.db migrate\n  \
        printf '%s' \"$PASSWORD\" | tokenauth create-user alice --password-stdin\n  \
        tokenauth create-token alice --name laptop --expires-in 30d --scope orders:read\n  \
        tokenauth list-tokens alice\n  \
        tokenauth import-django --from postgres://django@db/django --dry-run\n  \
        tokenauth prune-expired --older-than 7d"
)]
struct Cli {
    /// The database: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// The longest lifetime of a new token, as the application's `Policy::max_ttl` (e.g.
    /// `90d`): longer `--expires-in` values are clamped, and tokens without one get it.
    #[arg(
        long,
        env = "TOKENAUTH_MAX_TTL",
        value_name = "DURATION",
        global = true,
        value_parser = tokenauth_cli::parse_duration
    )]
    max_ttl: Option<chrono::Duration>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create tokenauth's tables, or bring them up to date (creates a SQLite file if missing).
    Migrate,
    /// Create a user. The password comes from `--password-stdin` or a prompt.
    CreateUser {
        /// The new user's name (letters, digits and `@.+-_`, at most 150), stored as Django
        /// stores it: NFKC-normalized (`ａlice` is `alice`).
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// Create the user without a password (it can only use tokens).
        #[arg(long)]
        no_password: bool,
        /// Create the user inactive: its tokens are refused until `activate`.
        #[arg(long)]
        inactive: bool,
    },
    /// Set a user's password, from `--password-stdin` or a prompt; revokes the user's tokens.
    SetPassword {
        /// The user's name.
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// Remove the password: the user can no longer log in with one.
        #[arg(long)]
        no_password: bool,
    },
    /// Let a user authenticate again.
    Activate {
        /// The user's name.
        username: String,
    },
    /// Refuse a user's tokens ("User inactive or deleted.") until `activate`; they are kept
    /// unless `--revoke` is given.
    Deactivate {
        /// The user's name.
        username: String,
        /// Delete the user's tokens too, as an application with
        /// `Policy::revoke_on_deactivation(true)` does.
        #[arg(long)]
        revoke: bool,
    },
    /// Create a token and print its key, once: `Generated token <key> for user <username>`.
    CreateToken {
        /// The user who gets the token.
        username: String,
        /// Revoke the user's other tokens first (atomically), as DRF's `--reset`.
        #[arg(short = 'r', long)]
        reset: bool,
        /// A label for the token, e.g. the device or script using it.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Expire the token after this long, e.g. `30d`, `12h`, `1h 30m` (at most 100 years).
        #[arg(long, value_name = "DURATION", value_parser = tokenauth_cli::parse_duration)]
        expires_in: Option<chrono::Duration>,
        /// Grant a scope (repeatable); `*` grants all.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Import an existing key (e.g. from Django's authtoken_token table) read from
        /// standard input, instead of generating one.
        #[arg(long)]
        key_stdin: bool,
    },
    /// Prepare a Django database (PostgreSQL) so that a tokenauth service authenticates the
    /// keys Django keeps issuing (`tokenauth::django::DjangoUser`): adds an index on the
    /// digest of `authtoken_token.key` and a view. Django's tables are not altered.
    ///
    /// Run it with `--database-url` naming Django's database, after Django's `migrate`.
    MigrateDjango,
    /// Import users, their password hashes and their DRF tokens from a Django database, in one
    /// transaction: `auth_user` and `authtoken_token` by default.
    ///
    /// Users keep their ids, usernames, password hashes (Django's verify on login, and are
    /// then upgraded to Argon2id), active flags and join dates; tokens keep their keys (only
    /// a digest is stored) and creation times. Rows already imported are reported and left as
    /// they are, so a rerun imports only what is new. The Django database is only read.
    ///
    /// Nothing is written if a row cannot be imported: a username tokenauth does not accept,
    /// two usernames that are one once NFKC-normalized (`ａlice` and `alice`), an id of
    /// 9223372036854775807 (use --new-ids). A password field over Django's 128 characters is
    /// no hash: that user is imported without a password, with a warning; a key over 256
    /// characters is skipped. Values too long to be Django's are never read whole.
    #[command(after_help = "Examples:\n  \
        tokenauth --database-url sqlite://app.db import-django --from sqlite:///srv/django/db.sqlite3 --dry-run\n  \
        tokenauth --database-url postgres://app@db/app import-django --from postgres://django@db/django\n  \
        tokenauth import-django --from postgres://django@db/django --user-table accounts_user --username-field email")]
    ImportDjango(django::ImportDjango),
    /// List tokens (never their keys): of one user, or of everyone.
    ListTokens {
        /// Only this user's tokens.
        username: Option<String>,
    },
    /// Revoke one token by its id (see `list-tokens`).
    Revoke {
        /// The token's id.
        token_id: i64,
    },
    /// Revoke all of a user's tokens.
    RevokeAll {
        /// The user's name.
        username: String,
    },
    /// Delete tokens that have expired (a job to schedule; authentication never deletes).
    PruneExpired {
        /// Keep tokens that expired less than this long ago, e.g. `7d` (at most 100 years).
        #[arg(long, value_name = "DURATION", value_parser = tokenauth_cli::parse_duration)]
        older_than: Option<chrono::Duration>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // `tokenauth list-tokens | head`: the reader has all it wants.
        Err(commands::Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(commands::Failure::Message(message)) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            ExitCode::FAILURE
        }
    }
}
