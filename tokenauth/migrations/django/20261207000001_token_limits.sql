-- The columns tokenauth's tokens gained for limits and rolling (see tokenauth's own
-- `token_limits` migration), on the view of DRF's tokens: DRF's keys carry no limits and are
-- never rolled (tokenauth cannot write a key into Django's table). Columns are added at the
-- end, which CREATE OR REPLACE VIEW allows; the view's trigger stays.
CREATE OR REPLACE VIEW tokenauth_django_tokens AS
SELECT tokenauth_key_id(t.key)     AS id,
       t.user_id::bigint           AS user_id,
       tokenauth_key_digest(t.key) AS key_digest,
       'drf'::text                 AS name,
       t.created                   AS created,
       NULL::timestamptz           AS expires_at,
       NULL::timestamptz           AS last_used_at,
       ''::text                    AS scopes,
       ''::text                    AS allowed_ips,
       FALSE                       AS read_only,
       NULL::text                  AS previous_key_digest,
       NULL::timestamptz           AS previous_key_expires_at
FROM authtoken_token t;
