//! Users and passwords in the `tokenauth_users` table.

use chrono::Utc;
use unicode_normalization::UnicodeNormalization as _;

use super::backend::on_backend;
use super::tokens::Issued;
use super::write::Change;
use super::{Store, unique_violation};
use crate::error::Error;
use crate::key::Key;
use crate::models::{NewToken, Token, User};
use crate::rules::MAX_USERNAME_LEN;

/// An SQL statement reading [`User`]s: `$before`, the columns of its
/// [`AuthUser::COLUMNS`](crate::AuthUser::COLUMNS), then `$after` — built once, the first
/// time it runs.
macro_rules! user_sql {
    ($before:expr, $after:expr) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns = <User as crate::store::user::AuthUser>::COLUMNS.join(", ");
            [$before, columns.as_str(), $after].concat()
        });
        SQL.as_str()
    }};
}

/// A change to one user column.
enum Assign {
    PasswordHash(Option<String>),
    Active(bool),
}

/// The username [`Store::create_user`] stores for `username`: Django's
/// `AbstractBaseUser.normalize_username` (Unicode NFKC, which `UserManager.create_user`
/// applies), checked by Django's `UnicodeUsernameValidator` and `max_length` on the normalized
/// form. As Django's `UsernameField`, a name already over 150 characters is refused without
/// being normalized (NFKC can lengthen a name, e.g. `ﬀ` → `ff`; refusing first also bounds
/// the work).
pub(super) fn normalize_username(username: &str) -> Result<String, Error> {
    if username.chars().nth(MAX_USERNAME_LEN).is_some() {
        return Err(Error::InvalidUsername(username.to_owned()));
    }
    let normalized: String = username.nfkc().collect();
    validate_username(&normalized).map_err(|_| Error::InvalidUsername(username.to_owned()))?;
    Ok(normalized)
}

/// Django's `UnicodeUsernameValidator`: letters, digits and `@ . + - _`, 1 to 150 characters.
pub(crate) fn validate_username(username: &str) -> Result<(), Error> {
    let valid = !username.is_empty()
        && username.chars().nth(MAX_USERNAME_LEN).is_none()
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidUsername(username.to_owned()))
    }
}

impl Store {
    /// Creates an active user. `password: None` creates a user who cannot log in with a
    /// password (Django's unusable password) but can still be given tokens.
    ///
    /// The username is stored as Django's `UserManager.create_user` stores it: normalized to
    /// Unicode NFKC (`AbstractBaseUser.normalize_username`), so `ａlice` (fullwidth `ａ`) is
    /// stored as `alice`, and is a duplicate of an `alice` already there; the returned
    /// [`User`] has the stored name. The 150-character limit and the allowed characters apply
    /// to the normalized name, as in Django. Logins ([`Store::login`],
    /// [`Store::check_password`]) match the username as sent, as Django's `authenticate()` and
    /// DRF's `obtain_auth_token` do: `ａlice` does not log in as `alice`.
    ///
    /// # Errors
    /// [`Error::InvalidUsername`], [`Error::UsernameTaken`], or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", Some("correct horse battery")).await?;
    /// assert!(alice.is_active);
    /// assert!(matches!(
    ///     store.create_user("alice", None).await,
    ///     Err(tokenauth::Error::UsernameTaken(_))
    /// ));
    /// // NFKC: fullwidth letters and ligatures are their plain forms.
    /// assert!(matches!(
    ///     store.create_user("ａlice", None).await,
    ///     Err(tokenauth::Error::UsernameTaken(name)) if name == "alice"
    /// ));
    /// assert_eq!(store.create_user("oﬀice", None).await?.username, "office");
    /// # Ok(()) }
    /// ```
    pub async fn create_user(&self, username: &str, password: Option<&str>) -> Result<User, Error> {
        self.create_user_with(username, password, true).await
    }

    /// [`Store::create_user`], choosing whether the user starts active, in one statement.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let pending = store.create_user_with("pending", None, false).await?;
    /// assert!(!pending.is_active);
    /// # Ok(()) }
    /// ```
    pub async fn create_user_with(
        &self,
        username: &str,
        password: Option<&str>,
        active: bool,
    ) -> Result<User, Error> {
        let username = normalize_username(username)?;
        let hash = match password {
            Some(password) => Some(self.hasher().hash(password).await?),
            None => None,
        };
        let sql = user_sql!(
            concat!(
                "INSERT INTO tokenauth_users (username, password_hash, is_active, date_joined) ",
                "VALUES ($1, $2, $3, $4) RETURNING "
            ),
            ""
        );
        let mut write = self.begin_write().await?;
        let user = on_backend!(write.tx(), Tx(tx) => sqlx::query_as::<_, User>(sql)
            .bind(username.as_str())
            .bind(hash)
            .bind(active)
            .bind(Utc::now())
            .fetch_one(&mut **tx)
            .await)
        .map_err(|err| {
            unique_violation(err, "username", || Error::UsernameTaken(username.clone()))
        })?;
        write.commit(Change::Nothing).await?; // a user without tokens
        Ok(user)
    }

    /// The user with this id, if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// assert_eq!(store.user(alice.id).await?, Some(alice));
    /// # Ok(()) }
    /// ```
    pub async fn user(&self, id: i64) -> Result<Option<User>, Error> {
        let sql = user_sql!("SELECT ", " FROM tokenauth_users WHERE id = $1");
        Ok(
            on_backend!(&self.pool, Pool(pool) => sqlx::query_as::<_, User>(sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// The user with this username (exact, case-sensitive match, as Django's
    /// `get_by_natural_key`: not normalized), if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// store.create_user("alice", None).await?;
    /// assert!(store.user_by_username("alice").await?.is_some());
    /// assert!(store.user_by_username("Alice").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        if !could_exist(username) {
            return Ok(None);
        }
        let sql = user_sql!("SELECT ", " FROM tokenauth_users WHERE username = $1");
        Ok(
            on_backend!(&self.pool, Pool(pool) => sqlx::query_as::<_, User>(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?,
        )
    }

    /// Every user, by id.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// store.create_user("alice", None).await?;
    /// store.create_user("bob", None).await?;
    /// let names: Vec<String> = store.users().await?.into_iter().map(|u| u.username).collect();
    /// assert_eq!(names, ["alice", "bob"]);
    /// # Ok(()) }
    /// ```
    pub async fn users(&self) -> Result<Vec<User>, Error> {
        let sql = user_sql!("SELECT ", " FROM tokenauth_users ORDER BY id");
        Ok(
            on_backend!(&self.pool, Pool(pool) => sqlx::query_as::<_, User>(sql).fetch_all(pool).await)?,
        )
    }

    /// Sets (`Some`) or removes (`None`: no password login) a user's password, and returns how
    /// many of the user's tokens it revoked: all of them under the default policy
    /// ([`Policy::revoke_on_password_change`](crate::Policy::revoke_on_password_change)), in
    /// the same transaction.
    ///
    /// Once this returns, no login checked against the old password can still issue a token
    /// (see [`Store::login`]).
    ///
    /// # Errors
    /// [`Error::UserNotFound`], [`Error::Overloaded`] or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", Some("old password")).await?;
    /// store.tokens().create(alice.id, Default::default()).await?;
    /// assert_eq!(store.set_password(alice.id, Some("new password")).await?, 1);
    /// assert!(store.check_password("alice", "old password").await?.is_none());
    /// assert!(store.check_password("alice", "new password").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn set_password(&self, user_id: i64, password: Option<&str>) -> Result<u64, Error> {
        let hash = match password {
            Some(password) => Some(self.hasher().hash(password).await?),
            None => None,
        };
        let revoke = self.policy().revoke_on_password_change;
        self.update_user(user_id, Assign::PasswordHash(hash), revoke)
            .await
    }

    /// Django's `authenticate(username=…, password=…)`: the user if the password matches and
    /// the user is active, `None` otherwise. An unknown username costs the same Argon2
    /// verification as a wrong password, so response times do not reveal which usernames exist.
    /// The username is matched exactly as sent, not normalized, as Django's `ModelBackend`
    /// does (only Django's HTML login form normalizes it first; DRF's `obtain_auth_token` does
    /// not).
    ///
    /// The stored hash may be tokenauth's Argon2id or, with the `django` feature, one imported
    /// from Django (`pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`, `bcrypt_sha256`, `scrypt`; see
    /// [`ImportUser`](crate::import::User)). When the password matches a hash that is not the policy's Argon2id
    /// ([`Policy::argon2`](crate::Policy::argon2)), the hash is replaced by one that is, as
    /// Django's `must_update` does; the user's tokens are kept. Without the feature, a hash in
    /// Django's formats never matches: its user is refused as with a wrong password (and the
    /// process logs a warning saying so, once).
    ///
    /// To issue a token for a password, use [`Store::login`]: it checks and issues in one
    /// step that a concurrent password change cannot slip between.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when too many passwords are being checked at once, or a database
    /// error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", Some("correct horse")).await?;
    /// assert_eq!(store.check_password("alice", "correct horse").await?, Some(alice.clone()));
    /// assert_eq!(store.check_password("alice", "wrong").await?, None);
    /// assert_eq!(store.check_password("nobody", "correct horse").await?, None);
    /// assert_eq!(store.check_password("nul\0byte", "correct horse").await?, None);
    /// store.set_active(alice.id, false).await?;
    /// assert_eq!(store.check_password("alice", "correct horse").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, Error> {
        Ok(self
            .verify_password(username, password)
            .await?
            .map(|(user, _version)| user))
    }

    /// Django's `authenticate()` and, if it succeeds, a new token for the user, as one step:
    /// the token is issued only if the user's credentials are still those that were checked —
    /// same password, still active — re-read in the transaction that inserts the token (under
    /// the user's row lock on PostgreSQL). So once [`Store::set_password`] or
    /// [`Store::set_active`] returns, no login that checked the old password can still issue
    /// a token. `None`: wrong credentials, an inactive user, or credentials that changed
    /// meanwhile. It does not throttle: `AuthApi`'s login view (feature `openapi`) does, before
    /// calling it; an application calling it from its own view must limit attempts itself.
    ///
    /// # Errors
    /// [`Error::TokenLimit`], [`Error::Overloaded`], the [`NewToken`] errors, or a database
    /// error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// use tokenauth::NewToken;
    ///
    /// store.create_user("alice", Some("correct horse")).await?;
    /// let (user, token, key) = store
    ///     .login("alice", "correct horse", NewToken::named("laptop"))
    ///     .await?
    ///     .expect("the right password");
    /// assert_eq!(store.authenticate(key.expose_secret()).await.unwrap(), (user, token));
    /// assert!(store.login("alice", "wrong", NewToken::default()).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        options: NewToken,
    ) -> Result<Option<(User, Token, Key)>, Error> {
        options.validate()?;
        let Some((user, version)) = self.verify_password(username, password).await? else {
            return Ok(None);
        };
        let key = self.generate_key()?;
        let tokens = self.tokens();
        match tokens.issue(user.id, &key, &options, Some(version)).await {
            Ok(Issued::New(token)) => Ok(Some((user, token, key))),
            Ok(Issued::Existing(_) | Issued::Stale) => Ok(None),
            // Deleted since the check: as if the password were wrong.
            Err(Error::UserNotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The active user whose password is `password`, with the credential version checked.
    async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<(User, i64)>, Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: Option<String>,
            credential_version: i64,
        }
        let sql = user_sql!(
            "SELECT ",
            ", password_hash, credential_version FROM tokenauth_users WHERE username = $1"
        );
        let row = if could_exist(username) {
            on_backend!(&self.pool, Pool(pool) => sqlx::query_as::<_, Row>(sql)
                .bind(username)
                .fetch_optional(pool)
                .await)?
        } else {
            None // no query, the same Argon2 work
        };
        let (user, hash) = match row {
            Some(row) => (Some((row.user, row.credential_version)), row.password_hash),
            None => (None, None),
        };
        // Without the `django` feature no hash in Django's formats verifies, and a failure
        // costs one Argon2 verification whatever the stored hash: nothing to pad.
        let pad = cfg!(feature = "django") && self.has_django_pbkdf2_hashes().await?;
        let verified = self.hasher().verify(password, hash.clone(), pad).await?;
        let Some((user, version)) = user.filter(|_| verified.matched) else {
            return Ok(None);
        };
        if let (Some(upgrade), Some(outdated)) = (verified.upgrade, hash) {
            self.upgrade_password_hash(user.id, &outdated, &upgrade)
                .await?;
        }
        Ok(Some((user, version)).filter(|(user, _)| user.is_active))
    }

    /// Django's `must_update` after a successful check: replaces a hash in one of Django's
    /// formats, or a weaker Argon2 hash, by the policy's Argon2id hash of the same password.
    /// Only if the stored hash is still the one that was checked (a concurrent password
    /// change wins), and without bumping the credential version: the password is the same, so
    /// tokens and a login in progress stay valid.
    async fn upgrade_password_hash(
        &self,
        user_id: i64,
        outdated: &str,
        upgrade: &str,
    ) -> Result<(), Error> {
        let sql = "UPDATE tokenauth_users SET password_hash = $1 \
                   WHERE id = $2 AND password_hash = $3";
        let mut write = self.begin_write().await?;
        let updated = on_backend!(write.tx(), Tx(tx) => sqlx::query(sql)
            .bind(upgrade)
            .bind(user_id)
            .bind(outdated)
            .execute(&mut **tx)
            .await?
            .rows_affected());
        // The same password: what every key grants is unchanged.
        write.commit(Change::Nothing).await?;
        if updated > 0 {
            tracing::info!(
                user_id,
                from = crate::password::hasher_name(Some(outdated)),
                "tokenauth: upgraded a password hash to the policy's Argon2id"
            );
        }
        Ok(())
    }

    /// Activates or deactivates a user, and returns how many of the user's tokens it revoked.
    /// As in Django REST framework, an inactive user's tokens are kept and refused with
    /// `User inactive or deleted.`, and work again on reactivation (none are revoked); with
    /// [`Policy::revoke_on_deactivation`](crate::Policy::revoke_on_deactivation), deactivation
    /// deletes them instead. Either way, a login checked before the change issues no token.
    ///
    /// # Errors
    /// [`Error::UserNotFound`] or a database error.
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
    /// let (_, key) = store.tokens().create(alice.id, Default::default()).await?;
    /// assert_eq!(store.set_active(alice.id, false).await?, 0);
    /// assert!(matches!(
    ///     store.authenticate(key.expose_secret()).await,
    ///     Err(AuthenticateError::Denied(Reason::UserInactive))
    /// ));
    /// store.set_active(alice.id, true).await?;
    /// assert!(store.authenticate(key.expose_secret()).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub async fn set_active(&self, user_id: i64, active: bool) -> Result<u64, Error> {
        let revoke = !active && self.policy().revoke_on_deactivation;
        self.update_user(user_id, Assign::Active(active), revoke)
            .await
    }

    /// Updates one credential column of one user and bumps the user's credential version,
    /// revoking their tokens in the same transaction when `revoke_tokens`. Returns how many
    /// tokens were revoked.
    async fn update_user(
        &self,
        user_id: i64,
        assign: Assign,
        revoke_tokens: bool,
    ) -> Result<u64, Error> {
        let revoke = "DELETE FROM tokenauth_tokens WHERE user_id = $1";
        let mut write = self.begin_write().await?;
        let (updated, revoked) = on_backend!(write.tx(), Tx(tx) => {
            let update = match &assign {
                Assign::PasswordHash(hash) => sqlx::query(
                    "UPDATE tokenauth_users SET password_hash = $1, \
                     credential_version = credential_version + 1 WHERE id = $2",
                )
                .bind(hash.clone()),
                Assign::Active(active) => sqlx::query(
                    "UPDATE tokenauth_users SET is_active = $1, \
                     credential_version = credential_version + 1 WHERE id = $2",
                )
                .bind(*active),
            };
            let updated = update.bind(user_id).execute(&mut **tx).await?.rows_affected();
            let mut revoked = 0;
            if updated > 0 && revoke_tokens {
                revoked = sqlx::query(revoke)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            }
            (updated, revoked)
        });
        // A new password or activity changes what the user's cached keys grant.
        write.commit(Change::Narrowed).await?;
        if updated == 0 {
            return Err(Error::UserNotFound(format!("#{user_id}")));
        }
        let reason = match assign {
            Assign::PasswordHash(_) => "password_change",
            Assign::Active(_) => "deactivation",
        };
        crate::telemetry::tokens_revoked(reason, revoked);
        if revoked > 0 {
            crate::telemetry::Security::new(crate::telemetry::Event::TokenRevoked)
                .user(user_id)
                .reason(reason)
                .count(revoked)
                .emit();
        }
        Ok(revoked)
    }

    /// Deletes a user and, by cascade, all of their tokens. Returns whether the user existed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// assert!(store.delete_user(alice.id).await?);
    /// assert!(!store.delete_user(alice.id).await?);
    /// # Ok(()) }
    /// ```
    pub async fn delete_user(&self, user_id: i64) -> Result<bool, Error> {
        // The user's row locked first, as issuing a token locks it (`Dialect::lock_row`), so
        // that the tokens deleted here — counted as revoked — are all the user had.
        let tokens = "DELETE FROM tokenauth_tokens WHERE user_id = $1";
        let user = "DELETE FROM tokenauth_users WHERE id = $1";
        let mut write = self.begin_write().await?;
        let lock = format!(
            "SELECT id FROM tokenauth_users WHERE id = $1{}",
            write.pool().dialect().lock_row
        );
        let (done, revoked) = on_backend!(write.tx(), Tx(tx) => {
            let found: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(lock))
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_some() {
                let revoked = sqlx::query(tokens)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                let done = sqlx::query(user)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                (done, revoked)
            } else {
                (0, 0)
            }
        });
        write.commit(Change::Narrowed).await?;
        crate::telemetry::tokens_revoked("user_deleted", revoked);
        if revoked > 0 {
            crate::telemetry::Security::new(crate::telemetry::Event::TokenRevoked)
                .user(user_id)
                .reason("user_deleted")
                .count(revoked)
                .emit();
        }
        Ok(done > 0)
    }
}

/// Whether a user named `username` could exist: not over [`MAX_USERNAME_LEN`] characters and
/// without NUL, which PostgreSQL's text cannot hold (querying it is an error, not a miss).
fn could_exist(username: &str) -> bool {
    !username.contains('\0') && username.chars().count() <= MAX_USERNAME_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_django() {
        for ok in ["alice", "a.b@c+d-e_f", "Zoë", "用户", &"x".repeat(150)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "two words",
            "tab\there",
            "semi;colon",
            "slash/",
            &"x".repeat(151),
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    /// Django's `normalize_username`, checked against what Python's
    /// `unicodedata.normalize("NFKC", …)` gives, with the limits on the normalized form.
    #[test]
    fn usernames_are_normalized_as_django_does() {
        for (given, stored) in [
            ("alice", "alice"),
            ("ａｌｉｃｅ", "alice"),
            ("ﬀ", "ff"),
            ("Ａdmin①", "Admin1"),
            ("e\u{301}", "é"),
            ("Zoë", "Zoë"),
        ] {
            assert_eq!(normalize_username(given).unwrap(), stored, "{given}");
        }
        // 75 ligatures are 150 characters once normalized; 76 are 152.
        assert!(normalize_username(&"ﬀ".repeat(75)).is_ok());
        assert!(matches!(
            normalize_username(&"ﬀ".repeat(76)),
            Err(Error::InvalidUsername(name)) if name == "ﬀ".repeat(76)
        ));
        // Over 150 as given: refused before normalizing, although NFC would shorten it.
        assert!(normalize_username(&"e\u{301}".repeat(76)).is_err());
        // `½` is `1⁄2`, and `⁄` is not a username character.
        assert!(normalize_username("½").is_err());
    }
}
