-- tokenauth beside a running Django (PostgreSQL): authenticates the keys that Django REST
-- framework keeps issuing and deleting in `authtoken_token`, against Django's `auth_user`,
-- without copying them. Applied by `tokenauth::django::migrate` (`tokenauth migrate-django`)
-- to Django's database, after Django's own migrations; recorded in
-- `_tokenauth_django_migrations`. Django's tables are not altered: this adds a function, two
-- indexes on `authtoken_token` and a view. Released migrations are never edited.

-- The digest tokenauth stores for a key: SHA-256 of its UTF-8 bytes, as lowercase hex
-- (`tokenauth::KeyDigest`). Declared IMMUTABLE so that it can be indexed: `convert_to` is only
-- STABLE because of encoding conversion, and Django's PostgreSQL databases are UTF-8, which a
-- database never changes.
CREATE FUNCTION tokenauth_key_digest(key text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex') $$;

-- A token's id for tokenauth (DRF's tokens have none but their key): the first 63 bits of
-- the digest, so that the key itself is never an identifier. Both bodies name only
-- pg_catalog's functions: an index on them is rebuilt correctly under any search_path
-- (pg_restore, and PostgreSQL 17's maintenance operations, use an empty one).
CREATE FUNCTION tokenauth_key_id(key text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ('x' || substr(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint
              & 9223372036854775807 $$;

-- The one indexed lookup of each authentication, of a revocation by id, and of a user's
-- tokens (the view's bigint user id).
CREATE UNIQUE INDEX tokenauth_authtoken_token_digest ON authtoken_token (tokenauth_key_digest(key));
CREATE INDEX tokenauth_authtoken_token_id ON authtoken_token (tokenauth_key_id(key));
CREATE INDEX tokenauth_authtoken_token_user_id ON authtoken_token ((user_id::bigint));

-- DRF's tokens with the columns of `tokenauth_tokens`: the `TOKENS_TABLE` of
-- `tokenauth::django::DjangoUser`. No plaintext key is stored anywhere new: the view computes
-- digests from Django's own table. DRF's tokens never expire, have no name, no scopes (so an
-- operation that requires a scope refuses them) and no last-use record. While the view
-- exists, a Django migration cannot change the type of authtoken_token's columns (none of
-- DRF's does): drop the view first, and run `tokenauth migrate-django` again after.
CREATE VIEW tokenauth_django_tokens AS
SELECT tokenauth_key_id(t.key)     AS id,
       t.user_id::bigint           AS user_id,
       tokenauth_key_digest(t.key) AS key_digest,
       'drf'::text                 AS name,
       t.created                   AS created,
       NULL::timestamptz           AS expires_at,
       NULL::timestamptz           AS last_used_at,
       ''::text                    AS scopes
FROM authtoken_token t;

-- Revoking through tokenauth (logout, `revoke`) deletes Django's row: the view is
-- automatically updatable for DELETE. Nothing can be written into it: Django issues the
-- keys, since only Django can store them.
CREATE FUNCTION tokenauth_django_tokens_read_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- A last-use or sliding-expiry write: DRF's table has nowhere to keep it.
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'tokenauth cannot issue tokens into Django''s authtoken_token'
        USING HINT = 'Issue keys with Django (DRF''s Token model), which stores them; tokenauth stores digests only.';
END
$$;

CREATE TRIGGER tokenauth_django_tokens_read_only
    INSTEAD OF INSERT OR UPDATE ON tokenauth_django_tokens
    FOR EACH ROW EXECUTE FUNCTION tokenauth_django_tokens_read_only();
