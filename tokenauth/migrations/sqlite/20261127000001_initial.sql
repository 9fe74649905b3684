-- tokenauth's initial schema (SQLite). Released migrations are never edited: sqlx checksums
-- them. Later changes are new files.

CREATE TABLE tokenauth_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    -- Argon2id PHC string; NULL: no password login (Django's unusable password).
    password_hash TEXT,
    is_active     BOOLEAN NOT NULL DEFAULT 1,
    date_joined   DATETIME NOT NULL
);

CREATE TABLE tokenauth_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES tokenauth_users (id) ON DELETE CASCADE,
    -- SHA-256 of the key, 64 lowercase hex characters. The key itself is never stored.
    key_digest   TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL DEFAULT '',
    created      DATETIME NOT NULL,
    expires_at   DATETIME,
    last_used_at DATETIME,
    -- Space-separated scopes (OAuth 2.0 style); '*' grants all.
    scopes       TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX tokenauth_tokens_user_id ON tokenauth_tokens (user_id);
