//! What an authenticated handler or operation requires: the keywords it accepts (each an
//! OpenAPI security scheme) and the scopes a token must grant.

/// An accepted keyword and its OpenAPI security scheme.
///
/// Written by [`keyword!`](crate::keyword!) and `#[token_auth]`, which derive the name and
/// description from the keyword by the rules of [`scheme_name`](crate::scheme_name).
///
/// ```
/// use tokenauth::Keyword;
///
/// let scheme = tokenauth::BearerKeyword::SCHEME;
/// assert_eq!((scheme.keyword, scheme.name), ("Bearer", "BearerAuth"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// The word before the key in `Authorization`, compared ignoring ASCII case.
    pub keyword: &'static str,
    /// The name of the OpenAPI security scheme, e.g. `TokenAuth`.
    pub name: &'static str,
    /// The security scheme's description: how to send the key, e.g. in Swagger UI.
    pub description: &'static str,
}

/// An authentication keyword (the scheme word before the key in `Authorization`), as a type.
///
/// Define one with [`keyword!`](crate::keyword!), which checks the keyword at compile time,
/// or use [`TokenKeyword`] (DRF's default) or [`BearerKeyword`]. Every keyword is a
/// [`Requirement`] accepting itself; a tuple of keywords accepts any of them.
///
/// ```
/// use tokenauth::Keyword;
///
/// assert_eq!(tokenauth::TokenKeyword::KEYWORD, "Token");
/// assert_eq!(tokenauth::BearerKeyword::KEYWORD, "Bearer");
/// ```
pub trait Keyword: Send + Sync + 'static {
    /// The keyword: an RFC 9110 `token` (see [`is_valid_keyword`](crate::is_valid_keyword)),
    /// compared ignoring ASCII case.
    const KEYWORD: &'static str;
    /// The name of the keyword's OpenAPI security scheme (letters, digits, `.`, `-`, `_`),
    /// e.g. `TokenAuth`.
    const SCHEME_NAME: &'static str;
    /// The security scheme's description: how to send the key, e.g. in Swagger UI.
    const SCHEME_DESCRIPTION: &'static str;
    /// The three together.
    const SCHEME: Scheme = Scheme {
        keyword: Self::KEYWORD,
        name: Self::SCHEME_NAME,
        description: Self::SCHEME_DESCRIPTION,
    };
}

/// What an authenticated handler or operation requires: a key sent with one of
/// [`SCHEMES`](Requirement::SCHEMES)' keywords, whose token grants every one of
/// [`SCOPES`](Requirement::SCOPES).
///
/// - The first keyword that the header names decides (DRF tries its
///   `authentication_classes` in order); a header naming none of them is "not provided".
/// - The `401` challenge (`WWW-Authenticate`) names the first keyword, as DRF's does.
/// - A token lacking a scope gets DRF's `403`.
/// - In OpenAPI, each keyword is a separate security requirement (any one suffices).
///
/// Keywords are requirements ([`TokenKeyword`], [`keyword!`](crate::keyword!) types), and so are
/// tuples of keywords; `#[token_auth]` generates one per operation for scopes and several
/// keywords.
///
/// ```
/// use tokenauth::{BearerKeyword, Requirement, TokenKeyword};
///
/// type Either = (TokenKeyword, BearerKeyword);
/// let names: Vec<_> = Either::SCHEMES.iter().map(|s| s.name).collect();
/// assert_eq!(names, ["TokenAuth", "BearerAuth"]);
/// assert!(Either::SCOPES.is_empty());
///
/// tokenauth::keyword!(pub OrdersRead = "Token", scopes = ["orders:read"]);
/// assert_eq!(OrdersRead::SCOPES, ["orders:read"]);
/// ```
pub trait Requirement: Send + Sync + 'static {
    /// The accepted keywords, in order; the first names the `401` challenge. Never empty.
    const SCHEMES: &'static [Scheme];
    /// Scopes the token must grant (`*` grants all). None by default.
    const SCOPES: &'static [&'static str] = &[];
    /// The `operationId` of the one operation this requirement was generated for, if any:
    /// `#[token_auth]` sets it so that the operation's scopes reach the OpenAPI document's
    /// `x-required-scopes`.
    #[doc(hidden)]
    const OPERATION_ID: Option<&'static str> = None;
}

/// The keyword that names the `401` challenge of `R`.
pub(crate) fn challenge<R: Requirement>() -> &'static str {
    R::SCHEMES.first().map_or("Token", |scheme| scheme.keyword)
}

impl<A: Keyword, B: Keyword> Requirement for (A, B) {
    const SCHEMES: &'static [Scheme] = &[A::SCHEME, B::SCHEME];
}

impl<A: Keyword, B: Keyword, C: Keyword> Requirement for (A, B, C) {
    const SCHEMES: &'static [Scheme] = &[A::SCHEME, B::SCHEME, C::SCHEME];
}

crate::keyword!(
    /// `Authorization: Token <key>`: Django REST framework's default keyword.
    ///
    /// ```
    /// use tokenauth::Keyword;
    ///
    /// assert_eq!(tokenauth::TokenKeyword::KEYWORD, "Token");
    /// ```
    pub TokenKeyword = "Token"
);
crate::keyword!(
    /// `Authorization: Bearer <key>` (RFC 6750).
    ///
    /// ```
    /// use tokenauth::Keyword;
    ///
    /// assert_eq!(tokenauth::BearerKeyword::KEYWORD, "Bearer");
    /// ```
    pub BearerKeyword = "Bearer"
);
