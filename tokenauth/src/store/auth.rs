//! Authenticating a key: one query joining the token and its user.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::FromRow as _;

use super::Store;
use super::backend::on_backend;
use super::filter::Verdict;
use super::tokens::{TokenRow, token_columns};
use super::user::AuthUser;
use crate::error::Error;
use crate::error::Reason;
use crate::key::{Candidates, RawDigest};
use crate::models::{Token, User};
use crate::telemetry::{self, Source};

/// Why [`Store::authenticate`] did not return a user: a refusal the client caused, or a
/// failure of the store (which must not be reported as a refusal).
///
/// ```
/// use tokenauth::rejection::Reason;
/// use tokenauth::store::AuthenticateError;
///
/// let err = AuthenticateError::from(Reason::InvalidToken);
/// assert_eq!(err.to_string(), "Invalid token.");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticateError {
    /// The credentials were refused (`401`).
    #[error(transparent)]
    Denied(#[from] Reason),
    /// The store failed (`5xx`).
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<sqlx::Error> for AuthenticateError {
    fn from(err: sqlx::Error) -> Self {
        AuthenticateError::Store(Error::Database(err))
    }
}

/// `SELECT <token columns>, <U::COLUMNS> FROM <tokens> t JOIN <users> u ON …` — the one
/// query of an authentication, without its `WHERE`; `previous` is the SQL of the
/// `tokenauth_previous_key_until` column, `matched` the column whose digest the key has.
fn joined_select<U: AuthUser>(previous: &str, matched: &str) -> String {
    let mut sql = String::from(concat!("SELECT ", token_columns!("t.")));
    sql.push_str(", ");
    sql.push_str(previous);
    sql.push_str(" AS tokenauth_previous_key_until, t.");
    sql.push_str(matched);
    sql.push_str(" AS tokenauth_matched_digest");
    for column in U::COLUMNS {
        sql.push_str(", u.");
        sql.push_str(column);
    }
    sql.push_str(" FROM ");
    sql.push_str(U::TOKENS_TABLE);
    sql.push_str(" t JOIN ");
    sql.push_str(U::TABLE);
    sql.push_str(" u ON u.");
    sql.push_str(U::ID_COLUMN);
    sql.push_str(" = t.user_id");
    sql
}

/// Whether a database error says that a table, column or type the query names does not exist
/// or does not fit: PostgreSQL's undefined table (`42P01`), undefined column (`42703`),
/// datatype mismatch (`42804`) and undefined function (`42883`); SQLite's "no such table" and
/// "no such column".
fn names_something_missing(error: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        error.code().as_deref(),
        Some("42P01" | "42703" | "42804" | "42883")
    ) || ["no such table", "no such column"]
        .iter()
        .any(|prefix| error.message().starts_with(prefix))
}

/// The token whose key or, for a token rolled with a grace period, previous key has one of
/// `candidates` digests (`$1`, …: one without peppers), and its user: two indexed lookups,
/// and the digest that matched. For a previous key, the end of its grace (the token's
/// creation if none is recorded: refused).
fn auth_query<U: AuthUser>(candidates: usize) -> String {
    let list = super::backend::parameter_list(candidates, 1);
    joined_select::<U>("NULL", "key_digest")
        + " WHERE t.key_digest IN ("
        + &list
        + ") UNION ALL "
        + &joined_select::<U>(
            "COALESCE(t.previous_key_expires_at, t.created)",
            "previous_key_digest",
        )
        + " WHERE t.previous_key_digest IN ("
        + &list
        + ")"
}

/// An authentication query to run: the digests the key may be stored with, and why.
struct Query {
    candidates: Candidates,
    why: Why,
}

/// Why an authentication queries the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Nothing known about the key here (no cache entry, no filter, or the filter may hold it).
    Lookup,
    /// The live-key filter does not hold the key: a refusal to check.
    NotInFilter,
    /// The cached rows refuse the key (expired, inactive user): a refusal to check.
    CachedRefusal,
}

impl Query {
    /// Boxed: the candidates are hundreds of bytes, and the paths without a query (a cache
    /// hit) should not carry them.
    fn new(candidates: Candidates, why: Why) -> Box<Query> {
        Box::new(Query { candidates, why })
    }
}

impl Store {
    /// Checks that the user type `U` matches the database — call it at start-up, after the
    /// migrations, for each [`AuthUser`] of the application: the query that authenticates a
    /// `U` is prepared (so a missing table or column, in `TABLE`, `TOKENS_TABLE`,
    /// `ID_COLUMN` or `COLUMNS`, is found now rather than on the first request), and a row of
    /// `TABLE`, if there is one, is read as a `U` (so `COLUMNS` and the type's
    /// `sqlx::FromRow` agree).
    ///
    /// # Errors
    /// [`Error::UserType`] naming the type and the problem in the database's words, or
    /// [`Error::Database`] if the database cannot be reached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// #[derive(Clone, sqlx::FromRow)]
    /// struct Account {
    ///     id: i64,
    ///     disabled: bool,
    /// }
    ///
    /// impl tokenauth::AuthUser for Account {
    ///     const TABLE: &'static str = "accounts";
    ///     const COLUMNS: &'static [&'static str] = &["id", "disabled"];
    ///     const TOKENS_TABLE: &'static str = "account_tokens";
    ///     fn is_active(&self) -> bool {
    ///         !self.disabled
    ///     }
    /// }
    ///
    /// let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// store.check_user_type::<tokenauth::User>().await?;
    /// let err = store.check_user_type::<Account>().await.unwrap_err();
    /// assert!(err.to_string().contains("no such table: account_tokens"), "{err}");
    /// # Ok(()) }
    /// ```
    pub async fn check_user_type<U: AuthUser>(&self) -> Result<(), Error> {
        let mismatch = |problem: String| Error::UserType {
            user_type: std::any::type_name::<U>(),
            problem,
        };
        // What the type names but the database lacks (or types otherwise) is a mismatch; any
        // other failure (locked, unreachable, no permission) is the database's own.
        let database = |error: sqlx::Error| match error {
            sqlx::Error::Database(error) if names_something_missing(&*error) => {
                mismatch(error.message().to_owned())
            }
            other => Error::Database(other),
        };
        // Prepared and run without a row: every table and column it names must exist.
        let sql = auth_query::<U>(1).replace("$1", "NULL");
        on_backend!(&self.pool, Pool(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_optional(pool)
            .await
            .map(|_| ())
            .map_err(database))?;
        // Peppered digests record their pepper in the tokens table.
        if !self.policy().peppers.is_empty() {
            let sql = format!(
                "SELECT key_pepper, previous_key_pepper FROM {} WHERE 1 = 0",
                U::TOKENS_TABLE
            );
            let peppered = |error: sqlx::Error| match database(error) {
                Error::UserType { problem, .. } => mismatch(format!(
                    "{problem}: with `Policy::pepper`, `{}` needs the columns `key_pepper` and \
                     `previous_key_pepper` (SMALLINT, NULL), as tokenauth's \
                     `peppered_digests` migration adds them to its own tables (beside Django, \
                     whose keys are digested by PostgreSQL, give no pepper)",
                    U::TOKENS_TABLE
                )),
                other => other,
            };
            on_backend!(&self.pool, Pool(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_optional(pool)
                .await
                .map(|_| ())
                .map_err(peppered))?;
        }
        // A real row, read as the type reads it.
        let mut sql = String::from("SELECT ");
        sql.push_str(&U::COLUMNS.join(", "));
        sql.push_str(" FROM ");
        sql.push_str(U::TABLE);
        sql.push_str(" LIMIT 1");
        on_backend!(&self.pool, Pool(pool) => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_optional(pool)
                .await
                .map_err(database)?;
            if let Some(row) = row {
                U::from_row(&row).map_err(|error| {
                    mismatch(format!("a row of `{}` does not decode: {error}", U::TABLE))
                })?;
            }
        });
        Ok(())
    }

    /// Looks a key up with tokenauth's own [`User`]: see [`Store::authenticate_as`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::rejection::Reason;
    /// use tokenauth::store::AuthenticateError;
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// let (user, auth) = store.authenticate(key.expose_secret()).await.unwrap();
    /// assert_eq!((user, auth), (alice, token));
    /// assert!(matches!(
    ///     store.authenticate("not-a-key").await,
    ///     Err(AuthenticateError::Denied(Reason::InvalidToken))
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn authenticate(&self, key: &str) -> Result<(User, Token), AuthenticateError> {
        self.authenticate_as::<User>(key).await
    }

    /// DRF's `authenticate_credentials`: one query joining the token (by the key's digest) to
    /// its user, then Django REST framework's checks. Unknown and expired keys — including
    /// tokens older than [`Policy::max_ttl`](crate::Policy::max_ttl) — are `Invalid token.`;
    /// a user that is not active is `User inactive or deleted.`
    ///
    /// The key alone: what the request asks for is not checked here — scopes, and the limits
    /// a token carries (`allowed_ips`, `read_only`). [`tokenauth::authenticate`](crate::authenticate)
    /// (what every extractor runs) checks them all; code that calls this directly checks
    /// [`Token::allows_client`](crate::Token::allows_client) with
    /// [`Policy::client_address`](crate::Policy::client_address), and `token.read_only`, itself.
    ///
    /// # Errors
    /// [`AuthenticateError::Denied`] with the reason, or [`AuthenticateError::Store`] if the
    /// database fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::User;
    /// use tokenauth::rejection::Reason;
    /// use tokenauth::store::AuthenticateError;
    ///
    /// let bob = store.create_user_with("bob", None, false).await?; // inactive
    /// let (_, key) = store.tokens().create(bob.id, Default::default()).await?;
    /// assert!(matches!(
    ///     store.authenticate_as::<User>(key.expose_secret()).await,
    ///     Err(AuthenticateError::Denied(Reason::UserInactive))
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn authenticate_as<U: AuthUser>(
        &self,
        key: &str,
    ) -> Result<(U, Token), AuthenticateError> {
        let started = std::time::Instant::now();
        let (answer, source) = match self.authenticate_without_query::<U>(key) {
            Ok(answer) => answer,
            // Boxed: the query's future is large, and a cache hit should not carry it.
            Err(query) => (
                Box::pin(self.authenticate_with_query::<U>(query)).await,
                Source::Database,
            ),
        };
        telemetry::authentication_duration(source, started.elapsed());
        answer
    }

    /// The cache, if it serves user type `U` now (a group of tables the feed watches covers
    /// both of its tables, and the feed proves it current); when it does not, registers the
    /// tables `U` names for the feed to watch ([`AuthUser::WATCH`]) and starts the feed.
    fn cache_for<U: AuthUser>(&self) -> Option<&std::sync::Arc<super::cache::AuthCache>> {
        let cache = self.auth_cache().filter(|_| U::CACHEABLE)?;
        if cache.serves_user(U::TOKENS_TABLE, U::TABLE) {
            return Some(cache);
        }
        if let Some(watch) = U::WATCH {
            cache.watch(watch);
        }
        self.start_feed(cache);
        None
    }

    /// The answer when no query is needed — a mistyped key, a cache hit that admits, a
    /// refusal the database already confirmed or that the budget of checks cannot confirm —
    /// or the query to run.
    #[allow(clippy::type_complexity)]
    fn authenticate_without_query<U: AuthUser>(
        &self,
        key: &str,
    ) -> Result<(Result<(U, Token), AuthenticateError>, Source), Box<Query>> {
        if self.policy().key_format.check(key) == Some(false) {
            // A mistyped key: no query needed.
            return Ok((Err(Reason::InvalidToken.into()), Source::Filter));
        }
        // Stored digests: plain SHA-256, or HMAC under a pepper (one candidate per pepper).
        let candidates = self.policy().peppers.candidates(key);
        let Some(cache) = self.cache_for::<U>() else {
            return Err(Query::new(candidates, Why::Lookup));
        };
        // The cache and the filter hold stored digests: the one the key has, if any.
        let cached = candidates.as_slice().iter().find_map(|raw| {
            let hit = cache.get::<U>(U::TOKENS_TABLE, raw)?;
            Some((raw, hit))
        });
        if let Some((raw, (rows, ticket))) = cached {
            return match self.admit(Some((cache, ticket)), raw, rows) {
                Ok(admitted) => Ok((Ok(admitted), Source::Cache)),
                // Expired or inactive as cached: another instance may have extended the token
                // or activated the user since. Confirmed by a query, within the budget.
                Err(_) if cache.may_confirm() => Err(Query::new(candidates, Why::CachedRefusal)),
                Err(refusal) => Ok((Err(refusal), Source::Cache)),
            };
        }
        let refused = || (Err(Reason::InvalidToken.into()), Source::Filter);
        // Absent only if every candidate is; any that may be live is looked up.
        let mut verdict = Verdict::Absent;
        for raw in candidates.as_slice() {
            match self.live_key(cache, U::TOKENS_TABLE, raw) {
                Verdict::Absent => {}
                other => {
                    verdict = other;
                    break;
                }
            }
        }
        let first = candidates.first();
        match verdict {
            Verdict::Absent if cache.known_absent(U::TOKENS_TABLE, first) => Ok(refused()),
            // Not in the filter: a key made elsewhere a moment ago may not be yet.
            Verdict::Absent if cache.may_confirm() => Err(Query::new(candidates, Why::NotInFilter)),
            Verdict::Absent => Ok(refused()),
            Verdict::Maybe | Verdict::Unknown => Err(Query::new(candidates, Why::Lookup)),
        }
    }

    /// One query joining the token to its user, then [`Store::admit`].
    async fn authenticate_with_query<U: AuthUser>(
        &self,
        query: Box<Query>,
    ) -> Result<(U, Token), AuthenticateError> {
        let Query { candidates, why } = *query;
        if let Some(counter) = self.auth_cache() {
            counter.queried();
        }
        let cache = self.cache_for::<U>();
        let ticket = cache.map(|cache| cache.ticket());
        let digests = candidates.stored();
        let sql = auth_query::<U>(digests.len());
        let found = on_backend!(&self.pool, Pool(pool) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for digest in &digests {
                query = query.bind(digest.as_str());
            }
            // One row at most: issuing refuses a key stored under any digest it may have. Two
            // (the same imported key stored by instances with different current peppers) is
            // refused rather than answered as whichever user came first.
            match &query.fetch_all(pool).await?[..] {
                [row] => {
                    let mut token = Token::from(TokenRow::from_row(row)?);
                    token.previous_key_until = sqlx::Row::try_get(row, "tokenauth_previous_key_until")?;
                    let matched: Option<String> = sqlx::Row::try_get(row, "tokenauth_matched_digest")?;
                    Some((U::from_row(row)?, token, matched))
                }
                _ => None,
            }
        });
        let cached = cache.zip(ticket);
        let Some((user, token, matched)) = found else {
            if why == Why::NotInFilter
                && let Some((cache, ticket)) = cached
            {
                // Nobody presents a key before it exists: until a key is added, this digest
                // costs no query.
                cache.confirmed_absent(ticket, U::TOKENS_TABLE, candidates.first());
            }
            return Err(Reason::InvalidToken.into());
        };
        // The digest the row has: the cache and the filter keep stored digests, which the
        // change feed names.
        let raw = matched
            .as_deref()
            .and_then(RawDigest::from_hex)
            .unwrap_or(*candidates.first());
        let rows = (user, token);
        if let Some((cache, ticket)) = cached {
            if why == Why::NotInFilter {
                // A key made elsewhere that the filter had not heard of yet.
                self.learned_key(cache, U::TOKENS_TABLE, &raw);
            }
            cache.insert(ticket, U::TOKENS_TABLE, &raw, (&rows.0, &rows.1));
        }
        let admitted = self.admit(cached, &raw, rows);
        if why != Why::Lookup
            && admitted.is_ok()
            && let Some(cache) = self.auth_cache()
        {
            cache.overturned();
        }
        admitted
    }

    /// DRF's checks on a token and its user (cached or just read): expiry, then activity;
    /// then the use is recorded, off the request.
    fn admit<U: AuthUser>(
        &self,
        cached: Option<(
            &std::sync::Arc<super::cache::AuthCache>,
            super::cache::Ticket,
        )>,
        raw: &RawDigest,
        (user, mut token): (U, Token),
    ) -> Result<(U, Token), AuthenticateError> {
        let stored_expiry = token.expires_at;
        token.expires_at = self.policy().effective_expiry(&token);
        // Microseconds: what PostgreSQL keeps, so written values read back unchanged.
        let now = Utc::now().trunc_subsecs(6);
        if token.is_expired(now)
            || self.policy().unused_too_long(&token, now)
            || token.previous_key_until.is_some_and(|until| until <= now)
        {
            return Err(Reason::InvalidToken.into());
        }
        if !user.is_active() {
            return Err(Reason::UserInactive.into());
        }
        let (last_used, mut refreshed) = self.policy().on_use(&token, now);
        if token.previous_key_until.is_some() {
            // A previous key keeps the token alive no longer than its grace.
            refreshed = None;
        }
        if last_used.is_some() || refreshed.is_some() {
            // Written off the request, coalesced per token (at most once per interval).
            let refresh = refreshed.map(|to| (stored_expiry, to));
            let interval = self.policy().recorded_interval().unwrap_or_default();
            let stale = last_used.map(|at| {
                let cutoff = at.checked_sub_signed(interval);
                (
                    at,
                    crate::policy::storable(cutoff.unwrap_or(DateTime::<Utc>::MIN_UTC)),
                )
            });
            self.record_use(U::TOKENS_TABLE, token.id, stale, refresh);
            token.last_used_at = last_used.or(token.last_used_at);
            if let Some((cache, ticket)) = cached {
                if refreshed.is_some() {
                    // The expiry will change if the write finds it unchanged: read it again
                    // then, rather than guess (another instance may have refreshed it first).
                    cache.invalidate(raw);
                } else {
                    // The rows as they will be stored once the use is written, so that later
                    // requests do not find it due again (and nothing else is invalidated).
                    let mut stored = token.clone();
                    stored.expires_at = stored_expiry;
                    cache.insert(ticket, U::TOKENS_TABLE, raw, (&user, &stored));
                }
            }
            token.expires_at = refreshed.or(token.expires_at);
        }
        Ok((user, token))
    }
}
