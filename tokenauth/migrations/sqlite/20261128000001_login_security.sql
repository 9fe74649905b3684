-- Login security (SQLite). The login throttle stays in process memory on SQLite.
-- A per-user credential version, bumped by every password or activation change: a login
-- issues its token only if the version it checked is still current (in the INSERT's
-- transaction), so no token minted from an old password outlives the change.
ALTER TABLE tokenauth_users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
