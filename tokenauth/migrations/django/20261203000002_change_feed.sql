-- The change feed beside Django: NOTIFY on the channel `tokenauth` (the payloads of
-- tokenauth's own PostgreSQL migration `change_feed`) when DRF's tokens or Django's users
-- change, so every tokenauth instance drops cached authentications and learns new keys —
-- whichever of Django, tokenauth or plain SQL made the change. Changes that cannot narrow
-- what a key grants are not sent: `auth_user.last_login` (Django writes it at every login;
-- a cached DjangoUser may show one up to the cache's maximum age old) and the password hash.
-- The comparisons are made in the functions' bodies, not in the triggers' WHEN clauses, so
-- that no column of Django's tables becomes a dependency: Django's own migrations can still
-- change their types. Without `auth_user` (a custom AUTH_USER_MODEL, which DjangoUser cannot
-- read anyway) only the tokens are watched.

CREATE FUNCTION tokenauth_django_token_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(OLD) IS DISTINCT FROM to_jsonb(NEW) THEN
        PERFORM pg_notify('tokenauth', '-');
    END IF;
    IF NEW.key IS DISTINCT FROM OLD.key THEN
        PERFORM pg_notify('tokenauth', '+tokenauth_django_tokens ' || tokenauth_key_digest(NEW.key));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_django_user_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(OLD) - 'last_login' - 'password')
            IS DISTINCT FROM (to_jsonb(NEW) - 'last_login' - 'password') THEN
        PERFORM pg_notify('tokenauth', '-');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_django_notify_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tokenauth_gone) THEN
        PERFORM pg_notify('tokenauth', '-');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_django_notify_truncated() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokenauth', '-');
    RETURN NULL;
END
$$;

CREATE FUNCTION tokenauth_django_notify_added() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    added text;
BEGIN
    IF (SELECT count(*) FROM tokenauth_added) > 1000 THEN
        PERFORM pg_notify('tokenauth', '*tokenauth_django_tokens');
    ELSE
        FOR added IN SELECT a.key FROM tokenauth_added a LOOP
            PERFORM pg_notify('tokenauth', '+tokenauth_django_tokens ' || tokenauth_key_digest(added));
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokenauth_authtoken_token_added
    AFTER INSERT ON authtoken_token REFERENCING NEW TABLE AS tokenauth_added
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_added();

CREATE TRIGGER tokenauth_authtoken_token_changed
    AFTER UPDATE ON authtoken_token FOR EACH ROW
    EXECUTE FUNCTION tokenauth_django_token_changed();

CREATE TRIGGER tokenauth_authtoken_token_deleted
    AFTER DELETE ON authtoken_token REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_deleted();

CREATE TRIGGER tokenauth_authtoken_token_truncated
    AFTER TRUNCATE ON authtoken_token
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_truncated();

DO $$
BEGIN
    IF to_regclass('auth_user') IS NOT NULL THEN
        CREATE TRIGGER tokenauth_auth_user_changed
            AFTER UPDATE ON auth_user FOR EACH ROW
            EXECUTE FUNCTION tokenauth_django_user_changed();
        CREATE TRIGGER tokenauth_auth_user_deleted
            AFTER DELETE ON auth_user REFERENCING OLD TABLE AS tokenauth_gone
            FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_deleted();
        CREATE TRIGGER tokenauth_auth_user_truncated
            AFTER TRUNCATE ON auth_user
            FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_truncated();
    END IF;
END
$$;
