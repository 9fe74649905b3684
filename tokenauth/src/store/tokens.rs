//! Tokens: creation, import, DRF's get-or-create and reset, listing and revocation — in
//! `tokenauth_tokens`, or in the tokens table of an application's own user type.

use std::marker::PhantomData;

use chrono::{DateTime, SubsecRound as _, Utc};

use super::backend::on_backend;
use super::write::Change;
use super::{Store, unique_violation};
use crate::error::Error;
use crate::key::{Key, KeyDigest};
use crate::models::{NewToken, Token, User};
use crate::models::{join_networks, split_networks, split_scopes};
use crate::store::user::AuthUser;
use crate::telemetry::{self, Event};

/// The token columns, aliased so that they cannot clash with a joined user table's columns.
macro_rules! token_columns {
    ($table:literal) => {
        concat!(
            $table,
            "id AS tokenauth_token_id, ",
            $table,
            "user_id AS tokenauth_token_user_id, ",
            $table,
            "name AS tokenauth_token_name, ",
            $table,
            "created AS tokenauth_token_created, ",
            $table,
            "expires_at AS tokenauth_token_expires_at, ",
            $table,
            "last_used_at AS tokenauth_token_last_used_at, ",
            $table,
            "scopes AS tokenauth_token_scopes, ",
            $table,
            "allowed_ips AS tokenauth_token_allowed_ips, ",
            $table,
            "read_only AS tokenauth_token_read_only"
        )
    };
}
pub(super) use token_columns;

/// A row selected with [`token_columns!`].
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    #[sqlx(rename = "tokenauth_token_id")]
    id: i64,
    #[sqlx(rename = "tokenauth_token_user_id")]
    user_id: i64,
    #[sqlx(rename = "tokenauth_token_name")]
    name: String,
    #[sqlx(rename = "tokenauth_token_created")]
    created: DateTime<Utc>,
    #[sqlx(rename = "tokenauth_token_expires_at")]
    expires_at: Option<DateTime<Utc>>,
    #[sqlx(rename = "tokenauth_token_last_used_at")]
    last_used_at: Option<DateTime<Utc>>,
    #[sqlx(rename = "tokenauth_token_scopes")]
    scopes: String,
    #[sqlx(rename = "tokenauth_token_allowed_ips")]
    allowed_ips: String,
    #[sqlx(rename = "tokenauth_token_read_only")]
    read_only: bool,
}

impl From<TokenRow> for Token {
    fn from(row: TokenRow) -> Self {
        Token {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            created: row.created,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            scopes: split_scopes(&row.scopes),
            allowed_ips: split_networks(&row.allowed_ips),
            read_only: row.read_only,
            previous_key_until: None,
        }
    }
}

/// What [`Tokens::issue`] does besides inserting the new token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only insert: many tokens per user.
    Add,
    /// Return the user's newest live token instead, if there is one (DRF's `get_or_create`).
    GetOrCreate,
    /// Delete the user's tokens first (DRF's `drf_create_token --reset`).
    Reset,
}

/// What [`Tokens::issue`] did.
pub(super) enum Issued {
    /// Inserted a token with the given key.
    New(Token),
    /// Found a live token (get-or-create only).
    Existing(Token),
    /// Inserted nothing: the user's credentials changed since they were checked.
    Stale,
}

impl Store {
    /// The token operations for tokenauth's own [`User`]: `store.tokens().create(…)`,
    /// `.list(…)`, `.revoke(…)` and the rest of [`Tokens`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens().create(alice.id, tokenauth::NewToken::default()).await?;
    /// assert_eq!(store.tokens().list(alice.id).await?, [token]);
    /// # Ok(()) }
    /// ```
    pub fn tokens(&self) -> Tokens<'_, User> {
        self.tokens_for()
    }

    /// Token operations for the user type `U`: on [`AuthUser::TOKENS_TABLE`], checked against
    /// [`AuthUser::TABLE`]. For tokenauth's own [`User`], [`Tokens::list`] is
    /// `store.tokens_for::<User>()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::{NewToken, User};
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens_for::<User>().create(alice.id, NewToken::default()).await?;
    /// assert_eq!(store.tokens_for::<User>().list(alice.id).await?, [token]);
    /// # Ok(()) }
    /// ```
    pub fn tokens_for<U: AuthUser>(&self) -> Tokens<'_, U> {
        Tokens {
            store: self,
            user: PhantomData,
        }
    }
}

/// Token operations for one user type: see [`Store::tokens_for`]. An application with its own
/// users table keeps its tokens in a table of its own (the columns of `tokenauth_tokens`, with
/// `user_id` referencing its users), named by [`AuthUser::TOKENS_TABLE`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// # store.migrate().await?;
/// # let alice = store.create_user("alice", None).await?;
/// let tokens: tokenauth::store::Tokens<'_, tokenauth::User> = store.tokens_for();
/// let (token, _key) = tokens.create(alice.id, Default::default()).await?;
/// assert!(tokens.revoke(token.id).await?);
/// # Ok(()) }
/// ```
pub struct Tokens<'s, U> {
    store: &'s Store,
    user: PhantomData<fn() -> U>,
}

impl<U: AuthUser> Tokens<'_, U> {
    /// Creates a token for a user with a fresh key from the OS CSPRNG, and returns the token
    /// and its key. This is the only time the key is available: only its digest is stored.
    ///
    /// # Errors
    /// [`Error::UserNotFound`], [`Error::Random`], or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::NewToken;
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let (laptop, key) = store.tokens().create(alice.id, NewToken::named("laptop")).await?;
    /// let (phone, _) = store.tokens().create(alice.id, NewToken::named("phone")).await?;
    /// println!("your key (shown once): {}", key.expose_secret());
    /// assert_eq!(store.tokens().list(alice.id).await?, [laptop, phone]);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, user_id: i64, options: NewToken) -> Result<(Token, Key), Error> {
        let key = self.store.generate_key()?;
        let (token, _) = self.insert(user_id, &key, &options, Mode::Add).await?;
        Ok((token, key))
    }

    /// Creates a token with a given key, e.g. one imported from Django's `authtoken_token`
    /// table so that existing clients keep working. Only the key's digest is stored.
    ///
    /// # Errors
    /// [`Error::DuplicateKey`] if a token already has this key (it is never overwritten),
    /// [`Error::UserNotFound`], or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::{Key, NewToken};
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let key = Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")?;
    /// store.tokens().import(alice.id, &key, NewToken::named("from django")).await?;
    /// assert!(matches!(
    ///     store.tokens().import(alice.id, &key, NewToken::default()).await,
    ///     Err(tokenauth::Error::DuplicateKey)
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn import(&self, user_id: i64, key: &Key, options: NewToken) -> Result<Token, Error> {
        let (token, _) = self.insert(user_id, key, &options, Mode::Add).await?;
        Ok(token)
    }

    /// DRF's `Token.objects.get_or_create(user=user)`, adapted to hashed storage: the user's
    /// newest unexpired token if there is one — without its key, which cannot be recovered —
    /// or else a new token together with its key.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (first, key) = store.tokens().get_or_create(alice.id).await?;
    /// assert!(key.is_some());
    /// let (again, key) = store.tokens().get_or_create(alice.id).await?;
    /// assert_eq!((again, key), (first, None));
    /// # Ok(()) }
    /// ```
    pub async fn get_or_create(&self, user_id: i64) -> Result<(Token, Option<Key>), Error> {
        let key = self.store.generate_key()?;
        let (token, revoked) = self
            .insert(user_id, &key, &NewToken::default(), Mode::GetOrCreate)
            .await?;
        Ok((token, revoked.is_some().then_some(key)))
    }

    /// DRF's `drf_create_token --reset`: revokes all of the user's tokens and creates one,
    /// atomically.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (_, old_key) = store.tokens().create(alice.id, Default::default()).await?;
    /// let (token, new_key) = store.tokens().reset(alice.id).await?;
    /// assert_eq!(store.tokens().list(alice.id).await?, [token]);
    /// assert!(store.authenticate(old_key.expose_secret()).await.is_err());
    /// assert!(store.authenticate(new_key.expose_secret()).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self, user_id: i64) -> Result<(Token, Key), Error> {
        let key = self.store.generate_key()?;
        let (token, _) = self
            .insert(user_id, &key, &NewToken::default(), Mode::Reset)
            .await?;
        Ok((token, key))
    }

    /// Atomically revokes all of the user's tokens and adds one with `key` (generated, or
    /// imported with [`Key::import`]): DRF's `drf_create_token --reset`. Returns the new token
    /// and how many tokens were revoked. If anything fails — e.g. [`Error::DuplicateKey`] —
    /// nothing changes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let alice = store.create_user("alice", None).await?;
    /// use tokenauth::{Key, NewToken};
    ///
    /// store.tokens().create(alice.id, NewToken::default()).await?;
    /// let key = Key::generate()?;
    /// let (token, revoked) = store.tokens().replace_all(alice.id, &key, NewToken::named("ci")).await?;
    /// assert_eq!((store.tokens().list(alice.id).await?, revoked), (vec![token], 1));
    /// # Ok(()) }
    /// ```
    pub async fn replace_all(
        &self,
        user_id: i64,
        key: &Key,
        options: NewToken,
    ) -> Result<(Token, u64), Error> {
        let (token, revoked) = self.insert(user_id, key, &options, Mode::Reset).await?;
        Ok((token, revoked.unwrap_or(0)))
    }

    /// A user's tokens, oldest first (including expired ones not yet pruned).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// assert!(store.tokens().list(alice.id).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, user_id: i64) -> Result<Vec<Token>, Error> {
        let sql = format!(
            "SELECT {} FROM {} WHERE user_id = $1 ORDER BY id",
            token_columns!(""),
            U::TOKENS_TABLE
        );
        let rows = on_backend!(&self.store.pool, Pool(pool) => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Token::from).collect())
    }

    /// Every token of every user, by id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// store.tokens().create(alice.id, Default::default()).await?;
    /// assert_eq!(store.tokens().list_all().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn list_all(&self) -> Result<Vec<Token>, Error> {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY id",
            token_columns!(""),
            U::TOKENS_TABLE
        );
        let rows = on_backend!(&self.store.pool, Pool(pool) => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Token::from).collect())
    }

    /// Deletes tokens that expired before `cutoff` (e.g. `Utc::now()`, or a week ago to keep
    /// recently expired ones visible) and, with
    /// [`Policy::expire_unused`](crate::Policy::expire_unused), those it refuses at `cutoff`
    /// (not used for that long before it); and forgets the previous keys of rolled tokens whose
    /// grace ended before `cutoff`. Returns how many tokens were deleted. Authentication never
    /// deletes anything: run this from a scheduled job (`tokenauth prune-expired`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use chrono::{Duration, Utc};
    /// use tokenauth::NewToken;
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let past = Utc::now() - Duration::days(2);
    /// store.tokens().create(alice.id, NewToken::default().expires_at(past)).await?;
    /// store.tokens().create(alice.id, NewToken::default()).await?;
    /// assert_eq!(store.tokens().prune_expired(Utc::now()).await?, 1);
    /// assert_eq!(store.tokens().list(alice.id).await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn prune_expired(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        // Compared as timestamps: PostgreSQL's timestamptz natively; SQLite's text through
        // julianday(), which reads any of SQLite's time formats (a plain text comparison
        // misorders other formats and years past 9999). Stored expiries are within years
        // 1-9999 (see MAX_LIFETIME), and so is the cutoff, clamped.
        let at = self.store.pool.dialect().timestamp;
        // With `Policy::expire_unused`, tokens it refuses at `cutoff` too.
        let unused = self.store.policy().expire_unused;
        let unused_cutoff = unused.map(|unused| {
            crate::policy::storable(cutoff.checked_sub_signed(unused).unwrap_or(cutoff))
        });
        let unused_clause = match unused_cutoff {
            Some(_) => format!(" OR {}", unused_before(at, "$2")),
            None => String::new(),
        };
        let sql = format!(
            "DELETE FROM {} WHERE (expires_at IS NOT NULL AND {} < {}){unused_clause}",
            U::TOKENS_TABLE,
            at("expires_at"),
            at("$1")
        );
        // The previous keys of rolled tokens whose grace ended: forgotten, so that presenting
        // one costs no query (the live-key filter holds what the table holds).
        let forget = format!(
            "UPDATE {} SET previous_key_digest = NULL, previous_key_expires_at = NULL \
             WHERE previous_key_expires_at IS NOT NULL AND {} < {}",
            U::TOKENS_TABLE,
            at("previous_key_expires_at"),
            at("$1")
        );
        let mut write = self.store.begin_write().await?;
        let (pruned, forgotten) = on_backend!(write.tx(), Tx(tx) => {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(crate::policy::storable(cutoff));
            let pruned = match unused_cutoff {
                Some(unused_cutoff) => query.bind(unused_cutoff),
                None => query,
            }
            .execute(&mut **tx)
            .await?
            .rows_affected();
            let forgotten = sqlx::query(sqlx::AssertSqlSafe(forget))
                .bind(crate::policy::storable(cutoff))
                .execute(&mut **tx)
                .await?
                .rows_affected();
            (pruned, forgotten)
        });
        // A cutoff in the future deletes tokens that are still live, and ends graces early.
        let change = if pruned > 0 || forgotten > 0 {
            Change::Narrowed
        } else {
            Change::Nothing
        };
        write.commit(change).await?;
        revoked("prune", pruned, None, None);
        Ok(pruned)
    }

    /// Revokes (deletes) one token. Returns whether it existed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// assert!(store.tokens().revoke(token.id).await?);
    /// assert!(store.authenticate(key.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, token_id: i64) -> Result<bool, Error> {
        let sql = format!("DELETE FROM {} WHERE id = $1", U::TOKENS_TABLE);
        let mut write = self.store.begin_write().await?;
        let done = on_backend!(write.tx(), Tx(tx) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_id)
            .execute(&mut **tx)
            .await?
            .rows_affected());
        write.commit(Change::Narrowed).await?;
        revoked("revoke", done, None, Some(token_id));
        Ok(done > 0)
    }

    /// Revokes one of `user_id`'s tokens: deletes token `token_id` only if it belongs to that
    /// user. Returns whether it did — `false` alike for another user's token and for one that
    /// does not exist, so that a caller answering a user cannot tell them apart.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let bob = store.create_user("bob", None).await?;
    /// let (token, _key) = store.tokens().create(alice.id, Default::default()).await?;
    /// assert!(!store.tokens().revoke_owned(bob.id, token.id).await?);
    /// assert!(store.tokens().revoke_owned(alice.id, token.id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_owned(&self, user_id: i64, token_id: i64) -> Result<bool, Error> {
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND user_id = $2",
            U::TOKENS_TABLE
        );
        let mut write = self.store.begin_write().await?;
        let done = on_backend!(write.tx(), Tx(tx) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected());
        let change = if done > 0 {
            Change::Narrowed
        } else {
            Change::Nothing
        };
        write.commit(change).await?;
        revoked("revoke", done, Some(user_id), Some(token_id));
        Ok(done > 0)
    }

    /// Rolls a token: gives token `token_id` a new key, which is returned (shown once), and
    /// keeps everything else — id, name, scopes, expiry, limits. The key it had keeps working
    /// for `grace` (at most [`Policy::max_roll_grace`](crate::Policy::max_roll_grace); zero by
    /// default: refused at once), on every instance, and is then refused everywhere; a token
    /// keeps one previous key, so rolling it again ends the grace of the one before at once.
    ///
    /// # Errors
    /// [`Error::InvalidGrace`] for a negative grace or one over the policy's maximum,
    /// [`Error::TokenNotFound`], or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use chrono::Duration;
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, old_key) = store.tokens().create(alice.id, tokenauth::NewToken::named("ci")).await?;
    /// let (rolled, new_key) = store.tokens().roll(token.id, Duration::zero()).await?;
    /// assert_eq!((rolled.id, rolled.name.as_str()), (token.id, "ci"));
    /// assert!(store.authenticate(old_key.expose_secret()).await.is_err());
    /// assert!(store.authenticate(new_key.expose_secret()).await.is_ok());
    /// assert!(store.tokens().roll(token.id, Duration::hours(1)).await.is_err()); // over the policy's 0
    /// # Ok(()) }
    /// ```
    pub async fn roll(
        &self,
        token_id: i64,
        grace: chrono::Duration,
    ) -> Result<(Token, Key), Error> {
        self.roll_with(token_id, None, grace).await
    }

    /// [`Tokens::roll`], only if `key` is still the token's current key: what a client rolling
    /// the token it presents calls, so that of concurrent rolls with one key only the first
    /// succeeds, and the previous key of a token rolled with a grace period (which an attacker
    /// may hold: that is why it was rolled) cannot obtain the new one.
    ///
    /// # Errors
    /// [`Error::NotCurrentKey`] if `key` is not token `token_id`'s current key (including when
    /// the token does not exist), and those of [`Tokens::roll`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use chrono::Duration;
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// let (_, new_key) = store.tokens().roll_current(token.id, key.expose_secret(), Duration::zero()).await?;
    /// assert!(matches!(
    ///     store.tokens().roll_current(token.id, key.expose_secret(), Duration::zero()).await,
    ///     Err(tokenauth::Error::NotCurrentKey)
    /// ));
    /// # let _ = new_key;
    /// # Ok(()) }
    /// ```
    pub async fn roll_current(
        &self,
        token_id: i64,
        key: &str,
        grace: chrono::Duration,
    ) -> Result<(Token, Key), Error> {
        let candidates = self.store.policy().peppers.candidates(key).stored();
        self.roll_with(token_id, Some(&candidates), grace).await
    }

    /// One `UPDATE` giving the token a new key (only while its key is `current`, if given),
    /// keeping the old one as its previous key for `grace`.
    async fn roll_with(
        &self,
        token_id: i64,
        current: Option<&[KeyDigest]>,
        grace: chrono::Duration,
    ) -> Result<(Token, Key), Error> {
        let max = self.store.policy().max_roll_grace;
        if grace < chrono::Duration::zero() {
            return Err(Error::InvalidGrace(String::from("it cannot be negative")));
        }
        if grace > max {
            return Err(Error::InvalidGrace(format!(
                "at most {} seconds (`Policy::max_roll_grace`)",
                max.num_seconds()
            )));
        }
        let key = self.store.generate_key()?;
        let (digest, pepper) = self.store.policy().peppers.stored(key.expose_secret());
        // Microseconds: what PostgreSQL keeps.
        let now = Utc::now().trunc_subsecs(6);
        let until = (grace > chrono::Duration::zero())
            .then(|| crate::policy::storable(now.checked_add_signed(grace).unwrap_or(now)));
        // The key presented: any digest it may be stored with ($4, …).
        let only_current = match current {
            Some(digests) => format!(
                " AND key_digest IN ({})",
                super::backend::parameter_list(digests.len(), 4)
            ),
            None => String::from(" AND $4 IS NULL"),
        };
        // With peppers, the new key's pepper (the last parameter), and the previous key's
        // with it.
        let last = 4 + current.map_or(1, <[KeyDigest]>::len);
        let peppered = match pepper {
            Some(_) => format!(
                ", previous_key_pepper = CASE WHEN $2 IS NULL THEN NULL ELSE key_pepper END, \
                 key_pepper = ${last}"
            ),
            None => String::new(),
        };
        let sql = format!(
            "UPDATE {} SET key_digest = $1, \
             previous_key_digest = CASE WHEN $2 IS NULL THEN NULL ELSE key_digest END, \
             previous_key_expires_at = $2{peppered} \
             WHERE id = $3{only_current} RETURNING {}",
            U::TOKENS_TABLE,
            token_columns!("")
        );
        let mut write = self.store.begin_write().await?;
        let row = on_backend!(write.tx(), Tx(tx) => {
            let mut query = sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
                .bind(digest.as_str())
                .bind(until)
                .bind(token_id);
            match current {
                Some(digests) => {
                    for current in digests {
                        query = query.bind(current.as_str());
                    }
                }
                None => query = query.bind(None::<&str>),
            }
            if let Some(pepper) = pepper {
                query = query.bind(pepper);
            }
            query
                .fetch_optional(&mut **tx)
                .await
                .map_err(|err| unique_violation(err, "key_digest", || Error::DuplicateKey))?
        });
        let Some(row) = row else {
            write.rollback().await?;
            return Err(match current {
                Some(_) => Error::NotCurrentKey,
                None => Error::TokenNotFound(token_id),
            });
        };
        write
            .commit(Change::KeyReplaced(U::TOKENS_TABLE, &digest))
            .await?;
        let token = Token::from(row);
        telemetry::tokens_issued("roll", 1);
        telemetry::Security::new(Event::TokenRolled)
            .user(token.user_id)
            .token(token.id)
            .emit();
        Ok((token, key))
    }

    /// Tokens (of every user) not used since `cutoff`: last used before it, or never used and
    /// created before it, by id. With [`Policy::expire_unused`](crate::Policy::expire_unused),
    /// `Utc::now() - <its duration>` lists the tokens it refuses (`tokenauth list-tokens
    /// --unused-for 90d`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use chrono::{Duration, Utc};
    ///
    /// let alice = store.create_user("alice", None).await?;
    /// store.tokens().create(alice.id, Default::default()).await?;
    /// assert!(store.tokens().unused_since(Utc::now() - Duration::days(90)).await?.is_empty());
    /// assert_eq!(store.tokens().unused_since(Utc::now() + Duration::seconds(1)).await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn unused_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<Token>, Error> {
        let at = self.store.pool.dialect().timestamp;
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY id",
            token_columns!(""),
            U::TOKENS_TABLE,
            unused_before(at, "$1")
        );
        let rows = on_backend!(&self.store.pool, Pool(pool) => sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(sql))
            .bind(crate::policy::storable(cutoff))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Token::from).collect())
    }

    /// Revokes the key `key` of token `token_id`: the token itself if `key` is its current key
    /// (as [`Tokens::revoke`]), or, if `key` is the previous key of a roll still in its grace,
    /// only that key — the token and its new key stay. What a logout does: an old deployment
    /// logging out with the previous key does not take the new key with it. Returns whether
    /// `key` was either.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use chrono::Duration;
    /// use tokenauth::Policy;
    ///
    /// let store = store.with_policy(Policy::default().max_roll_grace(Duration::hours(1)));
    /// let alice = store.create_user("alice", None).await?;
    /// let (token, old) = store.tokens().create(alice.id, Default::default()).await?;
    /// let (_, new) = store.tokens().roll(token.id, Duration::minutes(10)).await?;
    /// assert!(store.tokens().revoke_key(token.id, old.expose_secret()).await?);
    /// assert!(store.authenticate(old.expose_secret()).await.is_err());
    /// assert!(store.authenticate(new.expose_secret()).await.is_ok());
    /// assert!(store.tokens().revoke_key(token.id, new.expose_secret()).await?);
    /// assert!(store.authenticate(new.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_key(&self, token_id: i64, key: &str) -> Result<bool, Error> {
        self.revoke_key_where("id", token_id, key, "logout").await
    }

    /// Revokes the key `key` if it is one of user `user_id`'s, as [`Tokens::revoke_key`] does
    /// (the token, or only the previous key of a roll in its grace); returns whether it was.
    /// Another user's key, or no key at all, is left alone and returns `false`. One statement
    /// decides both whose the key is and what to revoke, so a concurrent roll or revocation
    /// cannot slip between them. What RFC 7009's revocation endpoint does
    /// ([`AuthApi`](crate::AuthApi)'s `POST /auth/revoke`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let bob = store.create_user("bob", None).await?;
    /// let (_, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// assert!(!store.tokens().revoke_key_of(bob.id, key.expose_secret()).await?);
    /// assert!(store.authenticate(key.expose_secret()).await.is_ok());
    /// assert!(store.tokens().revoke_key_of(alice.id, key.expose_secret()).await?);
    /// assert!(store.authenticate(key.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_key_of(&self, user_id: i64, key: &str) -> Result<bool, Error> {
        self.revoke_key_where("user_id", user_id, key, "revoke")
            .await
    }

    /// Revokes each of `keys` that is a live key, whoever's it is — the token whose current
    /// key it is, or only the previous key of a roll still in its grace — in one transaction,
    /// and returns, for each, whether it was. What a report of leaked keys does
    /// ([`SecretScanning`](crate::secret_scanning::SecretScanning)): each revocation is
    /// counted and logged with reason `leaked`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// let (_, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// let leaked = store.tokens().revoke_leaked(&[key.expose_secret(), "not a key"]).await?;
    /// assert_eq!(leaked, [true, false]);
    /// assert!(store.authenticate(key.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_leaked(&self, keys: &[&str]) -> Result<Vec<bool>, Error> {
        let peppers = &self.store.policy().peppers;
        let list = super::backend::parameter_list(peppers.candidate_count(), 1);
        let forget = format!(
            "UPDATE {} SET previous_key_digest = NULL, previous_key_expires_at = NULL \
             WHERE previous_key_digest IN ({list}) RETURNING user_id, id",
            U::TOKENS_TABLE
        );
        let delete = format!(
            "DELETE FROM {} WHERE key_digest IN ({list}) RETURNING user_id, id",
            U::TOKENS_TABLE
        );
        let mut write = self.store.begin_write().await?;
        let mut found: Vec<Option<(i64, i64)>> = Vec::with_capacity(keys.len());
        on_backend!(write.tx(), Tx(tx) => {
            for key in keys {
                let digests = peppers.candidates(key).stored();
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(forget.clone()));
                for digest in &digests {
                    query = query.bind(digest.as_str());
                }
                let mut revoked: Option<(i64, i64)> = query.fetch_optional(&mut **tx).await?;
                if revoked.is_none() {
                    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(delete.clone()));
                    for digest in &digests {
                        query = query.bind(digest.as_str());
                    }
                    revoked = query.fetch_optional(&mut **tx).await?;
                }
                found.push(revoked);
            }
        });
        let change = if found.iter().any(Option::is_some) {
            Change::Narrowed
        } else {
            Change::Nothing
        };
        write.commit(change).await?;
        for (user_id, token_id) in found.iter().flatten() {
            revoked("leaked", 1, Some(*user_id), Some(*token_id));
        }
        Ok(found.iter().map(Option::is_some).collect())
    }

    /// Revokes `key` of the token whose `column` (`id` or `user_id`) is `value`: forgets it if
    /// it is the previous key of a roll, else deletes the token whose current key it is.
    async fn revoke_key_where(
        &self,
        column: &'static str,
        value: i64,
        key: &str,
        reason: &'static str,
    ) -> Result<bool, Error> {
        // Any digest the key may be stored with ($2, …).
        let digests = self.store.policy().peppers.candidates(key).stored();
        let list = super::backend::parameter_list(digests.len(), 2);
        let forget = format!(
            "UPDATE {} SET previous_key_digest = NULL, previous_key_expires_at = NULL \
             WHERE {column} = $1 AND previous_key_digest IN ({list})",
            U::TOKENS_TABLE
        );
        let delete = format!(
            "DELETE FROM {} WHERE {column} = $1 AND key_digest IN ({list}) \
             RETURNING user_id, id",
            U::TOKENS_TABLE
        );
        let mut write = self.store.begin_write().await?;
        let (done, deleted) = on_backend!(write.tx(), Tx(tx) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(forget)).bind(value);
            for digest in &digests {
                query = query.bind(digest.as_str());
            }
            let forgotten = query.execute(&mut **tx).await?.rows_affected();
            if forgotten > 0 {
                (forgotten, None)
            } else {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(delete)).bind(value);
                for digest in &digests {
                    query = query.bind(digest.as_str());
                }
                let deleted: Option<(i64, i64)> = query.fetch_optional(&mut **tx).await?;
                (u64::from(deleted.is_some()), deleted)
            }
        });
        let change = if done > 0 {
            Change::Narrowed
        } else {
            Change::Nothing
        };
        write.commit(change).await?;
        if let Some((user_id, token_id)) = deleted {
            revoked(reason, 1, Some(user_id), Some(token_id));
        }
        Ok(done > 0)
    }

    /// Revokes all of a user's tokens ("log out everywhere"). Returns how many there were.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let alice = store.create_user("alice", None).await?;
    /// store.tokens().create(alice.id, Default::default()).await?;
    /// store.tokens().create(alice.id, Default::default()).await?;
    /// assert_eq!(store.tokens().revoke_all(alice.id).await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_all(&self, user_id: i64) -> Result<u64, Error> {
        let sql = format!("DELETE FROM {} WHERE user_id = $1", U::TOKENS_TABLE);
        let mut write = self.store.begin_write().await?;
        let revoked = on_backend!(write.tx(), Tx(tx) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected());
        write.commit(Change::Narrowed).await?;
        self::revoked("revoke_all", revoked, Some(user_id), None);
        Ok(revoked)
    }

    /// [`Tokens::issue`] without a credential check: the token, and how many tokens a reset
    /// revoked (`None` when get-or-create returned an existing token).
    async fn insert(
        &self,
        user_id: i64,
        key: &Key,
        options: &NewToken,
        mode: Mode,
    ) -> Result<(Token, Option<u64>), Error> {
        match self.issue_with(user_id, key, options, mode, None).await? {
            (Issued::New(token), revoked) => Ok((token, Some(revoked))),
            (Issued::Existing(token), _) => Ok((token, None)),
            (Issued::Stale, _) => unreachable!("only a credential check finds stale credentials"),
        }
    }

    /// Inserts a token for `key`, only if the user's credential version is still
    /// `credential_version` and the user is active (see [`Store::login`]).
    pub(super) async fn issue(
        &self,
        user_id: i64,
        key: &Key,
        options: &NewToken,
        credential_version: Option<i64>,
    ) -> Result<Issued, Error> {
        let (issued, _) = self
            .issue_with(user_id, key, options, Mode::Add, credential_version)
            .await?;
        Ok(issued)
    }

    /// Inserts a token for `key` in one transaction that first locks the user's row, so that
    /// concurrent issuing, get-or-create, reset and credential changes for one user serialise.
    /// With `credential_version` (tokenauth's own users only), inserts nothing unless the user
    /// is active and still has that version. Returns what happened and how many tokens a
    /// reset revoked.
    async fn issue_with(
        &self,
        user_id: i64,
        key: &Key,
        options: &NewToken,
        mode: Mode,
        credential_version: Option<i64>,
    ) -> Result<(Issued, u64), Error> {
        options.validate()?;
        let peppers = &self.store.policy().peppers;
        let (digest, pepper) = peppers.stored(key.expose_secret());
        // The digests the key may already be stored with: under an older pepper, or plain.
        let candidates = peppers.candidates(key.expose_secret()).stored();
        // Microseconds: what PostgreSQL keeps, so the returned token equals the stored one.
        let now = Utc::now().trunc_subsecs(6);
        let scopes = options.scopes.join(" ");
        let allowed_ips = join_networks(&options.allowed_ips);
        let policy = self.store.policy();
        let expires_at = policy.expiry_for(options.expiry, now)?;
        let limit = policy.max_tokens_per_user;
        let (users, id, tokens) = (U::TABLE, U::ID_COLUMN, U::TOKENS_TABLE);
        let checked = if credential_version.is_some() {
            "credential_version, is_active"
        } else {
            "CAST(NULL AS BIGINT), TRUE"
        };
        // Serialise issuing for one user (see `Dialect::lock_row`): a credential change's
        // UPDATE waits for it, and it for the UPDATE. Nothing is written to the user.
        let mut write = self.store.begin_write().await?;
        let lock = format!(
            "SELECT {checked} FROM {users} WHERE {id} = $1{}",
            write.pool().dialect().lock_row
        );
        let existing = format!(
            "SELECT {} FROM {tokens} WHERE user_id = $1 ORDER BY id DESC",
            token_columns!("")
        );
        let delete = format!("DELETE FROM {tokens} WHERE user_id = $1");
        // A key is one token's, as its current key or as the previous key of a roll, under
        // any pepper: the unique index on each column cannot say so across both, nor across
        // peppers. Without peppers, the index says it for the current key.
        let list = super::backend::parameter_list(candidates.len(), 1);
        let previous = if pepper.is_some() {
            format!(
                "SELECT 1 FROM {tokens} WHERE previous_key_digest IN ({list}) \
                 OR key_digest IN ({list})"
            )
        } else {
            format!("SELECT 1 FROM {tokens} WHERE previous_key_digest IN ({list})")
        };
        let (pepper_column, pepper_value) = match pepper {
            Some(_) => (", key_pepper", ", $9"),
            None => ("", ""),
        };
        let insert = format!(
            "INSERT INTO {tokens} \
             (user_id, key_digest, name, created, expires_at, scopes, allowed_ips, read_only\
             {pepper_column}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8{pepper_value}) RETURNING {}",
            token_columns!("")
        );
        let (issued, revoked) = on_backend!(write.tx(), Tx(tx) => {
            let current = sqlx::query_as::<_, (Option<i64>, bool)>(sqlx::AssertSqlSafe(lock))
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
            let Some((version, active)) = current else {
                return Err(Error::UserNotFound(format!("#{user_id}")));
            };
            if credential_version.is_some() && (version != credential_version || !active) {
                return Ok((Issued::Stale, 0));
            }
            let mut found = None;
            if mode != Mode::Reset && (mode == Mode::GetOrCreate || limit.is_some()) {
                let rows = sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(existing))
                    .bind(user_id)
                    .fetch_all(&mut **tx)
                    .await?;
                let live: Vec<Token> = rows
                    .into_iter()
                    .map(Token::from)
                    .filter(|t| !t.is_expired(now))
                    .collect();
                if mode == Mode::GetOrCreate {
                    found = live.first().cloned();
                }
                if found.is_none() && limit.is_some_and(|limit| live.len() >= limit) {
                    return Err(Error::TokenLimit);
                }
            }
            match found {
                Some(token) => (Issued::Existing(token), 0),
                None => {
                    let mut revoked = 0;
                    if mode == Mode::Reset {
                        revoked = sqlx::query(sqlx::AssertSqlSafe(delete))
                            .bind(user_id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                    }
                    // After a reset's delete: the user's own keys are gone, and a key given
                    // again replaces them (under a pepper too).
                    let mut taken = sqlx::query(sqlx::AssertSqlSafe(previous));
                    for candidate in &candidates {
                        taken = taken.bind(candidate.as_str());
                    }
                    if taken.fetch_optional(&mut **tx).await?.is_some() {
                        return Err(Error::DuplicateKey);
                    }
                    let mut insert = sqlx::query_as::<_, TokenRow>(sqlx::AssertSqlSafe(insert))
                        .bind(user_id)
                        .bind(digest.as_str())
                        .bind(&options.name)
                        .bind(now)
                        .bind(expires_at)
                        .bind(&scopes)
                        .bind(&allowed_ips)
                        .bind(options.read_only);
                    if let Some(pepper) = pepper {
                        insert = insert.bind(pepper);
                    }
                    let row = insert
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|err| unique_violation(err, "key_digest", || Error::DuplicateKey))?;
                    (Issued::New(Token::from(row)), revoked)
                }
            }
        });
        let change = match (&issued, revoked) {
            (Issued::New(_), 0) => Change::KeyAdded(tokens, &digest),
            // A reset: the user's other keys are gone.
            (Issued::New(_), _) => Change::KeyReplaced(tokens, &digest),
            _ => Change::Nothing,
        };
        write.commit(change).await?;
        if let Issued::New(token) = &issued {
            let via = if credential_version.is_some() {
                "login"
            } else {
                "store"
            };
            telemetry::tokens_issued(via, 1);
            self::revoked("reset", revoked, Some(user_id), None);
            telemetry::Security::new(Event::TokenCreated)
                .user(user_id)
                .token(token.id)
                .reason(via)
                .emit();
        }
        Ok((issued, revoked))
    }
}

/// The SQL condition "not used since `cutoff`": last used before it, or never used and created
/// before it (`at` is the dialect's timestamp comparison).
fn unused_before(at: fn(&str) -> String, cutoff: &str) -> String {
    let cutoff = at(cutoff);
    format!(
        "((last_used_at IS NOT NULL AND {} < {cutoff}) OR (last_used_at IS NULL AND {} < {cutoff}))",
        at("last_used_at"),
        at("created")
    )
}

/// Counts `count` tokens revoked for `reason`, and logs the security event.
fn revoked(reason: &'static str, count: u64, user_id: Option<i64>, token_id: Option<i64>) {
    if count > 0 {
        telemetry::tokens_revoked(reason, count);
        telemetry::Security::new(Event::TokenRevoked)
            .user(user_id)
            .token(token_id)
            .reason(reason)
            .count(count)
            .emit();
    }
}
