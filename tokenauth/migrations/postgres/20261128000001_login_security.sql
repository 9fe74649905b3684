-- Login security (PostgreSQL).
-- A per-user credential version, bumped by every password or activation change: a login
-- issues its token only if the version it checked is still current (re-read under the
-- user's row lock, in the INSERT's transaction), so no token minted from an old password
-- outlives the change.
ALTER TABLE tokenauth_users ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 0;

-- Login attempts reserved by the throttle, shared by every application instance on this
-- database. `subject` is a fixed-size digest of a username or a client network (never the
-- username itself); rows are deleted when they expire.
CREATE TABLE tokenauth_login_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject      BYTEA NOT NULL CHECK (length(subject) = 16),
    attempted_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);

CREATE INDEX tokenauth_login_attempts_subject ON tokenauth_login_attempts (subject, expires_at);
CREATE INDEX tokenauth_login_attempts_expires_at ON tokenauth_login_attempts (expires_at);

-- The secret that keys the throttle's subject digests (HMAC-SHA-256), so that the attempts
-- table does not reveal which usernames (or passwords typed into the username field) and
-- addresses were tried. Shared by every instance; 244 random bits from gen_random_uuid().
CREATE TABLE tokenauth_throttle_key (
    id  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    key BYTEA NOT NULL CHECK (length(key) = 32)
);
INSERT INTO tokenauth_throttle_key (key)
VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
