-- The change feed, second form (PostgreSQL). The first (`change_feed`) sent every change as a
-- NOTIFY from the changing transaction: any role could LISTEN to it (and read new keys'
-- digests) or forge it, and a full NOTIFY queue made every write to the tables fail at
-- commit. Now the triggers record each change in a log table that only tokenauth's role can
-- read or write, in the changing transaction; instances read the log (hinted by a NOTIFY that
-- tokenauth sends after its own commits, on a channel whose name is kept in a table of
-- tokenauth's role, carrying nothing), and prove that the triggers still report by
-- heartbeats that go through the same triggers. No trigger sends a notification.
--
-- Log rows (`kind`):
--   `-`  something a cached authentication may depend on changed: forget them;
--   `+`  a key with `key_digest` was added to `tokens_table`;
--   `*`  many keys were added to `tokens_table` at once: build its filter again;
--   `?`  a heartbeat went through the trigger on `tokens_table` (here: the table the trigger
--        is on) for the statement `beat` (`<operation> <nonce>`);
--   `!`  rows of the log itself were deleted before every instance could read them: forget
--        everything.
-- Each row carries the id of the transaction that wrote it (`xid`): a reader that keeps the
-- transactions still in progress at its last read misses no row, whatever order
-- transactions commit in. Rows are deleted by the instances ten minutes after they were
-- written.
--
-- Changes that cannot narrow what a key grants are not logged: a last use, a later expiry
-- (a sliding refresh; an instance re-reads a token its cache finds expired), a password hash
-- (a password change through tokenauth revokes tokens, which is logged).
--
-- Objects shared with the migrations beside Django (`tokenauth migrate-django`, which may
-- run on the same database) are created only if missing, identically in both.

CREATE TABLE IF NOT EXISTS tokenauth_changes (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind         TEXT NOT NULL CHECK (kind IN ('-', '+', '*', '?', '!')),
    tokens_table TEXT,
    key_digest   TEXT,
    beat         TEXT,
    -- When an instance pruning the log first found the row committed: rows are deleted ten
    -- minutes after that, never by `at` (a transaction's start, which can be long before
    -- its commit).
    seen_at      TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS tokenauth_changes_xid ON tokenauth_changes (xid);
CREATE INDEX IF NOT EXISTS tokenauth_changes_unseen ON tokenauth_changes (seq) WHERE seen_at IS NULL;
CREATE INDEX IF NOT EXISTS tokenauth_changes_seen_at ON tokenauth_changes (seen_at);
REVOKE ALL ON tokenauth_changes FROM PUBLIC;

-- The channel of the hints: a name no other role can read, so none can listen to it or
-- flood it (a hint carries nothing, and a flood of them only makes instances read the log
-- more often, at most once per few milliseconds).
CREATE TABLE IF NOT EXISTS tokenauth_feed (
    id      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    channel TEXT NOT NULL
);
INSERT INTO tokenauth_feed (channel)
VALUES ('tokenauth_' || replace(gen_random_uuid()::text, '-', ''))
ON CONFLICT (id) DO NOTHING;
REVOKE ALL ON tokenauth_feed FROM PUBLIC;

-- Deleting log rows that instances may not have read yet (anything but heartbeats, not seen
-- committed for five minutes; the instances prune after ten) makes every instance forget
-- what it cached.
CREATE OR REPLACE FUNCTION tokenauth_changes_lost() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR EXISTS (
        SELECT 1 FROM tokenauth_gone
        WHERE kind <> '?' AND (seen_at IS NULL OR seen_at > now() - interval '5 minutes')
    ) THEN
        INSERT INTO tokenauth_changes (kind) VALUES ('!');
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS tokenauth_changes_deleted ON tokenauth_changes;
CREATE TRIGGER tokenauth_changes_deleted
    AFTER DELETE ON tokenauth_changes REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_changes_lost();
DROP TRIGGER IF EXISTS tokenauth_changes_truncated ON tokenauth_changes;
CREATE TRIGGER tokenauth_changes_truncated
    AFTER TRUNCATE ON tokenauth_changes
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_changes_lost();

-- The first form's triggers. Their names are not reused: an instance of an earlier version
-- finds its triggers gone and stops caching, rather than wait for notifications that no
-- longer come.
DROP TRIGGER IF EXISTS tokenauth_tokens_added ON tokenauth_tokens;
DROP TRIGGER IF EXISTS tokenauth_tokens_changed ON tokenauth_tokens;
DROP TRIGGER IF EXISTS tokenauth_tokens_deleted ON tokenauth_tokens;
DROP TRIGGER IF EXISTS tokenauth_tokens_truncated ON tokenauth_tokens;
DROP TRIGGER IF EXISTS tokenauth_users_changed ON tokenauth_users;
DROP TRIGGER IF EXISTS tokenauth_users_deleted ON tokenauth_users;
DROP TRIGGER IF EXISTS tokenauth_users_truncated ON tokenauth_users;
DROP FUNCTION IF EXISTS tokenauth_notify_changed();
DROP FUNCTION IF EXISTS tokenauth_notify_deleted();
DROP FUNCTION IF EXISTS tokenauth_notify_truncated();
DROP FUNCTION IF EXISTS tokenauth_notify_added();

-- Statement-level triggers (they fire for statements that change no row too, which is how a
-- heartbeat goes through them), running as tokenauth's role so that any role allowed to
-- change the tables has its changes logged.
CREATE FUNCTION tokenauth_tokens_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    beat text := current_setting('tokenauth.beat', true);
    added bigint;
BEGIN
    IF beat ~ '^[0-9a-f]{32}$' THEN
        INSERT INTO tokenauth_changes (kind, tokens_table, beat)
        VALUES ('?', TG_TABLE_NAME, TG_OP || ' ' || beat);
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO added FROM tokenauth_new;
        IF added > 1000 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table) VALUES ('*', 'tokenauth_tokens');
        ELSIF added > 0 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table, key_digest)
            SELECT '+', 'tokenauth_tokens', key_digest FROM tokenauth_new;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT id, user_id, key_digest, name, created, scopes FROM tokenauth_new
                   EXCEPT SELECT id, user_id, key_digest, name, created, scopes FROM tokenauth_old)
           OR EXISTS (SELECT 1 FROM tokenauth_new n JOIN tokenauth_old o USING (id)
                      WHERE n.expires_at IS NOT NULL
                        AND (o.expires_at IS NULL OR n.expires_at < o.expires_at)) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
        SELECT count(*) INTO added FROM (
            SELECT key_digest FROM tokenauth_new EXCEPT SELECT key_digest FROM tokenauth_old
        ) k;
        IF added > 1000 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table) VALUES ('*', 'tokenauth_tokens');
        ELSIF added > 0 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table, key_digest)
            SELECT '+', 'tokenauth_tokens', key_digest FROM (
                SELECT key_digest FROM tokenauth_new EXCEPT SELECT key_digest FROM tokenauth_old
            ) k;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM tokenauth_old) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
    ELSE -- TRUNCATE
        INSERT INTO tokenauth_changes (kind) VALUES ('-');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_users_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    beat text := current_setting('tokenauth.beat', true);
BEGIN
    IF beat ~ '^[0-9a-f]{32}$' THEN
        INSERT INTO tokenauth_changes (kind, tokens_table, beat)
        VALUES ('?', TG_TABLE_NAME, TG_OP || ' ' || beat);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT id, username, is_active, date_joined, credential_version FROM tokenauth_new
                   EXCEPT
                   SELECT id, username, is_active, date_joined, credential_version FROM tokenauth_old) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM tokenauth_old) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
    ELSE -- TRUNCATE
        INSERT INTO tokenauth_changes (kind) VALUES ('-');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokenauth_tokens_log_insert
    AFTER INSERT ON tokenauth_tokens REFERENCING NEW TABLE AS tokenauth_new
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_tokens_log();
CREATE TRIGGER tokenauth_tokens_log_update
    AFTER UPDATE ON tokenauth_tokens REFERENCING OLD TABLE AS tokenauth_old NEW TABLE AS tokenauth_new
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_tokens_log();
CREATE TRIGGER tokenauth_tokens_log_delete
    AFTER DELETE ON tokenauth_tokens REFERENCING OLD TABLE AS tokenauth_old
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_tokens_log();
CREATE TRIGGER tokenauth_tokens_log_truncate
    AFTER TRUNCATE ON tokenauth_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_tokens_log();
CREATE TRIGGER tokenauth_users_log_update
    AFTER UPDATE ON tokenauth_users REFERENCING OLD TABLE AS tokenauth_old NEW TABLE AS tokenauth_new
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_users_log();
CREATE TRIGGER tokenauth_users_log_delete
    AFTER DELETE ON tokenauth_users REFERENCING OLD TABLE AS tokenauth_old
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_users_log();
CREATE TRIGGER tokenauth_users_log_truncate
    AFTER TRUNCATE ON tokenauth_users
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_users_log();

-- The functions run as tokenauth's role: the names in their bodies resolve in the catalog and
-- this schema only, never first in the caller's temporary schema, as PostgreSQL would
-- otherwise do for tables (a caller could put a table of its own in place of the log, or run
-- its own code as tokenauth's role).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['tokenauth_changes_lost', 'tokenauth_tokens_log', 'tokenauth_users_log'] LOOP
        EXECUTE format('ALTER FUNCTION %I() SET search_path = pg_catalog, %I, pg_temp',
                       name, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %I() FROM PUBLIC', name);
    END LOOP;
END
$$;
