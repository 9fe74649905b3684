//! The bodies of the token-management operations of [`AuthApi`](super::AuthApi): a user's
//! token list, and the roll request with its grace period.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::Object;
use serde_json::Value;

use crate::models::Token;
use crate::openapi::response::JSON;

/// One of the authenticated user's tokens, without its key (which is never stored) or digest.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(rename = "TokenInfo")]
pub(super) struct TokenInfo {
    /// The token's id: name it to revoke it (`DELETE /auth/tokens/{id}`).
    id: i64,
    /// The label chosen at login (may be empty).
    name: String,
    /// When the token was created.
    created: DateTime<Utc>,
    /// When the token stops working (`Policy::max_ttl` included), or `null`: never.
    #[oai(nullable)]
    expires_at: Option<DateTime<Utc>>,
    /// When the token last authenticated a request, or `null`: not recorded.
    #[oai(nullable)]
    last_used_at: Option<DateTime<Utc>>,
    /// What the token may do; `*` grants everything, `orders:*` everything under `orders:`.
    scopes: Vec<String>,
    /// The networks the token may be used from (CIDR notation); empty: anywhere.
    allowed_ips: Vec<String>,
    /// Whether the token may only send `GET`, `HEAD` and `OPTIONS` requests (and log itself out).
    read_only: bool,
    /// Whether this is the token that authenticated this request.
    current: bool,
}

impl TokenInfo {
    /// `token` as its owner sees it, with its effective expiry; `current` when it is `presented`.
    pub(super) fn new(token: Token, expires_at: Option<DateTime<Utc>>, presented: i64) -> Self {
        TokenInfo {
            id: token.id,
            current: token.id == presented,
            name: token.name,
            created: token.created,
            expires_at,
            last_used_at: token.last_used_at,
            scopes: token.scopes,
            allowed_ips: token.allowed_ips.iter().map(ToString::to_string).collect(),
            read_only: token.read_only,
        }
    }
}

/// The roll request, as the document states it.
#[derive(Object)]
#[oai(rename = "RollTokenRequest")]
#[allow(dead_code)]
pub(super) struct RollDoc {
    /// How long the key sent keeps working beside the new one, in seconds: 0 (the default)
    /// refuses it at once. At most the server's `Policy::max_roll_grace` (0 unless configured).
    #[oai(validator(minimum(value = "0")))]
    grace: Option<i64>,
}

/// The most bytes of a roll body read: `{"grace": <seconds>}` with room to spare.
pub(super) const MAX_ROLL_BODY: usize = 4 * 1024;

/// The roll body, unread: read and parsed by the operation, so that each refusal is answered
/// with its own status and `{"detail": …}`.
pub(super) type RollBody = super::read::Unread<RollDoc>;

impl super::read::Documented for RollDoc {
    const CONTENT_TYPE: &'static str = JSON;
    const DESCRIPTION: &'static str = "Optional: `{\"grace\": <seconds>}`. Without a body (or \
        without `grace`), the key sent is refused as soon as the new one is issued.";
    const REQUIRED: bool = false;
}

/// Why a roll body was refused: the status and its `detail`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RollRefusal {
    /// `400`: not JSON, not an object, or a `grace` that is not a whole number of seconds
    /// within bounds.
    BadRequest(String),
    /// `413`: over [`MAX_ROLL_BODY`].
    TooLarge(String),
    /// `415`: a body that is not JSON.
    UnsupportedMediaType(String),
}

impl super::read::Unread<RollDoc> {
    /// Reads at most [`MAX_ROLL_BODY`] bytes and parses the grace period: seconds, from 0 to
    /// `max_seconds`.
    pub(super) async fn read(
        self,
        request: &Request,
        max_seconds: i64,
    ) -> Result<i64, RollRefusal> {
        match super::read::read_bounded(self.0, request, MAX_ROLL_BODY).await {
            Ok(bytes) => parse_grace(super::read::content_type(request), &bytes, max_seconds),
            Err(super::read::NotRead::TooLarge) => Err(RollRefusal::TooLarge(too_large())),
            Err(super::read::NotRead::Failed) => Err(RollRefusal::BadRequest(String::from(
                super::read::UNREADABLE,
            ))),
        }
    }
}

/// The refusal of a roll body over [`MAX_ROLL_BODY`].
pub(super) fn too_large() -> String {
    format!("Request body too large: at most {MAX_ROLL_BODY} bytes.")
}

/// The document's example of a token list.
pub(super) fn list_example() -> String {
    let at = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .ok()
    };
    let example = TokenInfo {
        id: 42,
        name: String::from("laptop"),
        created: at("2026-12-01T09:30:00Z").unwrap_or_default(),
        expires_at: at("2027-03-01T09:30:00Z"),
        last_used_at: at("2026-12-06T17:02:11Z"),
        scopes: vec![String::from("orders:read")],
        allowed_ips: vec![String::from("203.0.113.0/24")],
        read_only: true,
        current: true,
    };
    serde_json::to_string(&[poem_openapi::types::ToJSON::to_json(&example)]).unwrap_or_default()
}

/// The grace period of a roll body (see [`RollBody::read`]).
pub(super) fn parse_grace(
    content_type: Option<&str>,
    bytes: &[u8],
    max_seconds: i64,
) -> Result<i64, RollRefusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(0); // no body: no grace
    }
    let essence = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"));
    if !is_json {
        let shown = content_type.unwrap_or_default();
        return Err(RollRefusal::UnsupportedMediaType(format!(
            "Unsupported media type {} in request.",
            Value::from(shown)
        )));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| RollRefusal::BadRequest(format!("JSON parse error - {error}")))?;
    let Value::Object(fields) = value else {
        return Err(RollRefusal::BadRequest(String::from(
            "Invalid data. Expected a dictionary.",
        )));
    };
    let invalid = |message: String| Err(RollRefusal::BadRequest(format!("grace: {message}")));
    match fields.get("grace") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(number)) => {
            // Any JSON number: whole ones beyond 64 bits are out of bounds, not invalid.
            let whole = number.as_i64().map(i128::from).or_else(|| {
                number.as_u64().map(i128::from).or_else(|| {
                    // A whole float: its value within 64 bits, else an end of the range
                    // (`as` saturates), which is out of bounds either way.
                    number
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && f.is_finite())
                        .map(|f| f as i128)
                })
            });
            match whole {
                None => invalid(String::from("A valid integer is required.")),
                Some(seconds) if seconds < 0 => invalid(String::from(
                    "Ensure this value is greater than or equal to 0.",
                )),
                Some(seconds) if seconds > i128::from(max_seconds) => invalid(format!(
                    "Ensure this value is less than or equal to {max_seconds}."
                )),
                Some(seconds) => Ok(i64::try_from(seconds).unwrap_or(max_seconds)),
            }
        }
        Some(_) => invalid(String::from("A valid integer is required.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grace(body: &str, max: i64) -> Result<i64, RollRefusal> {
        parse_grace(Some("application/json"), body.as_bytes(), max)
    }

    fn refused(message: &str) -> Result<i64, RollRefusal> {
        Err(RollRefusal::BadRequest(message.to_owned()))
    }

    #[test]
    fn the_grace_is_whole_seconds_within_bounds() {
        assert_eq!(parse_grace(None, b"", 0), Ok(0));
        assert_eq!(grace("{}", 0), Ok(0));
        assert_eq!(grace(r#"{"grace": null}"#, 0), Ok(0));
        assert_eq!(grace(r#"{"grace": 60}"#, 3600), Ok(60));
        assert_eq!(grace(r#"{"grace": 3600.0}"#, 3600), Ok(3600));
        assert_eq!(
            grace(r#"{"grace": 3601}"#, 3600),
            refused("grace: Ensure this value is less than or equal to 3600.")
        );
        assert_eq!(
            grace(r#"{"grace": 1}"#, 0),
            refused("grace: Ensure this value is less than or equal to 0.")
        );
        assert_eq!(
            grace(r#"{"grace": -1}"#, 3600),
            refused("grace: Ensure this value is greater than or equal to 0.")
        );
        // Beyond 64 bits either way: out of bounds, never an overflow.
        assert_eq!(
            grace(r#"{"grace": 18446744073709551616}"#, 3600),
            refused("grace: Ensure this value is less than or equal to 3600.")
        );
        assert_eq!(
            grace(r#"{"grace": -9223372036854775809}"#, 3600),
            refused("grace: Ensure this value is greater than or equal to 0.")
        );
        assert_eq!(
            grace(r#"{"grace": 1e300}"#, 3600),
            refused("grace: Ensure this value is less than or equal to 3600.")
        );
        for bad in [
            r#"{"grace": 1.5}"#,
            r#"{"grace": "60"}"#,
            r#"{"grace": [1]}"#,
        ] {
            assert_eq!(
                grace(bad, 3600),
                refused("grace: A valid integer is required."),
                "{bad}"
            );
        }
        assert_eq!(
            grace("[]", 3600),
            refused("Invalid data. Expected a dictionary.")
        );
        assert!(
            matches!(grace("{", 3600), Err(RollRefusal::BadRequest(m)) if m.starts_with("JSON parse error - "))
        );
        assert_eq!(
            parse_grace(Some("text/plain"), b"60", 3600),
            Err(RollRefusal::UnsupportedMediaType(
                "Unsupported media type \"text/plain\" in request.".into()
            ))
        );
    }
}
