//! Bulk import of users and tokens from another system — Django's `auth_user` and DRF's
//! `authtoken_token` — in one transaction with batched inserts: [`Import`], begun with
//! [`Store::import_begin`], takes [`User`] and [`Token`] rows and reports what it did
//! ([`Report`], [`Warning`]). `tokenauth import-django` is this, reading Django's database.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization as _;

use crate::error::Error;
use crate::error::Excerpt;
use crate::key::{Key, KeyDigest};
use crate::rules::MAX_PASSWORD_HASH_LEN;
use crate::store::Store;
use crate::store::backend::{on_backend, parameter_list};
use crate::store::users::validate_username;
use crate::store::write::{Change, Write};

/// Rows per `INSERT`: 1,000 users are 5,000 parameters, within both backends' limits.
const BATCH: usize = 1000;

/// A user to import as it is, e.g. a row of Django's `auth_user`.
///
/// `password_hash` is stored unchanged: a Django hash (`pbkdf2_sha256$…`, `argon2$…`,
/// `bcrypt_sha256$…`, `scrypt$…`, `pbkdf2_sha1$…`) verifies on login (with the `django`
/// feature; without it, the import reports it as
/// [`Warning::UnverifiablePassword`]) and is replaced by the policy's Argon2id when it
/// does; an unusable password (`!…`) or `None` never matches. A
/// value over [`MAX_PASSWORD_HASH_LEN`] characters is no Django hash: the user is imported
/// without a password, with a warning.
///
/// `username` is stored as it is, even if it is not in the NFKC form that
/// [`Store::create_user`] and Django's `create_user` give new names (Django may hold such rows:
/// made before Django normalized, or by SQL): the user logs in with it as before. Two users
/// whose names are one name once normalized are refused (see [`Import`]).
///
/// ```
/// let user = tokenauth::import::User {
///     id: Some(42),
///     username: "alice".into(),
///     password_hash: Some("pbkdf2_sha256$1000000$salt$hash".into()),
///     is_active: true,
///     date_joined: chrono::Utc::now(),
/// };
/// assert!(!format!("{user:?}").contains("pbkdf2_sha256$1000000$salt$hash"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The id to keep (so that foreign keys in the application's tables still match); `None`:
    /// assigned by the database.
    pub id: Option<i64>,
    /// The login name (Django's username rules: letters, digits and `@.+-_`, at most 150).
    pub username: String,
    /// The stored password hash, as it is; `None`: no password login.
    pub password_hash: Option<String>,
    /// Whether the user may authenticate.
    pub is_active: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field(
                "password_hash",
                &crate::password::hasher_name(self.password_hash.as_deref()),
            )
            .field("is_active", &self.is_active)
            .field("date_joined", &self.date_joined)
            .finish()
    }
}

/// A token to import, e.g. a row of DRF's `authtoken_token`: only the digest of its key is
/// stored.
///
/// ```
/// let token = tokenauth::import::Token {
///     username: "alice".into(),
///     key: tokenauth::Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")?,
///     created: chrono::Utc::now(),
///     name: "drf".into(),
/// };
/// assert!(!format!("{token:?}").contains("9944b0"));
/// # Ok::<(), tokenauth::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The owner, by username: imported before, or already in the store.
    pub username: String,
    /// The key clients send.
    pub key: Key,
    /// When the token was created (kept, so `Policy::max_ttl` counts from the original
    /// creation).
    pub created: DateTime<Utc>,
    /// A label, e.g. `drf`.
    pub name: String,
}

/// Something an import did not refuse but that someone should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The user's token key is not DRF's format (40 lowercase hexadecimal characters): it is
    /// imported and keeps working, but a short key is easier to guess.
    NonStandardKey {
        /// The token's owner.
        username: String,
        /// The key's length in characters.
        length: usize,
    },
    /// The user was imported before, and the source has changed it since: the import leaves
    /// tokenauth's row as it is (a rerun never overwrites), so apply the change yourself
    /// (`tokenauth deactivate`, `set-password`, …) if it should hold.
    Changed {
        /// The user.
        username: String,
        /// What differs: `is_active`, `password`.
        fields: Vec<&'static str>,
    },
    /// The user's password hash is in a format tokenauth cannot verify (e.g. Django's
    /// deprecated `md5`): it is imported as it is, and the user needs a new password. In a
    /// build without the `django` feature, so is a hash in one of the Django formats that the
    /// feature verifies: it is imported as it is, and verifies once the application is built
    /// with the feature.
    UnverifiablePassword {
        /// The user.
        username: String,
        /// The hash's algorithm, as the hash names it.
        hasher: String,
    },
    /// The user's password field is longer than [`MAX_PASSWORD_HASH_LEN`] (Django's field),
    /// so it is no Django hash: the user is imported without a password (no password login,
    /// as Django's unusable password), and needs a new password.
    OversizedPassword {
        /// The user.
        username: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NonStandardKey { username, length } => write!(
                f,
                "the token of user {} is {length} characters, not DRF's 40 hexadecimal \
                 digits; it is imported and works, but consider replacing it",
                Excerpt::plain(username)
            ),
            Warning::Changed { username, fields } => write!(
                f,
                "user {} was imported before and its {} changed since; tokenauth's \
                 copy is left as it is",
                Excerpt::plain(username),
                fields.join(" and ")
            ),
            Warning::UnverifiablePassword { username, hasher }
                if !cfg!(feature = "django")
                    && crate::password::is_djangos_verified_hasher(hasher) =>
            {
                write!(
                    f,
                    "the password of user {} uses Django's `{}`, which this build of \
                     tokenauth cannot verify: until it is built with the `django` feature, \
                     the user cannot log in with it",
                    Excerpt::plain(username),
                    Excerpt::plain(hasher)
                )
            }
            Warning::UnverifiablePassword { username, hasher } => write!(
                f,
                "the password of user {} uses `{}`, which tokenauth cannot verify; \
                 the user needs a new password",
                Excerpt::plain(username),
                Excerpt::plain(hasher)
            ),
            Warning::OversizedPassword { username } => write!(
                f,
                "the password of user {} is longer than Django's {MAX_PASSWORD_HASH_LEN} \
                 characters, so it is no Django hash: the user is imported without a password \
                 and needs a new one",
                Excerpt::plain(username)
            ),
        }
    }
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Users written.
    pub users_imported: u64,
    /// Users already in the store (same id and username): left as they are.
    pub users_present: u64,
    /// Tokens written.
    pub tokens_imported: u64,
    /// Tokens already in the store (same key, same user): left as they are.
    pub tokens_present: u64,
    /// Imported rows someone should look at.
    pub warnings: Vec<Warning>,
}

/// An import in progress: one transaction. Feed it users, then their tokens, in batches of
/// any size, and [`commit`](Import::commit) — or [`rollback`](Import::rollback) for a dry run,
/// whose report says what a commit would have done. Dropped without either, it rolls back.
///
/// A rerun is idempotent: rows already present are counted, never overwritten. A row that
/// conflicts with a different one (an id held by another username, a username held by
/// another id, a key held by another user) fails the import with
/// [`Error::ImportConflict`], and nothing is written. So does a new user whose username is
/// another's once normalized as Django's `create_user` normalizes new names (NFKC: `ａlice`
/// and `alice`), in the import or in the store, and a user whose id is `i64::MAX`, after which
/// the database could number no new user.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// # store.migrate().await?;
/// use tokenauth::Key;
/// use tokenauth::import;
///
/// let alice = import::User {
///     id: Some(7),
///     username: "alice".into(),
///     password_hash: None,
///     is_active: true,
///     date_joined: chrono::Utc::now(),
/// };
/// let key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
/// let token = import::Token {
///     username: "alice".into(),
///     key: Key::import(key)?,
///     created: chrono::Utc::now(),
///     name: "drf".into(),
/// };
/// let mut import = store.import_begin().await?;
/// import.users(&[alice.clone()]).await?;
/// import.tokens(&[token.clone()]).await?;
/// let report = import.commit().await?;
/// assert_eq!((report.users_imported, report.tokens_imported), (1, 1));
/// assert_eq!(store.authenticate(key).await.unwrap().0.id, 7);
///
/// // Again: nothing new.
/// let mut import = store.import_begin().await?;
/// import.users(&[alice]).await?;
/// import.tokens(&[token]).await?;
/// let report = import.commit().await?;
/// assert_eq!((report.users_present, report.tokens_present), (1, 1));
/// # Ok(()) }
/// ```
pub struct Import {
    write: Write,
    report: Report,
    /// Whether users were inserted with their own ids (PostgreSQL's identity must move past).
    kept_ids: bool,
    /// The store's and this import's usernames that are not in NFKC form, by their NFKC form,
    /// with their ids: read at the first [`Import::users`]. Few: new names are stored
    /// normalized.
    unnormalized: Option<HashMap<String, (String, i64)>>,
    /// The store's peppers: keys are stored under the current one, and found under any.
    peppers: crate::key::Peppers,
}

impl fmt::Debug for Import {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Import")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Starts an [`Import`]: one transaction for all of it.
    ///
    /// # Errors
    /// A database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let import = store.import_begin().await?;
    /// assert_eq!(import.rollback().await?, Default::default());
    /// # Ok(()) }
    /// ```
    pub async fn import_begin(&self) -> Result<Import, Error> {
        Ok(Import {
            peppers: self.policy().peppers.clone(),
            write: self.begin_write().await?,
            report: Report::default(),
            kept_ids: false,
            unnormalized: None,
        })
    }

    /// Imports users in one transaction (see [`Import`]).
    ///
    /// # Errors
    /// [`Error::InvalidUsername`], [`Error::ImportConflict`] or a database error; then nothing
    /// is written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let bob = tokenauth::import::User {
    ///     id: None,
    ///     username: "bob".into(),
    ///     password_hash: None,
    ///     is_active: false,
    ///     date_joined: chrono::Utc::now(),
    /// };
    /// assert_eq!(store.import_users(&[bob]).await?.users_imported, 1);
    /// assert!(!store.user_by_username("bob").await?.unwrap().is_active);
    /// # Ok(()) }
    /// ```
    pub async fn import_users(&self, users: &[User]) -> Result<Report, Error> {
        let mut import = self.import_begin().await?;
        import.users(users).await?;
        import.commit().await
    }

    /// Imports tokens of users already in the store, in one transaction (see [`Import`]).
    ///
    /// # Errors
    /// [`Error::UserNotFound`], [`Error::ImportConflict`] or a database error; then nothing is
    /// written.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// store.create_user("carol", None).await?;
    /// let token = tokenauth::import::Token {
    ///     username: "carol".into(),
    ///     key: tokenauth::Key::import("legacy-1")?,
    ///     created: chrono::Utc::now(),
    ///     name: "drf".into(),
    /// };
    /// let report = store.import_tokens(&[token]).await?;
    /// assert_eq!(report.tokens_imported, 1);
    /// assert_eq!(report.warnings.len(), 1, "a short key is imported with a warning");
    /// assert!(store.authenticate("legacy-1").await.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn import_tokens(&self, tokens: &[Token]) -> Result<Report, Error> {
        let mut import = self.import_begin().await?;
        import.tokens(tokens).await?;
        import.commit().await
    }
}

/// A placeholder list `($1, $2, …), (…)` for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::new();
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(first + row * columns + column).to_string());
        }
        sql.push(')');
    }
    sql
}

/// The hash an import stores for `user`: none for a value too long to be a Django hash.
fn password_hash(user: &User) -> Option<&str> {
    user.password_hash
        .as_deref()
        .filter(|hash| hash.chars().nth(MAX_PASSWORD_HASH_LEN).is_none())
}

impl Import {
    /// What has been imported so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Imports users: those already present (same id, or for `id: None` the same username)
    /// are counted and left as they are.
    ///
    /// # Errors
    /// [`Error::InvalidUsername`], [`Error::ImportConflict`] or a database error. The import
    /// should then be dropped: nothing is written.
    pub async fn users(&mut self, users: &[User]) -> Result<(), Error> {
        if self.unnormalized.is_none() {
            self.unnormalized = Some(self.unnormalized_usernames().await?);
        }
        for batch in users.chunks(BATCH) {
            self.user_batch(batch).await?;
        }
        Ok(())
    }

    /// The store's usernames that are not in NFKC form, by their NFKC form: only those with
    /// non-ASCII characters can be (ASCII text is its own NFKC form), read in pages by id.
    async fn unnormalized_usernames(&mut self) -> Result<HashMap<String, (String, i64)>, Error> {
        let sql = "SELECT id, username FROM tokenauth_users \
                   WHERE id > $1 AND length(username) <> octet_length(username) \
                   ORDER BY id LIMIT $2";
        let mut found = HashMap::new();
        let mut after = i64::MIN;
        loop {
            let page: Vec<(i64, String)> = on_backend!(self.write.tx(), Tx(tx) => sqlx::query_as(sql)
                .bind(after)
                .bind(BATCH as i64)
                .fetch_all(&mut **tx)
                .await?);
            let Some(&(last, _)) = page.last() else {
                return Ok(found);
            };
            after = last;
            for (id, name) in page {
                let normalized: String = name.nfkc().collect();
                if normalized != name {
                    found.entry(normalized).or_insert((name, id));
                }
            }
        }
    }

    async fn user_batch(&mut self, batch: &[User]) -> Result<(), Error> {
        let (mut names, mut ids) = (HashSet::new(), HashSet::new());
        for user in batch {
            validate_username(&user.username)?;
            if !names.insert(user.username.as_str()) || user.id.is_some_and(|id| !ids.insert(id)) {
                return Err(Error::ImportConflict(format!(
                    "the username or the id of user {} appears twice",
                    Excerpt::plain(&user.username)
                )));
            }
            if user.id == Some(i64::MAX) {
                // The database numbers new users after the highest id: none would be left.
                return Err(Error::ImportConflict(format!(
                    "user {} has id {}, the largest a database id can be, after which no new \
                     user could be created; import the users with new ids (`id: None`; the \
                     CLI's `--new-ids`)",
                    Excerpt::plain(&user.username),
                    i64::MAX
                )));
            }
        }
        // Each name as Django's `create_user` would store it (NFKC), where that differs.
        let normalized: Vec<Option<String>> = batch
            .iter()
            .map(|user| {
                let normalized: String = user.username.nfkc().collect();
                (normalized != user.username).then_some(normalized)
            })
            .collect();
        let other_forms: Vec<&str> = normalized.iter().flatten().map(String::as_str).collect();
        // What the store has of these ids and usernames, and of their normalized forms.
        let ids: Vec<i64> = batch.iter().filter_map(|user| user.id).collect();
        let sql = format!(
            "SELECT id, username, is_active, password_hash FROM tokenauth_users \
             WHERE id IN ({}) OR username IN ({})",
            if ids.is_empty() {
                "NULL".to_owned()
            } else {
                parameter_list(ids.len(), 1)
            },
            parameter_list(batch.len() + other_forms.len(), ids.len() + 1),
        );
        let existing: Vec<(i64, String, bool, Option<String>)> = on_backend!(self.write.tx(), Tx(tx) => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in &ids {
                query = query.bind(*id);
            }
            for user in batch {
                query = query.bind(user.username.as_str());
            }
            for form in &other_forms {
                query = query.bind(*form);
            }
            query.fetch_all(&mut **tx).await?
        });
        let by_id: HashMap<i64, &str> = existing
            .iter()
            .map(|(id, name, ..)| (*id, name.as_str()))
            .collect();
        let by_name: HashMap<&str, (i64, bool, Option<&str>)> = existing
            .iter()
            .map(|(id, name, active, hash)| (name.as_str(), (*id, *active, hash.as_deref())))
            .collect();
        let mut new = Vec::with_capacity(batch.len());
        for (user, normalized) in batch.iter().zip(&normalized) {
            let row = by_name.get(user.username.as_str()).copied();
            let held = row.map(|(id, ..)| id);
            let present = match (user.id, held) {
                (Some(id), Some(held)) if id == held => true,
                (Some(id), Some(held)) => {
                    return Err(Error::ImportConflict(format!(
                        "user {} has id {id}, but the store has the username as #{held}",
                        Excerpt::plain(&user.username)
                    )));
                }
                (Some(id), None) => match by_id.get(&id) {
                    Some(other) => {
                        return Err(Error::ImportConflict(format!(
                            "user {} has id {id}, but the store has #{id} as {}",
                            Excerpt::plain(&user.username),
                            Excerpt::plain(other)
                        )));
                    }
                    None => false,
                },
                (None, held) => held.is_some(),
            };
            if present {
                self.report.users_present += 1;
                if let Some((_, active, hash)) = row {
                    // Changed at the source since the first import: reported, not applied.
                    // A hash tokenauth upgraded is expected to differ.
                    let upgraded = crate::password::hasher_name(hash) == "argon2id";
                    let mut changed = Vec::new();
                    if active != user.is_active {
                        changed.push("is_active");
                    }
                    if !upgraded && hash != password_hash(user) {
                        changed.push("password");
                    }
                    if !changed.is_empty() {
                        self.report.warnings.push(Warning::Changed {
                            username: user.username.clone(),
                            fields: changed,
                        });
                    }
                }
            } else {
                new.push((user, normalized.as_deref().unwrap_or(&user.username)));
            }
        }
        self.check_normalized_names(&new, &by_name)?;
        for (user, _) in &new {
            let hasher = crate::password::hasher_name(user.password_hash.as_deref());
            if password_hash(user).is_none() && hasher != "unusable" {
                self.report.warnings.push(Warning::OversizedPassword {
                    username: user.username.clone(),
                });
            } else if !crate::password::can_verify(user.password_hash.as_deref())
                && hasher != "unusable"
            {
                self.report.warnings.push(Warning::UnverifiablePassword {
                    username: user.username.clone(),
                    hasher: hasher.to_owned(),
                });
            }
        }
        let (with_ids, without_ids): (Vec<&User>, Vec<&User>) = new
            .iter()
            .map(|(user, _)| *user)
            .partition(|user| user.id.is_some());
        for (rows, keep) in [(with_ids, true), (without_ids, false)] {
            if rows.is_empty() {
                continue;
            }
            self.kept_ids |= keep;
            let columns = if keep { 5 } else { 4 };
            let sql = format!(
                "INSERT INTO tokenauth_users ({}username, password_hash, is_active, date_joined) \
                 VALUES {} RETURNING id, username",
                if keep { "id, " } else { "" },
                placeholders(rows.len(), columns, 1)
            );
            let inserted: Vec<(i64, String)> = on_backend!(self.write.tx(), Tx(tx) => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for user in &rows {
                    if let Some(id) = user.id {
                        query = query.bind(id);
                    }
                    query = query
                        .bind(user.username.as_str())
                        .bind(password_hash(user))
                        .bind(user.is_active)
                        .bind(user.date_joined);
                }
                query.fetch_all(&mut **tx).await?
            });
            self.report.users_imported += inserted.len() as u64;
            // Later batches must not bring another form of these names.
            let unnormalized = self.unnormalized.get_or_insert_default();
            for (id, name) in inserted {
                let normalized: String = name.nfkc().collect();
                if normalized != name {
                    unnormalized.entry(normalized).or_insert((name, id));
                }
            }
        }
        Ok(())
    }

    /// Refuses a new user whose name, once normalized (NFKC, as Django's `create_user` stores
    /// names), is another user's: in the store, earlier in this import, or in this batch.
    fn check_normalized_names(
        &self,
        new: &[(&User, &str)],
        by_name: &HashMap<&str, (i64, bool, Option<&str>)>,
    ) -> Result<(), Error> {
        let same = |user: &User, normalized: &str, other: &str, id: Option<i64>| {
            Error::ImportConflict(format!(
                "users {} and {}{} are one username once normalized as Django's `create_user` \
                 stores usernames (NFKC: {}); rename one of them at the source",
                Excerpt::quoted(&user.username),
                Excerpt::quoted(other),
                id.map(|id| format!(" (#{id})")).unwrap_or_default(),
                Excerpt::quoted(normalized),
            ))
        };
        let mut in_batch: HashMap<&str, &User> = HashMap::new();
        for &(user, normalized) in new {
            if normalized != user.username
                && let Some(&(id, ..)) = by_name.get(normalized)
            {
                return Err(same(user, normalized, normalized, Some(id)));
            }
            if let Some((other, id)) = self
                .unnormalized
                .as_ref()
                .and_then(|known| known.get(normalized))
            {
                return Err(same(user, normalized, other, Some(*id)));
            }
            if let Some(other) = in_batch.insert(normalized, user) {
                return Err(same(other, normalized, &user.username, user.id));
            }
        }
        Ok(())
    }

    /// Imports tokens of users imported before in this import or already in the store. A key
    /// already present for the same user is counted and left as it is. A key that is not
    /// DRF's format (40 lowercase hexadecimal characters) is imported with a warning.
    ///
    /// # Errors
    /// [`Error::UserNotFound`] for an unknown username, [`Error::ImportConflict`] for a key
    /// held by another user or given twice, [`Error::InvalidTokenName`], or a database error.
    /// The import should then be dropped: nothing is written.
    pub async fn tokens(&mut self, tokens: &[Token]) -> Result<(), Error> {
        for batch in tokens.chunks(BATCH) {
            self.token_batch(batch).await?;
        }
        Ok(())
    }

    async fn token_batch(&mut self, batch: &[Token]) -> Result<(), Error> {
        // Each key's stored digest (under the current pepper, if any), and every digest it may
        // already be stored with (under any pepper, or plain).
        let stored: Vec<(KeyDigest, Option<i16>)> = batch
            .iter()
            .map(|token| self.peppers.stored(token.key.expose_secret()))
            .collect();
        let candidates: Vec<Vec<KeyDigest>> = batch
            .iter()
            .map(|token| self.peppers.candidates(token.key.expose_secret()).stored())
            .collect();
        let digests: Vec<&KeyDigest> = candidates.iter().flatten().collect();
        let mut names: Vec<&str> = batch.iter().map(|t| t.username.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for token in batch {
            crate::models::NewToken::named(token.name.as_str()).validate()?;
        }
        let sql = format!(
            "SELECT id, username FROM tokenauth_users WHERE username IN ({})",
            parameter_list(names.len(), 1)
        );
        let users: Vec<(i64, String)> = on_backend!(self.write.tx(), Tx(tx) => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for name in &names {
                query = query.bind(*name);
            }
            query.fetch_all(&mut **tx).await?
        });
        let users: HashMap<&str, i64> = users
            .iter()
            .map(|(id, name)| (name.as_str(), *id))
            .collect();
        // A key is already present as a token's key, or as the previous key of a rolled one
        // (which a second import must not bring back as a token of its own).
        let sql = format!(
            "SELECT key_digest, user_id FROM tokenauth_tokens WHERE key_digest IN ({0}) \
             UNION ALL SELECT previous_key_digest, user_id FROM tokenauth_tokens \
             WHERE previous_key_digest IN ({0})",
            parameter_list(digests.len(), 1)
        );
        let existing: Vec<(String, i64)> = on_backend!(self.write.tx(), Tx(tx) => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for digest in &digests {
                query = query.bind(digest.as_str());
            }
            query.fetch_all(&mut **tx).await?
        });
        let existing: HashMap<&str, i64> = existing
            .iter()
            .map(|(digest, user)| (digest.as_str(), *user))
            .collect();
        let mut new = Vec::with_capacity(batch.len());
        let mut seen = HashSet::new();
        for ((token, (digest, pepper)), forms) in batch.iter().zip(&stored).zip(&candidates) {
            let Some(&user_id) = users.get(token.username.as_str()) else {
                return Err(Error::UserNotFound(token.username.clone()));
            };
            if !seen.insert(digest.as_str()) {
                return Err(Error::ImportConflict(format!(
                    "a key of user {} appears twice",
                    Excerpt::plain(&token.username)
                )));
            }
            let owner = forms.iter().find_map(|form| existing.get(form.as_str()));
            match owner {
                Some(&owner) if owner == user_id => self.report.tokens_present += 1,
                Some(_) => {
                    return Err(Error::ImportConflict(format!(
                        "a key of user {} is already another user's",
                        Excerpt::plain(&token.username)
                    )));
                }
                None => new.push((token, user_id, digest, *pepper)),
            }
        }
        for (token, ..) in &new {
            if !token.key.is_drf_format() {
                self.report.warnings.push(Warning::NonStandardKey {
                    username: token.username.clone(),
                    length: token.key.expose_secret().chars().count(),
                });
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO tokenauth_tokens (user_id, key_digest, name, created, key_pepper) \
             VALUES {}",
            placeholders(new.len(), 5, 1)
        );
        let inserted = on_backend!(self.write.tx(), Tx(tx) => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (token, user_id, digest, pepper) in &new {
                query = query
                    .bind(*user_id)
                    .bind(digest.as_str())
                    .bind(token.name.as_str())
                    .bind(token.created)
                    .bind(*pepper);
            }
            query.execute(&mut **tx).await?.rows_affected()
        });
        self.report.tokens_imported += inserted;
        Ok(())
    }

    /// Writes everything, and returns the report.
    ///
    /// # Errors
    /// A database error; then nothing is written.
    pub async fn commit(self) -> Result<Report, Error> {
        let Import {
            mut write,
            report,
            kept_ids,
            ..
        } = self;
        if kept_ids && let Some(sql) = write.pool().dialect().after_ids_kept {
            on_backend!(write.tx(), Tx(tx) => sqlx::query(sql).execute(&mut **tx).await.map(drop))?;
        }
        // The imported keys are live at once, and imported Django hashes change what a failed
        // login must cost, at once.
        write.commit(Change::Imported("tokenauth_tokens")).await?;
        crate::telemetry::tokens_issued("import", report.tokens_imported);
        if report.tokens_imported > 0 {
            crate::telemetry::Security::new(crate::telemetry::Event::TokenCreated)
                .reason("import")
                .count(report.tokens_imported)
                .emit();
        }
        Ok(report)
    }

    /// Writes nothing, and returns what a commit would have done (a dry run).
    ///
    /// # Errors
    /// A database error.
    pub async fn rollback(self) -> Result<Report, Error> {
        let report = self.report;
        self.write.rollback().await?;
        Ok(report)
    }
}
