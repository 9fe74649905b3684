-- Peppered digests (PostgreSQL): the id of the pepper a key's digest was made under
-- (`Policy::pepper`), NULL for a plain SHA-256 digest. Read by no lookup — a key is found by
-- the digests it may have — but by `tokenauth check`, which counts the tokens left under
-- each pepper before one is dropped. A digest's change already makes every store forget
-- what it cached (the feed's triggers); its pepper changes only with it.
ALTER TABLE tokenauth_tokens
    ADD COLUMN key_pepper SMALLINT CHECK (key_pepper >= 0),
    ADD COLUMN previous_key_pepper SMALLINT CHECK (previous_key_pepper >= 0);
