-- The application's own users, and their tokens in a table with tokenauth_tokens' columns.
CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    disabled     BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE account_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_digest   TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL DEFAULT '',
    created      DATETIME NOT NULL,
    expires_at   DATETIME,
    last_used_at DATETIME,
    scopes       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX account_tokens_user_id ON account_tokens (user_id);
