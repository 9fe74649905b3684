//! The command line: the subcommands and their options, as clap reads them.

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
        tokenauth roll 42 --grace 1h\n  \
        tokenauth import-django --from postgres://django@db/django --dry-run\n  \
        tokenauth prune-expired --older-than 7d --unused-for 1y\n  \
        tokenauth check --max-ttl 90d"
)]
pub(crate) struct Cli {
    /// The database: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        global = true,
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,

    /// The longest lifetime of a new token, as the application's `Policy::max_ttl` (e.g.
    /// `90d`): longer `--expires-in` values are clamped, and tokens without one get it.
    #[arg(
        long,
        env = "TOKENAUTH_MAX_TTL",
        value_name = "DURATION",
        global = true,
        value_parser = tokenauth_cli::parse_duration
    )]
    pub(crate) max_ttl: Option<chrono::Duration>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Accept the token only from this network, e.g. `203.0.113.0/24` or `2001:db8::1`
        /// (repeatable: any of them); without it, from anywhere.
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allowed_ips: Vec<String>,
        /// Let the token only read: `GET`, `HEAD` and `OPTIONS` (and logging itself out).
        #[arg(long)]
        read_only: bool,
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
    ImportDjango(ImportDjango),
    /// List tokens (never their keys): of one user, or of everyone.
    ListTokens {
        /// Only this user's tokens.
        username: Option<String>,
        /// Only tokens not used for this long, e.g. `90d` (never used: since their creation):
        /// those that `Policy::expire_unused` of that duration refuses.
        #[arg(
            long,
            value_name = "DURATION",
            allow_hyphen_values = true,
            value_parser = unused_for
        )]
        unused_for: Option<chrono::Duration>,
    },
    /// Give a token a new key and print it, once, as `create-token` does; the old key is
    /// refused at once, or after `--grace`.
    ///
    /// The token keeps its id, name, scopes, expiry and limits. Every running instance refuses
    /// the old key as soon as its grace ends.
    Roll {
        /// The token's id (see `list-tokens`).
        token_id: i64,
        /// Keep accepting the old key for this long, e.g. `1h` or `90s` (at most 100 years),
        /// so that clients can switch without downtime.
        #[arg(
            long,
            value_name = "DURATION",
            allow_hyphen_values = true,
            value_parser = tokenauth_cli::parse_duration
        )]
        grace: Option<chrono::Duration>,
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
    /// Read the database and print what an operator should fix, one line each: missing
    /// migrations or change-feed triggers, a SQLite file not in WAL mode, expired tokens never
    /// pruned, tokens without expiry while `--max-ttl` is given, Django password hashes
    /// waiting for an upgrade, Argon2 parameters under OWASP's minimum. Exits non-zero if
    /// there is any. Changes nothing; never prints a key or hash.
    Check,
    /// Delete tokens that have expired, and with `--unused-for` those left unused (a job to
    /// schedule; authentication never deletes).
    PruneExpired {
        /// Keep tokens that expired less than this long ago, e.g. `7d` (at most 100 years).
        #[arg(long, value_name = "DURATION", value_parser = tokenauth_cli::parse_duration)]
        older_than: Option<chrono::Duration>,
        /// Also delete tokens not used for this long, e.g. `1y` (never used: since their
        /// creation), which `Policy::expire_unused` of that duration refuses; `--older-than`
        /// keeps those refused for less than its duration too.
        #[arg(
            long,
            value_name = "DURATION",
            allow_hyphen_values = true,
            value_parser = unused_for
        )]
        unused_for: Option<chrono::Duration>,
    },
}

/// The options of `tokenauth import-django`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportDjango {
    /// The Django database, read only: `sqlite:///path/to/db.sqlite3` or
    /// `postgres://user@host/db`.
    #[arg(
        long = "from",
        value_name = "URL",
        env = "DJANGO_DATABASE_URL",
        hide_env_values = true
    )]
    pub(crate) from: String,
    /// Report what would be imported, and write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The users table: a custom `AUTH_USER_MODEL`'s `db_table`.
    #[arg(long, value_name = "TABLE", default_value = "auth_user", value_parser = identifier)]
    pub(crate) user_table: String,
    /// The users table's login column: a custom user model's `USERNAME_FIELD`.
    #[arg(long, value_name = "COLUMN", default_value = "username", value_parser = identifier)]
    pub(crate) username_field: String,
    /// The users table's primary key column.
    #[arg(long, value_name = "COLUMN", default_value = "id", value_parser = identifier)]
    pub(crate) id_field: String,
    /// DRF's token table (`rest_framework.authtoken`).
    #[arg(long, value_name = "TABLE", default_value = "authtoken_token", value_parser = identifier)]
    pub(crate) token_table: String,
    /// Import users only, without tokens (e.g. when `rest_framework.authtoken` is not used).
    #[arg(long)]
    pub(crate) no_tokens: bool,
    /// The name given to imported tokens (see `list-tokens`).
    #[arg(long, value_name = "NAME", default_value = "drf")]
    pub(crate) token_name: String,
    /// Let tokenauth number the users instead of keeping Django's ids (then foreign keys to
    /// Django's ids in the application's tables no longer match).
    #[arg(long)]
    pub(crate) new_ids: bool,
}

/// A duration of disuse: [`tokenauth_cli::parse_duration`]'s, of at least a second (as
/// `Policy::expire_unused` takes it).
fn unused_for(text: &str) -> Result<chrono::Duration, String> {
    let duration = tokenauth_cli::parse_duration(text)?;
    if duration < chrono::Duration::seconds(1) {
        return Err("the duration is too short: at least 1s".to_owned());
    }
    Ok(duration)
}

/// A table or column name: an SQL identifier without quoting tricks.
fn identifier(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63;
    if valid {
        Ok(name.to_owned())
    } else {
        Err(
            "a table or column name is 1 to 63 ASCII letters, digits and `_`, not starting \
             with a digit"
                .to_owned(),
        )
    }
}
