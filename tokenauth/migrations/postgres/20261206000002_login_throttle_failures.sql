-- The login throttle counts failures, not logins (PostgreSQL). A reserved attempt is pending
-- until its login is decided: `pending_until` is set while it is, and cleared when the login
-- fails, which makes the row a recorded failure until `expires_at`; a successful login
-- deletes its rows. Only recorded failures use up a limit; pending attempts make other logins
-- wait for their verdict. A row still pending at `pending_until` (its instance stopped before
-- the verdict) counts as a failure. Rows written before this migration are failures.
-- Every time in the table is the database's own `now()`.
ALTER TABLE tokenauth_login_attempts ADD COLUMN pending_until TIMESTAMPTZ;
