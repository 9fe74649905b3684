//! Tokens in the `tokenauth_tokens` table: creation, import, DRF's get-or-create and reset,
//! listing and revocation.

use chrono::{DateTime, Utc};

use super::{Store, unique_violation, with_pool};
use crate::models::split_scopes;
use crate::{Error, Key, NewToken, Token};

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
            "scopes AS tokenauth_token_scopes"
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
        }
    }
}

/// What [`Store::issue`] does besides inserting the new token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Issue {
    /// Only insert: many tokens per user.
    Add,
    /// Return the user's newest live token instead, if there is one (DRF's `get_or_create`).
    GetOrCreate,
    /// Delete the user's tokens first (DRF's `drf_create_token --reset`).
    Reset,
}

impl Store {
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
    /// let (laptop, key) = store.create_token(alice.id, NewToken::named("laptop")).await?;
    /// let (phone, _) = store.create_token(alice.id, NewToken::named("phone")).await?;
    /// println!("your key (shown once): {}", key.expose_secret());
    /// assert_eq!(store.tokens(alice.id).await?, [laptop, phone]);
    /// # Ok(()) }
    /// ```
    pub async fn create_token(
        &self,
        user_id: i64,
        options: NewToken,
    ) -> Result<(Token, Key), Error> {
        let key = Key::generate()?;
        let (token, _) = self.issue(user_id, &key, &options, Issue::Add).await?;
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
    /// store.import_token(alice.id, &key, NewToken::named("from django")).await?;
    /// assert!(matches!(
    ///     store.import_token(alice.id, &key, NewToken::default()).await,
    ///     Err(tokenauth::Error::DuplicateKey)
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn import_token(
        &self,
        user_id: i64,
        key: &Key,
        options: NewToken,
    ) -> Result<Token, Error> {
        let (token, _) = self.issue(user_id, key, &options, Issue::Add).await?;
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
    /// let (first, key) = store.get_or_create_token(alice.id).await?;
    /// assert!(key.is_some());
    /// let (again, key) = store.get_or_create_token(alice.id).await?;
    /// assert_eq!((again, key), (first, None));
    /// # Ok(()) }
    /// ```
    pub async fn get_or_create_token(&self, user_id: i64) -> Result<(Token, Option<Key>), Error> {
        let key = Key::generate()?;
        let (token, created) = self
            .issue(user_id, &key, &NewToken::default(), Issue::GetOrCreate)
            .await?;
        Ok((token, created.then_some(key)))
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
    /// let (_, old_key) = store.create_token(alice.id, Default::default()).await?;
    /// let (token, new_key) = store.reset_token(alice.id).await?;
    /// assert_eq!(store.tokens(alice.id).await?, [token]);
    /// assert!(store.authenticate(old_key.expose_secret()).await.is_err());
    /// assert!(store.authenticate(new_key.expose_secret()).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn reset_token(&self, user_id: i64) -> Result<(Token, Key), Error> {
        let key = Key::generate()?;
        let (token, _) = self
            .issue(user_id, &key, &NewToken::default(), Issue::Reset)
            .await?;
        Ok((token, key))
    }

    /// A user's tokens, oldest first (including expired ones not yet pruned).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// assert!(store.tokens(alice.id).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn tokens(&self, user_id: i64) -> Result<Vec<Token>, Error> {
        let sql = concat!(
            "SELECT ",
            token_columns!(""),
            " FROM tokenauth_tokens WHERE user_id = $1 ORDER BY id"
        );
        let rows = with_pool!(self, pool => sqlx::query_as::<_, TokenRow>(sql)
            .bind(user_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(Token::from).collect())
    }

    /// Revokes (deletes) one token. Returns whether it existed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// # let alice = store.create_user("alice", None).await?;
    /// let (token, key) = store.create_token(alice.id, Default::default()).await?;
    /// assert!(store.revoke_token(token.id).await?);
    /// assert!(store.authenticate(key.expose_secret()).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn revoke_token(&self, token_id: i64) -> Result<bool, Error> {
        let sql = "DELETE FROM tokenauth_tokens WHERE id = $1";
        let done = with_pool!(self, pool => sqlx::query(sql)
            .bind(token_id)
            .execute(pool)
            .await?
            .rows_affected());
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
    /// store.create_token(alice.id, Default::default()).await?;
    /// store.create_token(alice.id, Default::default()).await?;
    /// assert_eq!(store.revoke_all_tokens(alice.id).await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn revoke_all_tokens(&self, user_id: i64) -> Result<u64, Error> {
        let sql = "DELETE FROM tokenauth_tokens WHERE user_id = $1";
        Ok(with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Inserts a token for `key` in one transaction that first locks the user's row, so that
    /// concurrent get-or-create or reset calls for one user serialise. Returns the token and
    /// whether it was created with `key` (`false`: an existing token, for get-or-create).
    async fn issue(
        &self,
        user_id: i64,
        key: &Key,
        options: &NewToken,
        mode: Issue,
    ) -> Result<(Token, bool), Error> {
        let digest = key.digest();
        let now = Utc::now();
        let scopes = options.scopes.join(" ");
        let lock = "UPDATE tokenauth_users SET is_active = is_active WHERE id = $1";
        let existing = concat!(
            "SELECT ",
            token_columns!(""),
            " FROM tokenauth_tokens WHERE user_id = $1 ORDER BY id DESC"
        );
        let insert = concat!(
            "INSERT INTO tokenauth_tokens (user_id, key_digest, name, created, expires_at, scopes) ",
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            token_columns!("")
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let locked = sqlx::query(lock).bind(user_id).execute(&mut *tx).await?;
            if locked.rows_affected() == 0 {
                return Err(Error::UserNotFound(format!("#{user_id}")));
            }
            if mode == Issue::GetOrCreate {
                let rows = sqlx::query_as::<_, TokenRow>(existing)
                    .bind(user_id)
                    .fetch_all(&mut *tx)
                    .await?;
                let live = rows.into_iter().map(Token::from).find(|t| !t.is_expired(now));
                if let Some(token) = live {
                    tx.commit().await?;
                    return Ok((token, false));
                }
            }
            if mode == Issue::Reset {
                sqlx::query("DELETE FROM tokenauth_tokens WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row = sqlx::query_as::<_, TokenRow>(insert)
                .bind(user_id)
                .bind(digest.as_str())
                .bind(&options.name)
                .bind(now)
                .bind(options.expires_at)
                .bind(&scopes)
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| unique_violation(err, || Error::DuplicateKey))?;
            tx.commit().await?;
            Ok((Token::from(row), true))
        })
    }
}
