-- The change feed (SQLite): every store caches authentications and keeps a filter of live
-- key digests, and learns of changes made by other connections — the CLI in another
-- process, or plain SQL — from this log, written by triggers in the changing transaction
-- and polled every few milliseconds on a connection of each store's own. A row with a
-- NULL key_digest says that something a cached authentication may depend on changed; a row
-- with one, that the key was added to `tokens_table`. Changes that cannot narrow what a key
-- grants are not logged: a last use, a later expiry (a sliding refresh; a store re-reads a
-- token its cache finds expired), a password hash (a password change through tokenauth
-- revokes tokens, which is logged). Rows older than ten minutes are deleted by the pollers.

CREATE TABLE tokenauth_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tokens_table TEXT,
    key_digest   TEXT,
    at           REAL NOT NULL DEFAULT (julianday('now'))
);

CREATE INDEX tokenauth_changes_at ON tokenauth_changes (at);

CREATE TRIGGER tokenauth_tokens_added AFTER INSERT ON tokenauth_tokens
BEGIN
    INSERT INTO tokenauth_changes (tokens_table, key_digest)
    VALUES ('tokenauth_tokens', NEW.key_digest);
END;

-- `INSERT OR REPLACE` deletes the row it replaces without firing a DELETE trigger (SQLite's
-- recursive_triggers is off by default): a row about to be replaced is a change too.
CREATE TRIGGER tokenauth_tokens_replacing BEFORE INSERT ON tokenauth_tokens
WHEN EXISTS (SELECT 1 FROM tokenauth_tokens WHERE id = NEW.id OR key_digest = NEW.key_digest)
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;

CREATE TRIGGER tokenauth_users_replacing BEFORE INSERT ON tokenauth_users
WHEN EXISTS (SELECT 1 FROM tokenauth_users WHERE id = NEW.id OR username = NEW.username)
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;

CREATE TRIGGER tokenauth_tokens_changed AFTER UPDATE ON tokenauth_tokens
WHEN OLD.id IS NOT NEW.id OR OLD.user_id IS NOT NEW.user_id
    OR OLD.key_digest IS NOT NEW.key_digest OR OLD.name IS NOT NEW.name
    OR OLD.created IS NOT NEW.created OR OLD.scopes IS NOT NEW.scopes
    OR (NEW.expires_at IS NOT NULL
        AND (OLD.expires_at IS NULL OR julianday(NEW.expires_at) < julianday(OLD.expires_at)))
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
    INSERT INTO tokenauth_changes (tokens_table, key_digest)
    SELECT 'tokenauth_tokens', NEW.key_digest WHERE NEW.key_digest IS NOT OLD.key_digest;
END;

CREATE TRIGGER tokenauth_tokens_deleted AFTER DELETE ON tokenauth_tokens
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;

CREATE TRIGGER tokenauth_users_changed AFTER UPDATE ON tokenauth_users
WHEN OLD.id IS NOT NEW.id OR OLD.username IS NOT NEW.username
    OR OLD.is_active IS NOT NEW.is_active OR OLD.date_joined IS NOT NEW.date_joined
    OR OLD.credential_version IS NOT NEW.credential_version
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;

CREATE TRIGGER tokenauth_users_deleted AFTER DELETE ON tokenauth_users
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;
