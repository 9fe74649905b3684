-- Tokens as a product (SQLite): limits a token carries, and rolling a key with a grace period.
--   allowed_ips              space-separated CIDRs the token may be used from ('' = anywhere);
--   read_only                only GET, HEAD and OPTIONS (and logging itself out);
--   previous_key_digest      after a roll with a grace period: the digest of the key it
--                            replaced, accepted until previous_key_expires_at.
-- The feed's trigger on changed tokens is replaced so that any change to these columns (all
-- of which can narrow what a key grants) makes every store forget what it cached; a digest
-- newly set in previous_key_digest is reported as added, so that every live-key filter holds
-- it. The unique index on previous_key_digest is a third conflict that `INSERT OR REPLACE`
-- resolves by deleting a row (without a DELETE trigger): the trigger on replacing inserts
-- watches it too.

ALTER TABLE tokenauth_tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokenauth_tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE tokenauth_tokens ADD COLUMN previous_key_digest TEXT;
ALTER TABLE tokenauth_tokens ADD COLUMN previous_key_expires_at DATETIME;
CREATE UNIQUE INDEX tokenauth_tokens_previous_key_digest ON tokenauth_tokens (previous_key_digest);

DROP TRIGGER tokenauth_tokens_replacing;
CREATE TRIGGER tokenauth_tokens_replacing BEFORE INSERT ON tokenauth_tokens
WHEN EXISTS (SELECT 1 FROM tokenauth_tokens WHERE id = NEW.id OR key_digest = NEW.key_digest
             OR previous_key_digest = NEW.previous_key_digest)
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
END;

DROP TRIGGER tokenauth_tokens_changed;
CREATE TRIGGER tokenauth_tokens_changed AFTER UPDATE ON tokenauth_tokens
WHEN OLD.id IS NOT NEW.id OR OLD.user_id IS NOT NEW.user_id
    OR OLD.key_digest IS NOT NEW.key_digest OR OLD.name IS NOT NEW.name
    OR OLD.created IS NOT NEW.created OR OLD.scopes IS NOT NEW.scopes
    OR OLD.allowed_ips IS NOT NEW.allowed_ips OR OLD.read_only IS NOT NEW.read_only
    OR OLD.previous_key_digest IS NOT NEW.previous_key_digest
    OR OLD.previous_key_expires_at IS NOT NEW.previous_key_expires_at
    OR (NEW.expires_at IS NOT NULL
        AND (OLD.expires_at IS NULL OR julianday(NEW.expires_at) < julianday(OLD.expires_at)))
BEGIN
    INSERT INTO tokenauth_changes (key_digest) VALUES (NULL);
    INSERT INTO tokenauth_changes (tokens_table, key_digest)
    SELECT 'tokenauth_tokens', NEW.key_digest WHERE NEW.key_digest IS NOT OLD.key_digest;
    INSERT INTO tokenauth_changes (tokens_table, key_digest)
    SELECT 'tokenauth_tokens', NEW.previous_key_digest
    WHERE NEW.previous_key_digest IS NOT NULL
        AND NEW.previous_key_digest IS NOT OLD.previous_key_digest;
END;
