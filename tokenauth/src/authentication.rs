//! The one authentication every extractor runs, as Django REST framework's
//! `TokenAuthentication` does it: read the `Authorization` header, find the [`Store`] in the
//! request data, look the key up, check the requirement's scopes — and answer each failure
//! with its [`Rejection`].
//!
//! The extractors (`extract`, `openapi`) are poem glue around it; what they require
//! ([`Requirement`], [`Authenticates`]) is the vocabulary of `keyword`, which this module
//! implements for every keyword and tuple of keywords.

use poem::Request;

use crate::error::Reason;
use crate::header::{parse_authorization, raw_authorization};
use crate::keyword::{Authenticates, Keyword, Requirement, challenger};
use crate::models::Token;
use crate::rejection::Rejection;
use crate::store::{AuthUser, Store};
use crate::telemetry::{self, Event, Outcome};

/// DRF's authentication for the first of `R`'s keywords that the header names: parse the raw
/// `Authorization` header, then look the key up in the [`Store`] found in the request data
/// (looked up first, so that a missing `.data(store)` is reported on every request, not only
/// on authenticated ones). The challenge is the first keyword's (DRF's
/// `authenticate_header` is its first class's), in its scheme's [`Challenge`](crate::keyword::Challenge).
///
/// Also returns the keyword the header named (the challenge's when it named none), for the
/// metrics.
async fn authenticate_keywords<U: AuthUser, R: Requirement>(
    req: &Request,
) -> (&'static str, Result<Option<(U, Token)>, Rejection>) {
    let challenger = challenger::<R>();
    let Some(store) = req.data::<Store>() else {
        return (challenger.keyword, Err(Rejection::missing_store()));
    };
    let header = raw_authorization(req.headers());
    let raw = header.as_deref();
    let mut key = None;
    let mut named = challenger.keyword;
    for scheme in R::SCHEMES {
        key = match parse_authorization(raw, scheme.keyword) {
            Ok(key) => key,
            Err(reason) => {
                let rejection = Rejection::unauthorized_for(challenger, reason);
                return (scheme.keyword, Err(rejection));
            }
        };
        if key.is_some() {
            named = scheme.keyword;
            break;
        }
    }
    let Some(key) = key else {
        return (challenger.keyword, Ok(None));
    };
    let found = store
        .authenticate_as::<U>(key)
        .await
        .map(Some)
        .map_err(|error| Rejection::from_authenticate_for(challenger, error));
    (named, found)
}

/// Authenticates a request as DRF's `TokenAuthentication` does, with `R`'s keywords, then
/// checks `R`'s scopes under the store's policy ([`Policy::grants`](crate::Policy::grants):
/// wildcards and implications; an authenticated token without them is DRF's `403`), as a user
/// of type `U`. `Ok(None)` means the request carries no credentials for any of the keywords
/// (anonymous); malformed or invalid credentials are an error, as in DRF.
///
/// The one authentication every extractor runs ([`Auth`](crate::Auth),
/// [`MaybeAuth`](crate::MaybeAuth), their OpenAPI forms, `#[token_auth]`): call it directly
/// from a poem middleware or endpoint of your own.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// use poem::Request;
/// use tokenauth::keyword::TokenKeyword;
/// use tokenauth::rejection::Reason;
/// use tokenauth::{Store, User};
///
/// let store = Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let mut req = Request::builder().header("Authorization", "Token nope").finish();
/// req.extensions_mut().insert(store);
/// let rejection = tokenauth::authenticate::<User, TokenKeyword>(&req).await.unwrap_err();
/// assert_eq!(rejection.reason(), Some(Reason::InvalidToken));
///
/// // No credentials: anonymous.
/// let mut anonymous = Request::builder().finish();
/// anonymous.extensions_mut().insert(req.data::<Store>().unwrap().clone());
/// assert!(tokenauth::authenticate::<User, TokenKeyword>(&anonymous).await.unwrap().is_none());
/// # Ok(()) }
/// ```
pub async fn authenticate<U: AuthUser, R: Requirement>(
    req: &Request,
) -> Result<Option<(U, Token)>, Rejection> {
    let (named, found) = authenticate_keywords::<U, R>(req).await;
    let found = match found {
        Ok(found) => found,
        Err(rejection) => {
            record(named, outcome_of(&rejection), None);
            return Err(rejection);
        }
    };
    let Some((user, token)) = found else {
        record(named, Outcome::Missing, None);
        return Ok(None);
    };
    // The scopes are granted under the store's policy (wildcards and implications); the
    // store is in the request data, where the token was found.
    let refused = if !R::SCOPES.iter().all(|scope| {
        req.data::<Store>()
            .is_some_and(|store| store.policy().grants(&token, scope))
    }) {
        Some(Outcome::InsufficientScope)
    } else if !within_limits(req, &token, R::READ_ONLY_ALLOWED) {
        Some(Outcome::Forbidden)
    } else {
        None
    };
    if let Some(outcome) = refused {
        let client = req
            .data::<Store>()
            .and_then(|store| store.policy().client_address(req));
        let reason = match outcome {
            Outcome::InsufficientScope => "insufficient_scope",
            _ => "token_limits",
        };
        let event = telemetry::Security::new(Event::AuthzFail)
            .user(token.user_id)
            .token(token.id)
            .client(client)
            .reason(reason);
        record(named, outcome, Some(event));
        // RFC 6750's `scope` names what is missing: nothing, when the token's limits refuse.
        let missing = match outcome {
            Outcome::InsufficientScope => R::SCOPES,
            _ => &[],
        };
        return Err(Rejection::forbidden_for(challenger::<R>(), missing));
    }
    record(named, Outcome::Ok, None);
    Ok(Some((user, token)))
}

/// The `outcome` of an authentication that `rejection` ended.
/// Counts an authentication (and logs its event), now or when its holder says so.
fn record(keyword: &'static str, outcome: Outcome, event: Option<telemetry::Security>) {
    telemetry::record(telemetry::Recorded {
        keyword,
        outcome,
        event,
    });
}

fn outcome_of(rejection: &Rejection) -> Outcome {
    match rejection.reason() {
        Some(Reason::NotAuthenticated) => Outcome::Missing,
        Some(reason) if reason.is_malformed_header() => Outcome::Malformed,
        Some(Reason::InvalidToken) => Outcome::Invalid,
        Some(Reason::UserInactive) => Outcome::Inactive,
        // A store failure, or no store in the request data.
        _ => Outcome::Unavailable,
    }
}

/// Whether `req` is within the limits `token` carries: sent from one of its `allowed_ips`
/// (the client address as the login throttle sees it, through
/// [`Policy::trusted_proxies`](crate::Policy::trusted_proxies)), and, for a read-only token, a
/// `GET`, `HEAD` or `OPTIONS` — unless the operation allows read-only tokens (logout,
/// introspection). A
/// method-override header naming any other method (`X-HTTP-Method-Override`,
/// `X-HTTP-Method`, `X-Method-Override`) counts as that method, for an application or proxy
/// that honours it.
fn within_limits(req: &Request, token: &Token, read_only_allowed: bool) -> bool {
    if !token.allowed_ips.is_empty() {
        let proxies = req
            .data::<Store>()
            .map(|store| store.policy().trusted_proxies.as_slice())
            .unwrap_or_default();
        if !token.allows_client(crate::client::client_address(req, proxies)) {
            return false;
        }
    }
    if token.read_only && !read_only_allowed {
        let safe = |method: &[u8]| {
            [&b"GET"[..], b"HEAD", b"OPTIONS"]
                .iter()
                .any(|safe| method.eq_ignore_ascii_case(safe))
        };
        if !safe(req.method().as_str().as_bytes()) {
            return false;
        }
        let overrides = [
            "x-http-method-override",
            "x-http-method",
            "x-method-override",
        ];
        let overridden = overrides
            .iter()
            .flat_map(|name| req.headers().get_all(*name))
            .any(|value| {
                !value
                    .as_bytes()
                    .split(|b| *b == b',')
                    .all(|m| safe(m.trim_ascii()))
            });
        if overridden {
            return false;
        }
    }
    true
}

/// [`Authenticates::authenticate`] where credentials are required: "no credentials" is DRF's
/// `401` (`NotAuthenticated`), challenging with `R`'s first keyword.
pub(crate) async fn authenticate_required<U, R: Authenticates<U>>(
    req: &Request,
) -> Result<(U, Token), Rejection> {
    R::authenticate(req)
        .await?
        .ok_or_else(|| Rejection::unauthorized_for(challenger::<R>(), Reason::NotAuthenticated))
}

impl<U: AuthUser, K: Keyword> Authenticates<U> for K {
    fn authenticate(
        req: &Request,
    ) -> impl Future<Output = Result<Option<(U, Token)>, Rejection>> + Send {
        authenticate::<U, K>(req)
    }
}

/// A tuple of keywords authenticates any [`AuthUser`] with each of its keywords.
macro_rules! authenticates_tuple {
    ($($keyword:ident),+) => {
        impl<U: AuthUser, $($keyword: Keyword),+> Authenticates<U> for ($($keyword,)+) {
            fn authenticate(
                req: &Request,
            ) -> impl Future<Output = Result<Option<(U, Token)>, Rejection>> + Send {
                authenticate::<U, Self>(req)
            }
        }
    };
}

authenticates_tuple!(A, B);
authenticates_tuple!(A, B, C);
