//! What the change feed watches: a [`Watch`] describes one tokens table, the users table it
//! joins, and the triggers that report their changes to the log. The feed watches
//! tokenauth's own tables ([`TOKENAUTH`]) always, and another group once a cacheable user
//! type naming it ([`AuthUser::WATCH`](crate::store::AuthUser::WATCH)) is authenticated
//! through the store (see `AuthCache::watch`): the store itself names no other table.

// On SQLite only a group's tables are read: its triggers and heartbeat are PostgreSQL's.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

/// A group of tables that the change feed can watch: a tokens table, the users table its
/// tokens join, the triggers that report their changes to tokenauth's log, and the
/// statements that fire every heartbeat-recording trigger without changing a row. Made only
/// inside tokenauth, for the tables of its own migrations; a cacheable user type names its
/// group through [`AuthUser::WATCH`](crate::store::AuthUser::WATCH).
#[doc(hidden)]
#[derive(Debug)]
pub struct Watch {
    pub(crate) tokens_table: &'static str,
    pub(crate) users_table: &'static str,
    /// Each must be in place in the catalog (PostgreSQL) for the tables to be watched.
    pub(crate) triggers: &'static [Trigger],
    /// Statements that change no row and fire each heartbeat-recording trigger (PostgreSQL).
    pub(crate) beat: &'static str,
}

/// A trigger of the change feed: its name, its table, what fires it, and its function.
#[derive(Debug)]
pub(crate) struct Trigger(
    pub(crate) &'static str,
    pub(crate) &'static str,
    pub(crate) Event,
    pub(crate) &'static str,
);

/// What fires a trigger: each of tokenauth's is an `AFTER … FOR EACH STATEMENT` trigger, with
/// no `WHEN` and no column list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    Insert,
    Update,
    Delete,
    Truncate,
}

impl Watch {
    /// Whether these are the tables of a user type: its users are read from `users_table`,
    /// its tokens from `tokens_table`.
    pub(crate) fn covers(&self, tokens_table: &str, users_table: &str) -> bool {
        self.tokens_table == tokens_table && self.users_table == users_table
    }
}

const TOKENS: &str = "tokenauth_tokens_log";
const USERS: &str = "tokenauth_users_log";

/// tokenauth's own tables, made by its migrations: watched by every store, whichever user
/// types it authenticates ([`User`](crate::User), or an application's type read from them).
pub(crate) const TOKENAUTH: Watch = Watch {
    tokens_table: "tokenauth_tokens",
    users_table: "tokenauth_users",
    triggers: &[
        Trigger(
            "tokenauth_tokens_log_insert",
            "tokenauth_tokens",
            Event::Insert,
            TOKENS,
        ),
        Trigger(
            "tokenauth_tokens_log_update",
            "tokenauth_tokens",
            Event::Update,
            TOKENS,
        ),
        Trigger(
            "tokenauth_tokens_log_delete",
            "tokenauth_tokens",
            Event::Delete,
            TOKENS,
        ),
        Trigger(
            "tokenauth_tokens_log_truncate",
            "tokenauth_tokens",
            Event::Truncate,
            TOKENS,
        ),
        Trigger(
            "tokenauth_users_log_update",
            "tokenauth_users",
            Event::Update,
            USERS,
        ),
        Trigger(
            "tokenauth_users_log_delete",
            "tokenauth_users",
            Event::Delete,
            USERS,
        ),
        Trigger(
            "tokenauth_users_log_truncate",
            "tokenauth_users",
            Event::Truncate,
            USERS,
        ),
    ],
    beat: "INSERT INTO tokenauth_tokens SELECT * FROM tokenauth_tokens WHERE false; \
           UPDATE tokenauth_tokens SET id = id WHERE false; \
           DELETE FROM tokenauth_tokens WHERE false; \
           UPDATE tokenauth_users SET id = id WHERE false; \
           DELETE FROM tokenauth_users WHERE false;",
};
