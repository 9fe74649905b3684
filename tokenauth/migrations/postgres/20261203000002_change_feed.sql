-- The change feed (PostgreSQL): every instance caches authentications and keeps a filter of
-- live key digests, and learns of changes made anywhere — by another instance, the CLI, or
-- plain SQL — through NOTIFY on the channel `tokenauth`, sent by these triggers when the
-- changing transaction commits. Payloads:
--   `-`                  something a cached authentication may depend on changed: forget them;
--   `+<table> <digest>`  a key was added to <table>;
--   `*<table>`           many keys were added to <table>: rebuild its filter.
-- Changes that cannot narrow what a key grants are not sent: a last use, a later expiry (a
-- sliding refresh; an instance re-reads a token its cache finds expired), a password hash
-- (a password change through tokenauth revokes tokens, which is sent).

CREATE FUNCTION tokenauth_notify_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokenauth', '-');
    -- Nested: a users row has no key_digest.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'tokenauth_tokens' THEN
        IF NEW.key_digest IS DISTINCT FROM OLD.key_digest THEN
            PERFORM pg_notify('tokenauth', '+tokenauth_tokens ' || NEW.key_digest);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Statement-level, with the deleted rows: one notification per statement, none when
-- nothing was deleted (e.g. pruning expired tokens that found none).
CREATE FUNCTION tokenauth_notify_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tokenauth_gone) THEN
        PERFORM pg_notify('tokenauth', '-');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_notify_truncated() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokenauth', '-');
    RETURN NULL;
END
$$;

-- New keys, one notification each; over 1,000 in one statement (an import), one asking
-- for a rebuild.
CREATE FUNCTION tokenauth_notify_added() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    digest text;
BEGIN
    IF (SELECT count(*) FROM tokenauth_added) > 1000 THEN
        PERFORM pg_notify('tokenauth', '*' || TG_TABLE_NAME);
    ELSE
        FOR digest IN SELECT key_digest FROM tokenauth_added LOOP
            PERFORM pg_notify('tokenauth', '+' || TG_TABLE_NAME || ' ' || digest);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokenauth_tokens_added
    AFTER INSERT ON tokenauth_tokens REFERENCING NEW TABLE AS tokenauth_added
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_notify_added();

CREATE TRIGGER tokenauth_tokens_changed
    AFTER UPDATE ON tokenauth_tokens FOR EACH ROW
    WHEN ((OLD.id, OLD.user_id, OLD.key_digest, OLD.name, OLD.created, OLD.scopes)
              IS DISTINCT FROM (NEW.id, NEW.user_id, NEW.key_digest, NEW.name, NEW.created, NEW.scopes)
          OR (NEW.expires_at IS NOT NULL
              AND (OLD.expires_at IS NULL OR NEW.expires_at < OLD.expires_at)))
    EXECUTE FUNCTION tokenauth_notify_changed();

CREATE TRIGGER tokenauth_tokens_deleted
    AFTER DELETE ON tokenauth_tokens REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_notify_deleted();

CREATE TRIGGER tokenauth_tokens_truncated
    AFTER TRUNCATE ON tokenauth_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_notify_truncated();

CREATE TRIGGER tokenauth_users_changed
    AFTER UPDATE ON tokenauth_users FOR EACH ROW
    WHEN ((OLD.id, OLD.username, OLD.is_active, OLD.date_joined, OLD.credential_version)
              IS DISTINCT FROM (NEW.id, NEW.username, NEW.is_active, NEW.date_joined, NEW.credential_version))
    EXECUTE FUNCTION tokenauth_notify_changed();

CREATE TRIGGER tokenauth_users_deleted
    AFTER DELETE ON tokenauth_users REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_notify_deleted();

CREATE TRIGGER tokenauth_users_truncated
    AFTER TRUNCATE ON tokenauth_users
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_notify_truncated();
