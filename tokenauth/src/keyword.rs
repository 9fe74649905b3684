//! What an authenticated handler or operation requires: the keywords it accepts (each an
//! OpenAPI security scheme) and the scopes a token must grant. Vocabulary only: how a
//! requirement authenticates a request is the `authentication` module's.

use poem::Request;

use crate::models::Token;
use crate::rejection::Rejection;

pub use crate::scheme::{Challenge, Scheme};

/// An authentication keyword (the scheme word before the key in `Authorization`), as a type.
///
/// Define one with [`keyword!`](crate::keyword!), which checks the keyword at compile time,
/// or use [`TokenKeyword`] (DRF's default) or [`BearerKeyword`]. Every keyword is a
/// [`Requirement`] accepting itself (with the scopes given to `keyword!`, if any); a tuple of
/// keywords accepts any of them.
///
/// ```
/// use tokenauth::keyword::Keyword;
///
/// assert_eq!(tokenauth::keyword::TokenKeyword::KEYWORD, "Token");
/// assert_eq!(tokenauth::keyword::BearerKeyword::KEYWORD, "Bearer");
/// ```
pub trait Keyword: Requirement {
    /// The keyword: an RFC 9110 `token` (see [`is_valid_keyword`](crate::rules::is_valid_keyword)),
    /// compared ignoring ASCII case.
    const KEYWORD: &'static str;
    /// The name of the keyword's OpenAPI security scheme (letters, digits, `.`, `-`, `_`),
    /// e.g. `TokenAuth`.
    const SCHEME_NAME: &'static str;
    /// The security scheme's description: how to send the key, e.g. in Swagger UI.
    const SCHEME_DESCRIPTION: &'static str;
    /// How a refusal challenges the client: Django REST framework's challenge by default.
    const CHALLENGE: Challenge = Challenge::DRF;
    /// The four together.
    const SCHEME: Scheme = Scheme {
        keyword: Self::KEYWORD,
        name: Self::SCHEME_NAME,
        description: Self::SCHEME_DESCRIPTION,
        challenge: Self::CHALLENGE,
    };
}

/// What an authenticated handler or operation requires: a key sent with one of
/// [`SCHEMES`](Requirement::SCHEMES)' keywords, whose token grants every one of
/// [`SCOPES`](Requirement::SCOPES).
///
/// - The first keyword that the header names decides (DRF tries its
///   `authentication_classes` in order); a header naming none of them is "not provided".
/// - The `401` challenge (`WWW-Authenticate`) names the first keyword, as DRF's does, in the
///   first keyword's [`Challenge`].
/// - A token lacking a scope gets DRF's `403` (with RFC 6750's challenge, if the first
///   keyword has it).
/// - In OpenAPI, each keyword is a separate security requirement (any one suffices).
///
/// Keywords are requirements ([`TokenKeyword`], [`keyword!`](crate::keyword!) types), and so are
/// tuples of keywords; `#[token_auth]` generates one per operation for scopes and several
/// keywords.
///
/// ```
/// use tokenauth::keyword::{BearerKeyword, Requirement, TokenKeyword};
///
/// type Either = (TokenKeyword, BearerKeyword);
/// let names: Vec<_> = Either::SCHEMES.iter().map(|s| s.name).collect();
/// assert_eq!(names, ["TokenAuth", "BearerAuth"]);
/// assert!(Either::SCOPES.is_empty());
///
/// tokenauth::keyword!(pub OrdersRead = "Token", scopes = ["orders:read"]);
/// assert_eq!(OrdersRead::SCOPES, ["orders:read"]);
/// assert_eq!(<(OrdersRead, BearerKeyword)>::SCOPES, ["orders:read"]);
/// ```
pub trait Requirement: Send + Sync + 'static {
    /// The accepted keywords, in order; the first names the challenge. Never empty.
    const SCHEMES: &'static [Scheme];
    /// Scopes the token must grant, under the store's policy
    /// ([`Policy::grants`](crate::Policy::grants): `*` grants all, `orders:*` every scope
    /// under `orders:`, and the policy's implications apply). None by default. Never a
    /// wildcard: `#[token_auth]` and `keyword!` refuse one at compile time, and a wildcard or
    /// invalid scope written here by hand is never granted (every token gets the `403`).
    const SCOPES: &'static [&'static str] = &[];
    /// The `operationId` of the one operation this requirement was generated for, if any:
    /// `#[token_auth]` sets it so that the operation's scopes reach the OpenAPI document's
    /// `x-required-scopes`.
    #[doc(hidden)]
    const OPERATION_ID: Option<&'static str> = None;
    /// Whether a read-only token may call the operation whatever its method: `AuthApi`'s
    /// logout (a token may always revoke itself) and introspection (a read, which RFC 7662
    /// sends as a `POST`).
    #[doc(hidden)]
    const READ_ONLY_ALLOWED: bool = false;
}

/// How a [`Requirement`] authenticates a request as a user of type `U`: the bound the
/// extractors ([`Auth`](crate::Auth), [`MaybeAuth`](crate::MaybeAuth), and their OpenAPI
/// forms) put on their requirement. Every keyword, and every tuple of keywords, authenticates
/// any [`AuthUser`](crate::store::AuthUser); `#[token_auth]` implements it for the
/// requirement it generates, for the one user type of its handler — so a user type that is
/// not an `AuthUser` is reported once, on that type, rather than on `#[handler]`.
///
/// ```
/// use tokenauth::User;
/// use tokenauth::keyword::{Authenticates, TokenKeyword};
///
/// fn accepts<R: Authenticates<User>>() {}
/// accepts::<TokenKeyword>();
/// accepts::<(TokenKeyword, tokenauth::keyword::BearerKeyword)>();
/// ```
pub trait Authenticates<U>: Requirement {
    /// Authenticates `req`: `Ok(None)` without credentials for any of the keywords; the
    /// scopes checked.
    fn authenticate(
        req: &Request,
    ) -> impl Future<Output = Result<Option<(U, Token)>, Rejection>> + Send;
}

/// The scheme whose keyword names the challenge of `R`: its first.
pub(crate) fn challenger<R: Requirement>() -> Scheme {
    R::SCHEMES.first().copied().unwrap_or(TokenKeyword::SCHEME)
}

/// A tuple of keywords accepts each of them, with the scopes of those that have any.
macro_rules! keyword_tuple {
    ($first:ident $(, $rest:ident)+) => {
        impl<$first: Keyword, $($rest: Keyword),+> Requirement for ($first, $($rest),+) {
            const SCHEMES: &'static [Scheme] = &[$first::SCHEME, $($rest::SCHEME),+];
            const SCOPES: &'static [&'static str] = {
                let scopes = $first::SCOPES;
                $(let scopes = common_scopes(scopes, $rest::SCOPES);)+
                scopes
            };
        }
    };
}

keyword_tuple!(A, B);
keyword_tuple!(A, B, C);

/// The scopes of a tuple of keywords: those of the members that have any, which must agree
/// (a compile-time error otherwise: the scopes would depend on the keyword sent).
const fn common_scopes(
    a: &'static [&'static str],
    b: &'static [&'static str],
) -> &'static [&'static str] {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    assert!(
        a.len() == b.len(),
        "keywords with different scopes cannot be combined: give the scopes once, with \
         `#[token_auth(keyword = [...], scopes = [...])]`"
    );
    let mut i = 0;
    while i < a.len() {
        assert!(
            a[i].len() == b[i].len() && {
                let (x, y) = (a[i].as_bytes(), b[i].as_bytes());
                let mut j = 0;
                while j < x.len() && x[j] == y[j] {
                    j += 1;
                }
                j == x.len()
            },
            "keywords with different scopes cannot be combined: give the scopes once, with \
             `#[token_auth(keyword = [...], scopes = [...])]`"
        );
        i += 1;
    }
    a
}

crate::keyword!(
    /// `Authorization: Token <key>`: Django REST framework's default keyword.
    ///
    /// ```
    /// use tokenauth::keyword::Keyword;
    ///
    /// assert_eq!(tokenauth::keyword::TokenKeyword::KEYWORD, "Token");
    /// ```
    pub TokenKeyword = "Token"
);
crate::keyword!(
    /// `Authorization: Bearer <key>` (RFC 6750).
    ///
    /// ```
    /// use tokenauth::keyword::Keyword;
    ///
    /// assert_eq!(tokenauth::keyword::BearerKeyword::KEYWORD, "Bearer");
    /// ```
    pub BearerKeyword = "Bearer"
);
