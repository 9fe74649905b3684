-- The change feed beside Django: NOTIFY on the channel `tokenauth` (the payloads of
-- tokenauth's own PostgreSQL migration `change_feed`) when DRF's tokens or Django's users
-- change, so every tokenauth instance drops cached authentications and learns new keys —
-- whichever of Django, tokenauth or plain SQL made the change. Changes that cannot narrow
-- what a key grants are not sent: `auth_user.last_login` (Django writes it at every login;
-- a cached DjangoUser may show one up to the cache's maximum age old) and the password hash.

CREATE FUNCTION tokenauth_django_notify_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokenauth', '-');
    -- Nested: an auth_user row has no key.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'authtoken_token' THEN
        IF NEW.key IS DISTINCT FROM OLD.key THEN
            PERFORM pg_notify('tokenauth', '+tokenauth_django_tokens ' || tokenauth_key_digest(NEW.key));
        END IF;
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
    WHEN ((OLD.key, OLD.user_id, OLD.created) IS DISTINCT FROM (NEW.key, NEW.user_id, NEW.created))
    EXECUTE FUNCTION tokenauth_django_notify_changed();

CREATE TRIGGER tokenauth_authtoken_token_deleted
    AFTER DELETE ON authtoken_token REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_deleted();

CREATE TRIGGER tokenauth_authtoken_token_truncated
    AFTER TRUNCATE ON authtoken_token
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_truncated();

CREATE TRIGGER tokenauth_auth_user_changed
    AFTER UPDATE ON auth_user FOR EACH ROW
    WHEN ((OLD.id, OLD.username, OLD.email, OLD.first_name, OLD.last_name, OLD.is_active,
           OLD.is_staff, OLD.is_superuser, OLD.date_joined)
          IS DISTINCT FROM
          (NEW.id, NEW.username, NEW.email, NEW.first_name, NEW.last_name, NEW.is_active,
           NEW.is_staff, NEW.is_superuser, NEW.date_joined))
    EXECUTE FUNCTION tokenauth_django_notify_changed();

CREATE TRIGGER tokenauth_auth_user_deleted
    AFTER DELETE ON auth_user REFERENCING OLD TABLE AS tokenauth_gone
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_deleted();

CREATE TRIGGER tokenauth_auth_user_truncated
    AFTER TRUNCATE ON auth_user
    FOR EACH STATEMENT EXECUTE FUNCTION tokenauth_django_notify_truncated();
