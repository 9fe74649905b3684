-- Tokens as a product (PostgreSQL): limits a token carries, and rolling a key with a grace
-- period.
--   allowed_ips              space-separated CIDRs the token may be used from ('' = anywhere);
--   read_only                only GET, HEAD and OPTIONS (and logging itself out);
--   previous_key_digest      after a roll with a grace period: the digest of the key it
--                            replaced, accepted until previous_key_expires_at.
-- The feed's trigger function is replaced (same name, same triggers) so that any change to
-- these columns (all of which can narrow what a key grants) is logged as `-`, and a digest
-- newly set in previous_key_digest as added (`+`), so that every live-key filter holds it.

ALTER TABLE tokenauth_tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokenauth_tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tokenauth_tokens ADD COLUMN previous_key_digest TEXT UNIQUE
    CHECK (length(previous_key_digest) = 64);
ALTER TABLE tokenauth_tokens ADD COLUMN previous_key_expires_at TIMESTAMPTZ;

CREATE OR REPLACE FUNCTION tokenauth_tokens_log() RETURNS trigger
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
        IF EXISTS (SELECT id, user_id, key_digest, name, created, scopes,
                          allowed_ips, read_only, previous_key_digest, previous_key_expires_at FROM tokenauth_new
                   EXCEPT
                   SELECT id, user_id, key_digest, name, created, scopes,
                          allowed_ips, read_only, previous_key_digest, previous_key_expires_at FROM tokenauth_old)
           OR EXISTS (SELECT 1 FROM tokenauth_new n JOIN tokenauth_old o USING (id)
                      WHERE n.expires_at IS NOT NULL
                        AND (o.expires_at IS NULL OR n.expires_at < o.expires_at)) THEN
            INSERT INTO tokenauth_changes (kind) VALUES ('-');
        END IF;
        SELECT count(*) INTO added FROM (
            SELECT key_digest FROM tokenauth_new
            UNION SELECT previous_key_digest FROM tokenauth_new WHERE previous_key_digest IS NOT NULL
            EXCEPT (SELECT key_digest FROM tokenauth_old
                    UNION SELECT previous_key_digest FROM tokenauth_old)
        ) k;
        IF added > 1000 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table) VALUES ('*', 'tokenauth_tokens');
        ELSIF added > 0 THEN
            INSERT INTO tokenauth_changes (kind, tokens_table, key_digest)
            SELECT '+', 'tokenauth_tokens', key_digest FROM (
                SELECT key_digest FROM tokenauth_new
                UNION SELECT previous_key_digest FROM tokenauth_new WHERE previous_key_digest IS NOT NULL
                EXCEPT (SELECT key_digest FROM tokenauth_old
                        UNION SELECT previous_key_digest FROM tokenauth_old)
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

-- CREATE OR REPLACE keeps the function's owner and privileges but not its settings: its
-- names resolve in the catalog and this schema only, again (see `feed_log`).
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION tokenauth_tokens_log() SET search_path = pg_catalog, %I, pg_temp',
                   current_schema());
END
$$;
