-- The columns tokenauth 0.1's tokens tables have besides the first ones: limits a token
-- carries, and the previous key of a rolled token (see tokenauth's `token_limits` migration).
ALTER TABLE account_tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE account_tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE account_tokens ADD COLUMN previous_key_digest TEXT;
ALTER TABLE account_tokens ADD COLUMN previous_key_expires_at DATETIME;
CREATE UNIQUE INDEX account_tokens_previous_key_digest ON account_tokens (previous_key_digest);
