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
