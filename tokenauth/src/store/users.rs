//! Users and passwords in the `tokenauth_users` table.

use chrono::Utc;

use super::{Store, unique_violation, with_pool};
use crate::{Error, User, password};

/// Longest accepted username (Django's `AbstractUser.username`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// # store.migrate().await?;
/// let too_long = "x".repeat(tokenauth::MAX_USERNAME_LEN + 1);
/// assert!(store.create_user(&too_long, None).await.is_err());
/// # Ok(()) }
/// ```
pub const MAX_USERNAME_LEN: usize = 150;

/// The columns read into a [`User`].
macro_rules! user_columns {
    () => {
        "id, username, is_active, date_joined"
    };
}

/// A change to one user column.
enum Assign {
    PasswordHash(Option<String>),
    Active(bool),
}

/// Django's `UnicodeUsernameValidator`: letters, digits and `@ . + - _`, 1 to 150 characters.
fn validate_username(username: &str) -> Result<(), Error> {
    let valid = !username.is_empty()
        && username.chars().count() <= MAX_USERNAME_LEN
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
        validate_username(username)?;
        let hash = match password {
            Some(password) => Some(password::hash(password).await?),
            None => None,
        };
        let sql = concat!(
            "INSERT INTO tokenauth_users (username, password_hash, is_active, date_joined) ",
            "VALUES ($1, $2, $3, $4) RETURNING ",
            user_columns!()
        );
        with_pool!(self, pool => sqlx::query_as::<_, User>(sql)
            .bind(username)
            .bind(hash)
            .bind(active)
            .bind(Utc::now())
            .fetch_one(pool)
            .await)
        .map_err(|err| {
            unique_violation(err, "username", || {
                Error::UsernameTaken(username.to_owned())
            })
        })
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
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE id = $1"
        );
        Ok(with_pool!(self, pool => sqlx::query_as::<_, User>(sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// The user with this username (exact, case-sensitive match, as Django), if any.
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
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE username = $1"
        );
        Ok(with_pool!(self, pool => sqlx::query_as::<_, User>(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?)
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
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users ORDER BY id"
        );
        Ok(with_pool!(self, pool => sqlx::query_as::<_, User>(sql).fetch_all(pool).await)?)
    }

    /// Sets (`Some`) or removes (`None`: no password login) a user's password.
    ///
    /// # Errors
    /// [`Error::UserNotFound`] or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", Some("old password")).await?;
    /// store.set_password(alice.id, Some("new password")).await?;
    /// assert!(store.check_password("alice", "old password").await?.is_none());
    /// assert!(store.check_password("alice", "new password").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn set_password(&self, user_id: i64, password: Option<&str>) -> Result<(), Error> {
        let hash = match password {
            Some(password) => Some(password::hash(password).await?),
            None => None,
        };
        let revoke = self.policy().revoke_on_password_change;
        self.update_user(user_id, Assign::PasswordHash(hash), revoke)
            .await
    }

    /// Django's `authenticate(username=…, password=…)`: the user if the password matches and
    /// the user is active, `None` otherwise. An unknown username costs the same Argon2
    /// verification as a wrong password, so response times do not reveal which usernames exist.
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
    /// store.set_active(alice.id, false).await?;
    /// assert_eq!(store.check_password("alice", "correct horse").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, Error> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: Option<String>,
        }
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM tokenauth_users WHERE username = $1"
        );
        let row = with_pool!(self, pool => sqlx::query_as::<_, Row>(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?;
        let (user, hash) = match row {
            Some(row) => (Some(row.user), row.password_hash),
            None => (None, None),
        };
        let matches = password::verify(password, hash).await?;
        Ok(user.filter(|user| matches && user.is_active))
    }

    /// Activates or deactivates a user. An inactive user's tokens are refused with
    /// `User inactive or deleted.`; they are kept, and work again on reactivation.
    ///
    /// # Errors
    /// [`Error::UserNotFound`] or a database error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tokenauth::Error> {
    /// # let store = tokenauth::Store::connect("sqlite::memory:").await?;
    /// # store.migrate().await?;
    /// let alice = store.create_user("alice", None).await?;
    /// store.set_active(alice.id, false).await?;
    /// assert!(!store.user(alice.id).await?.unwrap().is_active);
    /// # Ok(()) }
    /// ```
    pub async fn set_active(&self, user_id: i64, active: bool) -> Result<(), Error> {
        let revoke = !active && self.policy().revoke_on_deactivation;
        self.update_user(user_id, Assign::Active(active), revoke)
            .await
    }

    /// Updates one column of one user, revoking their tokens in the same transaction when
    /// `revoke_tokens`.
    async fn update_user(
        &self,
        user_id: i64,
        assign: Assign,
        revoke_tokens: bool,
    ) -> Result<(), Error> {
        let revoke = "DELETE FROM tokenauth_tokens WHERE user_id = $1";
        let done = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let update = match &assign {
                Assign::PasswordHash(hash) => {
                    sqlx::query("UPDATE tokenauth_users SET password_hash = $1 WHERE id = $2")
                        .bind(hash.clone())
                }
                Assign::Active(active) => {
                    sqlx::query("UPDATE tokenauth_users SET is_active = $1 WHERE id = $2")
                        .bind(*active)
                }
            };
            let done = update.bind(user_id).execute(&mut *tx).await?.rows_affected();
            if done > 0 && revoke_tokens {
                sqlx::query(revoke).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            done
        });
        if done == 0 {
            return Err(Error::UserNotFound(format!("#{user_id}")));
        }
        Ok(())
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
        let sql = "DELETE FROM tokenauth_users WHERE id = $1";
        let done = with_pool!(self, pool => sqlx::query(sql)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }
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
}
