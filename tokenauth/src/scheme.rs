//! A keyword's security scheme and the challenge it sends: the words a refusal
//! ([`Rejection`](crate::Rejection)) and a requirement ([`keyword`](crate::keyword)) share,
//! public as `tokenauth::keyword::{Scheme, Challenge}`.

/// An accepted keyword and its OpenAPI security scheme.
///
/// Written by [`keyword!`](crate::keyword!) and `#[token_auth]`, which derive the name and
/// description from the keyword by the rules of [`scheme_name`](crate::rules::scheme_name).
///
/// ```
/// use tokenauth::keyword::Keyword;
///
/// let scheme = tokenauth::keyword::BearerKeyword::SCHEME;
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
    /// How the keyword's `WWW-Authenticate` challenge is written: Django REST framework's
    /// (the default) or RFC 6750's.
    pub challenge: Challenge,
}

/// How a keyword challenges a request it refuses, in `WWW-Authenticate`.
///
/// - [`Challenge::DRF`], the default: Django REST framework's. A `401` with the keyword
///   alone (`WWW-Authenticate: Token`), malformed headers included; a `403` without a
///   challenge.
/// - [`Challenge::rfc6750`]: RFC 6750 §3's, for OAuth 2.0 clients of the `Bearer` keyword.
///   The status and the challenge say what went wrong, and the body stays DRF's
///   `{"detail": …}`.
///
/// With RFC 6750's challenge:
///
/// | request | status | `WWW-Authenticate` |
/// |---|---|---|
/// | no credentials for the keyword (no header, or another scheme) | `401` | `Bearer realm="api"` |
/// | a malformed header: the keyword alone, a key with spaces, characters that are not UTF-8 | `400` | `Bearer realm="api", error="invalid_request", error_description="<DRF's message>"` |
/// | an unknown, revoked or expired key, or an inactive user | `401` | `Bearer realm="api", error="invalid_token", error_description="<DRF's message>"` |
/// | a key without a required scope, or outside its limits | `403` | `Bearer realm="api", error="insufficient_scope", error_description="<DRF's message>", scope="<required scopes>"` |
///
/// `scope` lists the required scopes, separated by spaces, and is left out when there are
/// none (a read-only key's write). Every value is within RFC 6750's characters, sent as it
/// is, never escaped: `#[token_auth]` refuses a scope outside them at compile time, and a
/// requirement written by hand that has one leaves that scope out of `scope`.
///
/// Choose it with `#[token_auth(keyword = "Bearer", challenge = "rfc6750")]` (and `realm =
/// "..."`, `"api"` by default), or the same arguments to [`keyword!`](crate::keyword!).
///
/// ```
/// use tokenauth::keyword::{Challenge, Keyword};
///
/// tokenauth::keyword!(pub OAuth = "Bearer", challenge = "rfc6750", realm = "shop");
/// assert_eq!(OAuth::CHALLENGE, Challenge::rfc6750("shop"));
/// assert_eq!(OAuth::CHALLENGE.realm(), Some("shop"));
/// assert_eq!(tokenauth::keyword::BearerKeyword::CHALLENGE, Challenge::DRF);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Challenge {
    /// RFC 6750's realm; `None` for DRF's challenge.
    realm: Option<&'static str>,
}

impl Challenge {
    /// Django REST framework's challenge: the keyword alone, on `401`s only.
    pub const DRF: Challenge = Challenge { realm: None };

    /// RFC 6750's challenge, in `realm`.
    ///
    /// # Panics
    /// If `realm` is empty or has a character outside RFC 6750's set
    /// ([`is_challenge_text`](crate::rules::is_challenge_text): printable ASCII without `"`
    /// and `\`) — at compile time where it is a constant, as `#[token_auth]` and `keyword!`
    /// write it.
    ///
    /// ```
    /// use tokenauth::keyword::Challenge;
    ///
    /// const API: Challenge = Challenge::rfc6750("api");
    /// assert!(API.is_rfc6750());
    /// ```
    ///
    /// A realm that would need escaping does not compile:
    ///
    /// ```compile_fail
    /// use tokenauth::keyword::Challenge;
    ///
    /// const QUOTED: Challenge = Challenge::rfc6750("my \"shop\"");
    /// ```
    #[must_use]
    pub const fn rfc6750(realm: &'static str) -> Challenge {
        assert!(
            crate::rules::is_challenge_text(realm),
            "an RFC 6750 realm is one or more printable ASCII characters, without `\"` and `\\`"
        );
        Challenge { realm: Some(realm) }
    }

    /// Whether this is RFC 6750's challenge.
    ///
    /// ```
    /// assert!(!tokenauth::keyword::Challenge::DRF.is_rfc6750());
    /// ```
    #[must_use]
    pub const fn is_rfc6750(&self) -> bool {
        self.realm.is_some()
    }

    /// RFC 6750's realm; `None` for DRF's challenge.
    ///
    /// ```
    /// assert_eq!(tokenauth::keyword::Challenge::rfc6750("api").realm(), Some("api"));
    /// ```
    #[must_use]
    pub const fn realm(&self) -> Option<&'static str> {
        self.realm
    }
}
