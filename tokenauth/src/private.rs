//! Support for the code that `#[token_auth]` and `#[derive(AuthUser)]` generate. Not public
//! API: it may change in any release, in step with `tokenauth-macros` (whose version
//! `tokenauth` pins).

pub use poem;
#[cfg(feature = "openapi")]
pub use poem_openapi;

pub use crate::extract::{Auth, MaybeAuth};
#[cfg(feature = "openapi")]
pub use crate::openapi::{ApiAuth, ApiMaybeAuth, Secured};
pub use crate::store::{AuthUser, Pack, Packer, Unpacker};
pub use crate::{Authenticates, Rejection, Requirement, Scheme, Token, User};

/// What `#[token_auth]` generates calls: [`Authenticates::authenticate`](crate::Authenticates)
/// for the requirement it generates, as a user of type `U`.
pub fn authenticate<U: crate::AuthUser, R: crate::Requirement>(
    req: &poem::Request,
) -> impl core::future::Future<Output = Result<Option<(U, Token)>, crate::Rejection>> + Send + '_ {
    crate::extract::authenticate::<U, R>(req)
}

/// Splits an extracted authentication into the values bound to the handler's `User` and
/// `Token` parameters: `(U, Token)`, or `(Option<U>, Option<Token>)` when optional.
pub trait Split {
    /// What the user parameter receives.
    type User;
    /// What the token parameter receives.
    type Token;
    /// The user and the token.
    fn split(self) -> (Self::User, Self::Token);
}

impl<U, K> Split for Auth<U, K> {
    type User = U;
    type Token = Token;
    fn split(self) -> (U, Token) {
        self.into_parts()
    }
}

impl<U, K> Split for MaybeAuth<U, K> {
    type User = Option<U>;
    type Token = Option<Token>;
    fn split(self) -> (Option<U>, Option<Token>) {
        self.0.map(Auth::into_parts).unzip()
    }
}

/// Fixes an `async` block's output type, so that `?` and `return` inside an operation's
/// original body convert to the operation's declared return type.
pub fn output<R, F: core::future::Future<Output = R>>(body: F) -> F {
    body
}

/// How many Argon2 password verifications this process has run (for tests that check that a
/// wrong username costs the same work as a wrong password).
pub fn password_verifications() -> u64 {
    crate::password::verifications()
}

/// How many Argon2 computations (hashes, verifications, dummy ones) this process has run.
pub fn argon2_computations() -> u64 {
    crate::password::argon2_computations()
}

/// How many PBKDF2 iterations Django-format password checks in this process have run (for
/// tests that check Django's `harden_runtime`).
#[cfg(feature = "django")]
pub fn pbkdf2_iterations() -> u64 {
    crate::password::pbkdf2_iterations()
}

/// Parses an obtain-token body as the login view does (for the fuzzers and property tests):
/// `Ok(())` for a valid login, `Err((status, body))` with the refusal otherwise.
#[cfg(feature = "openapi")]
pub fn parse_login_body(content_type: Option<&str>, body: &[u8]) -> Result<(), (u16, String)> {
    crate::endpoints::parse_login_body(content_type, body)
}

/// Whether the store's authentication cache is serving: its change feed is up (for tests,
/// which wait for it before counting queries).
pub fn cache_is_serving(store: &crate::Store) -> bool {
    store
        .auth_cache()
        .is_some_and(|cache| cache.serves("tokenauth_tokens"))
}

/// Whether the live-key filter of `table` is built, serving and current (for tests).
pub fn live_key_filter_ready(store: &crate::Store, table: &str) -> bool {
    store.auth_cache().is_some_and(|cache| {
        // Built, and not stale (no build wanted).
        !cache.keys().check(table, &crate::key::RawDigest::of("")).1
    })
}

/// How many authentication queries the store (and its clones) has run since it got its
/// cache (for tests that check what the cache and the filter save).
pub fn authentication_queries(store: &crate::Store) -> u64 {
    store.auth_cache().map_or(0, |cache| cache.stats().queries)
}

/// What the change feed of the store has done: `(looks, reads, builds)` — how often it
/// looked for changes (SQLite's `PRAGMA data_version`, PostgreSQL's heartbeats), read the
/// change log, and started building a live-key filter (for tests of what an idle or flooded
/// feed costs).
pub fn feed_work(store: &crate::Store) -> (u64, u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    store.auth_cache().map_or((0, 0, 0), |cache| {
        let work = cache.work();
        (
            work.looks.load(Relaxed),
            work.reads.load(Relaxed),
            work.builds.load(Relaxed),
        )
    })
}

/// Prunes PostgreSQL's change log once, as every instance does each minute (for tests of
/// what pruning may delete).
#[cfg(feature = "postgres")]
pub async fn prune_change_log(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(crate::store::PRUNE)
        .execute(pool)
        .await
        .map(drop)
}
