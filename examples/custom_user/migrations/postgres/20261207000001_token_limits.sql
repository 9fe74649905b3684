-- The columns tokenauth 0.1's tokens tables have besides the first ones: limits a token
-- carries, and the previous key of a rolled token (see tokenauth's `token_limits` migration).
ALTER TABLE account_tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE account_tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE account_tokens ADD COLUMN previous_key_digest TEXT UNIQUE;
ALTER TABLE account_tokens ADD COLUMN previous_key_expires_at TIMESTAMPTZ;
