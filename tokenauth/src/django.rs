//! Running beside Django during a gradual migration (PostgreSQL; features `django` and
//! `postgres`): a poem service authenticates the keys that a running Django REST framework
//! keeps issuing and deleting in `authtoken_token`, against Django's `auth_user`, with one
//! indexed query per request.
//!
//! [`migrate`] (or `tokenauth migrate-django`) adds to Django's database an index on the
//! SHA-256 digest of `authtoken_token.key` and a view, `tokenauth_django_tokens`, showing
//! DRF's tokens with the columns of tokenauth's tokens table — computed from Django's own
//! rows, so no key is copied anywhere — and triggers on `authtoken_token` and `auth_user`
//! that report Django's changes to tokenauth's change feed (`NOTIFY`), so that every instance's
//! authentication cache sees a token Django creates or deletes within milliseconds. Django's
//! columns and data are not altered. [`DjangoUser`] is the [`AuthUser`](crate::AuthUser) reading `auth_user`
//! through that view:
//!
//! ```no_run
//! use poem::web::Json;
//! use poem::{Route, get, handler, EndpointExt as _};
//! use tokenauth::django::DjangoUser;
//! use tokenauth::{Store, token_auth};
//!
//! #[token_auth(user = DjangoUser)]
//! #[handler]
//! async fn me(user: DjangoUser) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "id": user.id, "username": user.username }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokenauth::Error> {
//! // Django's own database, after Django's `migrate`.
//! let store = Store::connect("postgres://django@db/django").await?;
//! tokenauth::django::migrate(&store).await?;
//! store.check_user_type::<DjangoUser>().await?;
//! let app = Route::new().at("/me", get(me)).data(store);
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! What differs from tokenauth's own tokens: Django issues the keys (tokenauth stores digests
//! only, so it cannot write a key into Django's table — `Tokens::create` fails there);
//! revoking through tokenauth (`Tokens::revoke`, `AuthApi`'s logout) deletes Django's row;
//! DRF's tokens never expire unless `Policy::max_ttl` says so, grant no scopes, and keep no
//! last use. A user deleted in Django takes their token with them (`Invalid token.`), an
//! inactive one gets `User inactive or deleted.`, as in DRF.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Error;

use crate::store::watch::{Event, Trigger, Watch};
use crate::store::{AppliedMigration, Store};

/// The table recording the migrations that [`migrate`] applied to Django's database.
///
/// ```
/// assert_eq!(tokenauth::django::MIGRATIONS_TABLE, "_tokenauth_django_migrations");
/// ```
pub const MIGRATIONS_TABLE: &str = "_tokenauth_django_migrations";

/// A row of Django's `auth_user` (`django.contrib.auth.models.User`), authenticated by the keys
/// of DRF's `authtoken_token` (see the [module](self)).
///
/// ```
/// fn takes_a_user_type<U: tokenauth::AuthUser>() {}
/// takes_a_user_type::<tokenauth::django::DjangoUser>();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(
    table = "auth_user",
    tokens_table = "tokenauth_django_tokens",
    cacheable,
    watch = WATCH
)]
#[non_exhaustive]
pub struct DjangoUser {
    /// `auth_user.id` (Django's `AutoField`: a 32-bit integer).
    pub id: i32,
    /// The login name.
    pub username: String,
    /// The e-mail address (may be empty).
    pub email: String,
    /// The first name (may be empty).
    pub first_name: String,
    /// The last name (may be empty).
    pub last_name: String,
    /// Inactive users are refused: `User inactive or deleted.`
    pub is_active: bool,
    /// Whether the user may use Django's admin site.
    pub is_staff: bool,
    /// Whether the user has every permission in Django.
    pub is_superuser: bool,
    /// When the account was created.
    pub date_joined: DateTime<Utc>,
    /// When the user last logged in to Django, if ever.
    pub last_login: Option<DateTime<Utc>>,
}

const DRF_TOKENS: &str = "tokenauth_authtoken_token_log";
const DJANGO_USERS: &str = "tokenauth_auth_user_log";

/// What the change feed watches for [`DjangoUser`] (registered with a store's cache when it
/// first authenticates one): DRF's tokens through the view, Django's users, and the triggers
/// that `migrations/django` puts on `authtoken_token` and `auth_user`.
const WATCH: Watch = Watch {
    tokens_table: "tokenauth_django_tokens",
    users_table: "auth_user",
    triggers: &[
        Trigger(
            "tokenauth_authtoken_token_log_insert",
            "authtoken_token",
            Event::Insert,
            DRF_TOKENS,
        ),
        Trigger(
            "tokenauth_authtoken_token_log_update",
            "authtoken_token",
            Event::Update,
            DRF_TOKENS,
        ),
        Trigger(
            "tokenauth_authtoken_token_log_delete",
            "authtoken_token",
            Event::Delete,
            DRF_TOKENS,
        ),
        Trigger(
            "tokenauth_authtoken_token_log_truncate",
            "authtoken_token",
            Event::Truncate,
            DRF_TOKENS,
        ),
        Trigger(
            "tokenauth_auth_user_log_update",
            "auth_user",
            Event::Update,
            DJANGO_USERS,
        ),
        Trigger(
            "tokenauth_auth_user_log_delete",
            "auth_user",
            Event::Delete,
            DJANGO_USERS,
        ),
        Trigger(
            "tokenauth_auth_user_log_truncate",
            "auth_user",
            Event::Truncate,
            DJANGO_USERS,
        ),
    ],
    beat: "INSERT INTO authtoken_token SELECT * FROM authtoken_token WHERE false; \
           UPDATE authtoken_token SET key = key WHERE false; \
           DELETE FROM authtoken_token WHERE false; \
           UPDATE auth_user SET id = id WHERE false; \
           DELETE FROM auth_user WHERE false;",
};

/// Prepares Django's database (PostgreSQL, after Django's own `migrate`) for [`DjangoUser`]:
/// applies the migrations in `migrations/django` — a digest function, indexes on
/// `authtoken_token`, the view `tokenauth_django_tokens` and the change feed's triggers —
/// recorded in
/// [`MIGRATIONS_TABLE`], and returns those it applied. Idempotent.
///
/// # Errors
/// [`Error::Unsupported`] on SQLite; [`Error::Migrate`] if Django's tables are missing (run
/// Django's `migrate` with `rest_framework.authtoken` installed first) or a migration fails.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// let sqlite = tokenauth::Store::connect("sqlite::memory:").await?;
/// assert!(matches!(
///     tokenauth::django::migrate(&sqlite).await,
///     Err(tokenauth::Error::Unsupported(_))
/// ));
/// # Ok(()) }
/// ```
pub async fn migrate(store: &Store) -> Result<Vec<AppliedMigration>, Error> {
    if store.postgres_pool().is_none() {
        return Err(Error::Unsupported(
            "running beside Django needs PostgreSQL (Django's database)",
        ));
    }
    store
        .migrate_with(sqlx::migrate!("migrations/django"), MIGRATIONS_TABLE)
        .await
}
