-- The change feed beside Django, second form: as tokenauth's own PostgreSQL migration
-- `feed_log` (read its header), for DRF's `authtoken_token` and Django's `auth_user`. The
-- triggers record Django's changes — whichever of Django, tokenauth or plain SQL makes them —
-- in tokenauth's log table, and send no notification: Django's writes never fail or wait
-- because of tokenauth (a full NOTIFY queue, a listener holding a transaction), and no role
-- can read new keys' digests from a notification. Instances read the log at least every
-- 100 ms and at once when tokenauth itself writes.
--
-- The comparisons are made in the functions' bodies, not in the triggers' WHEN clauses, so
-- that no column of Django's tables becomes a dependency: Django's own migrations can still
-- change their types. Not logged, as before: `auth_user.last_login` (Django writes it at
-- every login) and the password hash. Without `auth_user` (a custom AUTH_USER_MODEL, which
-- DjangoUser cannot read anyway) only the tokens are watched.

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

-- The first form's triggers and functions (their names are not reused: an instance of an
-- earlier version finds its triggers gone and stops caching).
DROP TRIGGER IF EXISTS tokenauth_authtoken_token_added ON authtoken_token;
DROP TRIGGER IF EXISTS tokenauth_authtoken_token_changed ON authtoken_token;
DROP TRIGGER IF EXISTS tokenauth_authtoken_token_deleted ON authtoken_token;
DROP TRIGGER IF EXISTS tokenauth_authtoken_token_truncated ON authtoken_token;
DROP TRIGGER IF EXISTS tokenauth_auth_user_changed ON auth_user;
DROP TRIGGER IF EXISTS tokenauth_auth_user_deleted ON auth_user;
DROP TRIGGER IF EXISTS tokenauth_auth_user_truncated ON auth_user;
DROP FUNCTION IF EXISTS tokenauth_django_token_changed();
DROP FUNCTION IF EXISTS tokenauth_django_user_changed();
DROP FUNCTION IF EXISTS tokenauth_django_notify_deleted();
DROP FUNCTION IF EXISTS tokenauth_django_notify_truncated();
DROP FUNCTION IF EXISTS tokenauth_django_notify_added();

CREATE FUNCTION tokenauth_authtoken_token_log() RETURNS trigger
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
            INSERT INTO tokenauth_changes (kind, tokens_table) VALUES ('*', 'tokenauth_django_tokens');
        ELSIF added > 0 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table, key_digest)
            SELECT '+', 'tokenauth_django_tokens', tokenauth_key_digest(n.key) FROM tokenauth_new n;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT to_jsonb(n) FROM tokenauth_new n EXCEPT SELECT to_jsonb(o) FROM tokenauth_old o) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
        SELECT count(*) INTO added FROM (
            SELECT n.key FROM tokenauth_new n EXCEPT SELECT o.key FROM tokenauth_old o
        ) k;
        IF added > 1000 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table) VALUES ('*', 'tokenauth_django_tokens');
        ELSIF added > 0 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table, key_digest)
            SELECT '+', 'tokenauth_django_tokens', tokenauth_key_digest(k.key) FROM (
                SELECT n.key FROM tokenauth_new n EXCEPT SELECT o.key FROM tokenauth_old o
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

CREATE FUNCTION tokenauth_auth_user_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    beat text := current_setting('tokenauth.beat', true);
BEGIN
    IF beat ~ '^[0-9a-f]{32}$' THEN
        INSERT INTO tokenauth_changes (kind, tokens_table, beat)
        VALUES ('?', TG_TABLE_NAME, TG_OP || ' ' || beat);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF EXISTS (SELECT to_jsonb(n) - 'last_login' - 'password' FROM tokenauth_new n
                   EXCEPT SELECT to_jsonb(o) - 'last_login' - 'password' FROM tokenauth_old o) THEN
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

CREATE TRIGGER tokenauth_authtoken_token_log_insert
    AFTER INSERT ON authtoken_token REFERENCING NEW TABLE AS tokenauth_new
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_authtoken_token_log();
CREATE TRIGGER tokenauth_authtoken_token_log_update
    AFTER UPDATE ON authtoken_token REFERENCING OLD TABLE AS tokenauth_old NEW TABLE AS tokenauth_new
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_authtoken_token_log();
CREATE TRIGGER tokenauth_authtoken_token_log_delete
    AFTER DELETE ON authtoken_token REFERENCING OLD TABLE AS tokenauth_old
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_authtoken_token_log();
CREATE TRIGGER tokenauth_authtoken_token_log_truncate
    AFTER TRUNCATE ON authtoken_token
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_authtoken_token_log();

DO $$
BEGIN
    IF to_regclass('auth_user') IS NOT NULL THEN
        CREATE TRIGGER tokenauth_auth_user_log_update
            AFTER UPDATE ON auth_user REFERENCING OLD TABLE AS tokenauth_old NEW TABLE AS tokenauth_new
            FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_auth_user_log();
        CREATE TRIGGER tokenauth_auth_user_log_delete
            AFTER DELETE ON auth_user REFERENCING OLD TABLE AS tokenauth_old
            FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_auth_user_log();
        CREATE TRIGGER tokenauth_auth_user_log_truncate
            AFTER TRUNCATE ON auth_user
            FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_auth_user_log();
    END IF;
END
$$;

-- The functions run as tokenauth's role: the names in their bodies resolve in the catalog and
-- this schema only, never first in the caller's temporary schema, as PostgreSQL would
-- otherwise do for tables (a caller could put a table of its own in place of the log, or run
-- its own code as tokenauth's role).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['tokenauth_changes_lost', 'tokenauth_authtoken_token_log', 'tokenauth_auth_user_log'] LOOP
        EXECUTE format('ALTER FUNCTION %I() SET search_path = pg_catalog, %I, pg_temp',
                       name, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %I() FROM PUBLIC', name);
    END LOOP;
END
$$;
