//! OAuth 2.0's token endpoints for the keys tokenauth issues: RFC 7009 revocation and RFC 7662
//! introspection, as operations of [`AuthApi`](super::AuthApi) (`POST /auth/revoke`,
//! `POST /auth/introspect`). Their request is a form with `token` (and an optional
//! `token_type_hint`), read within a bound; their caller authenticates with its own key, sent
//! as `Bearer` (RFC 6750's challenges) or `Token`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use serde_json::json;

use super::read::{self, NotRead};
use crate::keyword::{Keyword as _, Scheme, TokenKeyword};
use crate::models::{Token, User};
use crate::openapi::response::ErrorDetail;
use crate::rejection::{Reason, Rejection};
use crate::store::Store;

crate::keyword!(
    /// `Authorization: Bearer <key>` with RFC 6750's challenges: how OAuth 2.0 clients,
    /// gateways and sidecars call revocation and introspection.
    pub(super) OAuthBearer = "Bearer",
    challenge = "rfc6750"
);

/// Who may revoke: a key of the user's, sent as `Bearer` (first: RFC 6750's challenges) or
/// `Token`.
pub(super) type Revokes = (OAuthBearer, TokenKeyword);

requirement!(
    /// Who may introspect: as [`Revokes`], and a read-only key too (introspection reads,
    /// though RFC 7662 sends it as a `POST`). The scope is checked by the operation: it is
    /// configured at run time ([`AuthApi::introspection_scope`](super::AuthApi::introspection_scope)).
    pub(super) Introspects {
        const SCHEMES: &'static [Scheme] = &[OAuthBearer::SCHEME, TokenKeyword::SCHEME];
        const READ_ONLY_ALLOWED: bool = true;
    }
);

/// The scope a caller's key needs to introspect, unless the application names another.
pub(super) const DEFAULT_INTROSPECTION_SCOPE: &str = "tokenauth:introspect";

/// The longest `token` taken, in characters: four times the longest key tokenauth takes
/// ([`MAX_IMPORTED_KEY_LEN`](crate::rules::MAX_IMPORTED_KEY_LEN)).
const MAX_TOKEN_CHARS: usize = 1024;

/// The longest `token_type_hint` taken, in characters (RFC 7009's are 12 and 13).
const MAX_HINT_CHARS: usize = 64;

/// The most bytes of a revocation or introspection body read: the longest `token` and hint,
/// each character percent-encoded as four UTF-8 bytes (12 bytes), with room to spare — any
/// form the document allows is refused only for what it says, not for its size.
pub(super) const MAX_FORM_BODY: usize = 16 * 1024;

/// The request of both operations, as the document states it.
#[derive(Object)]
#[oai(rename = "TokenRequest")]
#[allow(dead_code)]
pub(super) struct TokenRequestDoc {
    /// The key to revoke or introspect, as the client holds it: 1 to 1024 characters.
    #[oai(validator(min_length = 1, max_length = 1024))]
    token: String,
    /// What kind of token it is (`access_token` or `refresh_token`): accepted and ignored,
    /// as RFC 7009 and RFC 7662 allow (tokenauth's keys are of one kind); at most 64
    /// characters.
    #[oai(validator(max_length = 64))]
    token_type_hint: Option<String>,
}

/// The form body, unread: the operation reads it within [`MAX_FORM_BODY`] after
/// authentication, and parses it as RFC 6749 §3.2 says.
pub(super) type TokenForm = read::Unread<TokenRequestDoc>;

impl read::Documented for TokenRequestDoc {
    const CONTENT_TYPE: &'static str = FORM;
    const DESCRIPTION: &'static str = "An `application/x-www-form-urlencoded` form: `token`, \
        the key, and optionally `token_type_hint` (ignored). Read up to 16 KiB; each parameter \
        at most once; other parameters are ignored.";
    const REQUIRED: bool = true;
}

/// The media type both operations take.
const FORM: &str = "application/x-www-form-urlencoded";

/// Why a form was refused: its status and message, in Django REST framework's
/// `{"detail": …}` as every refusal of tokenauth's (RFC 6749 §5.2's `error` would give the
/// operation a second error schema, which client generators such as progenitor refuse).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FormRefusal {
    /// `400`: no `token`, a parameter given twice, or a body that could not be read.
    BadRequest(&'static str),
    /// `413`: over [`MAX_FORM_BODY`].
    TooLarge,
    /// `415`: not a form; the media type sent (`none` if none).
    UnsupportedMediaType(String),
}

impl FormRefusal {
    /// The refusal's body: `{"detail": …}`.
    pub(super) fn body(&self) -> Json<ErrorDetail> {
        let message = match self {
            FormRefusal::BadRequest(message) => (*message).to_owned(),
            FormRefusal::TooLarge => {
                format!("Request body too large: at most {MAX_FORM_BODY} bytes.")
            }
            FormRefusal::UnsupportedMediaType(shown) => format!(
                "Unsupported media type {shown} in request: send an \
                 application/x-www-form-urlencoded form."
            ),
        };
        Json(ErrorDetail::new(message))
    }
}

const NO_TOKEN: &str = "The request has no token parameter.";
const LONG_TOKEN: &str = "The token parameter is longer than 1024 characters.";
const LONG_HINT: &str = "The token_type_hint parameter is longer than 64 characters.";
const REPEATED: &str = "The request repeats a parameter: token and token_type_hint are given once.";

impl read::Unread<TokenRequestDoc> {
    /// Reads the form within [`MAX_FORM_BODY`] and returns its `token`.
    pub(super) async fn read(self, request: &Request) -> Result<String, FormRefusal> {
        match read::read_bounded(self.0, request, MAX_FORM_BODY).await {
            Ok(bytes) => parse(read::content_type(request), &bytes),
            Err(NotRead::TooLarge) => Err(FormRefusal::TooLarge),
            Err(NotRead::Failed) => Err(FormRefusal::BadRequest(read::UNREADABLE)),
        }
    }
}

/// The `token` of a form body (RFC 6749 §3.2: each parameter at most once, unknown ones
/// ignored; RFC 7009 and RFC 7662: `token` required, `token_type_hint` optional).
pub(super) fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<String, FormRefusal> {
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    // No body at all needs no type: it is a form without `token`.
    let nothing = essence.is_empty() && bytes.is_empty();
    if !(essence.eq_ignore_ascii_case(FORM) || nothing) {
        // Shown printable and briefly: a header may hold anything.
        let shown: String = essence
            .chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\'))
            .take(64)
            .collect();
        let shown = if shown.is_empty() {
            "none".to_owned()
        } else {
            shown
        };
        return Err(FormRefusal::UnsupportedMediaType(shown));
    }
    let mut token = None;
    let mut hint = false;
    for (name, value) in form_urlencoded::parse(bytes) {
        match &*name {
            "token" if token.is_some() => return Err(FormRefusal::BadRequest(REPEATED)),
            "token" => token = Some(value.into_owned()),
            "token_type_hint" if hint => return Err(FormRefusal::BadRequest(REPEATED)),
            "token_type_hint" if value.chars().nth(MAX_HINT_CHARS).is_some() => {
                return Err(FormRefusal::BadRequest(LONG_HINT));
            }
            "token_type_hint" => hint = true,
            _ => {}
        }
    }
    let token = token
        .filter(|token| !token.is_empty())
        .ok_or(FormRefusal::BadRequest(NO_TOKEN))?;
    if token.chars().nth(MAX_TOKEN_CHARS).is_some() {
        return Err(FormRefusal::BadRequest(LONG_TOKEN));
    }
    Ok(token)
}

/// RFC 7662's answer about a key.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(rename = "Introspection")]
pub(super) struct Introspection {
    /// Whether the key is live: issued here, neither revoked nor expired, and its user
    /// active. `false` for anything else, and then nothing more is said.
    pub(super) active: bool,
    /// The scopes the token grants, separated by spaces (absent: none).
    #[oai(skip_serializing_if_is_none)]
    pub(super) scope: Option<String>,
    /// When the key stops working, in seconds since 1970 (absent: never): the token's expiry,
    /// or the end of a roll's grace for the key it replaced.
    #[oai(skip_serializing_if_is_none)]
    pub(super) exp: Option<i64>,
    /// When the token was issued, in seconds since 1970.
    #[oai(skip_serializing_if_is_none)]
    pub(super) iat: Option<i64>,
    /// The user's username.
    #[oai(skip_serializing_if_is_none)]
    pub(super) username: Option<String>,
    /// The user's id, as a string.
    #[oai(skip_serializing_if_is_none)]
    pub(super) sub: Option<String>,
    /// The token's name: the client or device it was issued for (may be empty).
    #[oai(skip_serializing_if_is_none)]
    pub(super) client_id: Option<String>,
    /// `Bearer`.
    #[oai(skip_serializing_if_is_none)]
    pub(super) token_type: Option<String>,
    /// tokenauth's limit: the token may only send `GET`, `HEAD` and `OPTIONS` requests. A
    /// resource server that introspects must enforce it itself.
    #[oai(skip_serializing_if_is_none)]
    pub(super) read_only: Option<bool>,
    /// tokenauth's limit: the networks the token may be used from (empty: anywhere). A
    /// resource server that introspects must enforce it itself.
    #[oai(skip_serializing_if_is_none)]
    pub(super) allowed_ips: Option<Vec<String>>,
}

impl Introspection {
    /// `{"active": false}`: all RFC 7662 §2.2 lets be said of a key that is not live.
    pub(super) fn inactive() -> Self {
        Introspection {
            active: false,
            scope: None,
            exp: None,
            iat: None,
            username: None,
            sub: None,
            client_id: None,
            token_type: None,
            read_only: None,
            allowed_ips: None,
        }
    }

    /// What is said of `token`, a live key of `user`'s, under `store`'s policy.
    pub(super) fn live(store: &Store, user: &User, token: &Token) -> Self {
        Introspection {
            active: true,
            scope: (!token.scopes.is_empty()).then(|| token.scopes.join(" ")),
            // A roll's previous key, in its grace, ends with the grace.
            exp: match (
                store.policy().effective_expiry(token),
                token.previous_key_until(),
            ) {
                (Some(expiry), Some(grace)) => Some(expiry.min(grace)),
                (expiry, grace) => expiry.or(grace),
            }
            .map(|at| at.timestamp()),
            iat: Some(token.created.timestamp()),
            username: Some(user.username.clone()),
            sub: Some(user.id.to_string()),
            client_id: Some(token.name.clone()),
            token_type: Some("Bearer".to_owned()),
            read_only: Some(token.read_only),
            allowed_ips: Some(token.allowed_ips.iter().map(ToString::to_string).collect()),
        }
    }
}

#[derive(ApiResponse)]
pub(super) enum Revocation {
    /// Revoked if it was a key of the caller's user; the same answer otherwise — for another
    /// user's key, an unknown one, or one already revoked — so that the answer tells nothing
    /// (RFC 7009 §2.2). No body.
    #[oai(status = 200)]
    Ok,
    /// No `token` parameter, or a parameter given twice; or a malformed `Authorization`
    /// header (RFC 6750's `invalid_request`, with its challenge).
    #[oai(status = 400)]
    BadRequest(Json<ErrorDetail>),
    /// The body is larger than 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorDetail>),
    /// The body is not an `application/x-www-form-urlencoded` form.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorDetail>),
}

#[derive(ApiResponse)]
pub(super) enum IntrospectionAnswer {
    /// What the key is: `{"active": true, …}` for a live key, whoever's it is; only
    /// `{"active": false}` for any other (unknown, revoked, expired, an inactive user's).
    #[oai(status = 200)]
    Ok(Json<Introspection>),
    /// As revocation's `400`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorDetail>),
    /// The caller's key lacks the introspection scope (`tokenauth:introspect` unless the
    /// server names another), or the request is outside its limits: RFC 6750's
    /// `insufficient_scope`, naming the scope. (RFC 7662 §2.3 says `401`; tokenauth answers
    /// as every scoped operation does, with the challenge that tells the caller what is
    /// missing.) The body is `{"detail": "You do not have permission to perform this action."}`.
    #[oai(status = 403)]
    // Documented here, sent by the `Rejection` (which every 403 of tokenauth's is): the
    // operation's own variant would give the challenge a second writer.
    #[allow(dead_code)]
    Forbidden(
        Json<ErrorDetail>,
        /// RFC 6750's challenge: `Bearer realm="api", error="insufficient_scope",
        /// error_description="…", scope="<the introspection scope>"` (without `scope` for a
        /// refusal by the key's limits).
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The body is larger than 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorDetail>),
    /// The body is not an `application/x-www-form-urlencoded` form.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorDetail>),
}

/// The refusal of a caller whose key lacks `scope`.
pub(super) fn insufficient_scope(scope: Arc<str>) -> Rejection {
    Rejection::insufficient_scope(OAuthBearer::SCHEME, scope)
}

/// The examples the document gives of the two operations' answers, by `operationId` and
/// status, made by the code that sends them.
pub(super) fn examples(
    operation_id: &str,
    status: u16,
) -> Vec<(&'static str, &'static str, String)> {
    let refused = |refusal: FormRefusal| json!({ "detail": refusal.body().0.detail }).to_string();
    let malformed = || {
        let rejection = Rejection::unauthorized_for(OAuthBearer::SCHEME, Reason::SpacesInToken);
        json!({ "detail": rejection.to_string() }).to_string()
    };
    match (operation_id, status) {
        ("introspect", 200) => {
            let example = Introspection {
                active: true,
                scope: Some("orders:read".to_owned()),
                exp: Some(1_800_000_000),
                iat: Some(1_796_500_000),
                username: Some("alice".to_owned()),
                sub: Some("1".to_owned()),
                client_id: Some("laptop".to_owned()),
                token_type: Some("Bearer".to_owned()),
                read_only: Some(false),
                allowed_ips: Some(Vec::new()),
            };
            let json = |value: &Introspection| {
                poem_openapi::types::ToJSON::to_json(value)
                    .map(|value| value.to_string())
                    .unwrap_or_default()
            };
            vec![
                ("active", "A live key", json(&example)),
                (
                    "inactive",
                    "Any other key: unknown, revoked, expired, an inactive user's",
                    json(&Introspection::inactive()),
                ),
            ]
        }
        ("revoke" | "introspect", 400) => vec![
            (
                "no_token",
                "No token parameter",
                refused(FormRefusal::BadRequest(NO_TOKEN)),
            ),
            (
                "repeated",
                "A parameter given twice",
                refused(FormRefusal::BadRequest(REPEATED)),
            ),
            ("spaces", "A malformed Authorization header", malformed()),
        ],
        ("revoke" | "introspect", 413) => {
            vec![("too_large", "A body over 16 KiB", refused(FormRefusal::TooLarge))]
        }
        ("revoke" | "introspect", 415) => vec![(
            "unsupported_media_type",
            "A body that is not a form",
            refused(FormRefusal::UnsupportedMediaType(
                "application/json".to_owned(),
            )),
        )],
        ("introspect", 403) => vec![(
            "insufficient_scope",
            "The caller's key lacks the introspection scope",
            json!({ "detail": insufficient_scope(Arc::from(DEFAULT_INTROSPECTION_SCOPE)).to_string() })
                .to_string(),
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_parsed_as_rfc_6749_says() {
        let form = Some("application/x-www-form-urlencoded; charset=UTF-8");
        assert_eq!(parse(form, b"token=abc"), Ok("abc".to_owned()));
        assert_eq!(
            parse(
                form,
                b"token_type_hint=refresh_token&token=a%2Bb&other=1&other=2"
            ),
            Ok("a+b".to_owned())
        );
        assert_eq!(
            parse(form, b"token="),
            Err(FormRefusal::BadRequest(NO_TOKEN))
        );
        assert_eq!(parse(form, b""), Err(FormRefusal::BadRequest(NO_TOKEN)));
        assert_eq!(parse(None, b""), Err(FormRefusal::BadRequest(NO_TOKEN)));
        assert_eq!(
            parse(form, b"token=a&token=b"),
            Err(FormRefusal::BadRequest(REPEATED))
        );
        assert_eq!(
            parse(form, b"token=a&token_type_hint=x&token_type_hint=y"),
            Err(FormRefusal::BadRequest(REPEATED))
        );
        let long = format!("token={}", "k".repeat(MAX_TOKEN_CHARS));
        assert_eq!(
            parse(form, long.as_bytes()),
            Ok("k".repeat(MAX_TOKEN_CHARS))
        );
        let long = format!("token={}", "\u{1F600}".repeat(MAX_TOKEN_CHARS + 1));
        assert_eq!(
            parse(form, long.as_bytes()),
            Err(FormRefusal::BadRequest(LONG_TOKEN))
        );
        let hint = format!("token=a&token_type_hint={}", "h".repeat(MAX_HINT_CHARS + 1));
        assert_eq!(
            parse(form, hint.as_bytes()),
            Err(FormRefusal::BadRequest(LONG_HINT))
        );
        // The longest form the document allows fits within the body limit.
        let encoded = |text: String| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &text)
                .append_pair("token_type_hint", &"\u{1F600}".repeat(MAX_HINT_CHARS))
                .finish()
        };
        assert!(encoded("\u{1F600}".repeat(MAX_TOKEN_CHARS)).len() <= MAX_FORM_BODY);
        assert_eq!(
            parse(Some("application/json"), br#"{"token":"a"}"#),
            Err(FormRefusal::UnsupportedMediaType(
                "application/json".to_owned()
            ))
        );
        assert_eq!(
            parse(None, b"token=a"),
            Err(FormRefusal::UnsupportedMediaType("none".to_owned()))
        );
        assert_eq!(
            parse(Some("text/\"x\\y\u{e9}; a=b"), b"token=a"),
            Err(FormRefusal::UnsupportedMediaType("text/xy".to_owned()))
        );
    }

    #[test]
    fn refusals_are_drf_details() {
        assert_eq!(
            FormRefusal::BadRequest(NO_TOKEN).body().0,
            ErrorDetail::new(NO_TOKEN)
        );
        assert_eq!(
            FormRefusal::UnsupportedMediaType("text/plain".to_owned())
                .body()
                .0
                .detail,
            "Unsupported media type text/plain in request: send an \
             application/x-www-form-urlencoded form."
        );
    }
}
