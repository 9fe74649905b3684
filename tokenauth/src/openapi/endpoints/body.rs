//! The obtain-token request body, parsed and validated as Django REST framework's
//! `AuthTokenSerializer` does: JSON or form, DRF's field messages, in DRF's field order.

use serde_json::{Value, json};

use crate::rules::{
    MAX_ALLOWED_IPS, MAX_SCOPES, MAX_TOKEN_NAME_LEN, MAX_USERNAME_LEN, is_valid_scope,
};

/// Django's `MAXIMUM_PASSWORD_LENGTH`: longer passwords are never hashed.
pub(super) const MAX_PASSWORD_LEN: usize = 4096;

/// The longest `expires_in`, in seconds: [`MAX_LIFETIME`](crate::rules::MAX_LIFETIME).
pub(super) const MAX_EXPIRES_IN: i64 = crate::rules::MAX_LIFETIME.num_seconds();

/// A valid login request. Its `Debug` hides the password.
pub(super) struct Login {
    pub(super) username: String,
    pub(super) password: String,
    pub(super) name: String,
    pub(super) expires_in: Option<i64>,
    pub(super) scopes: Vec<String>,
    /// As sent: each is parsed as a network once the password is checked (a body the
    /// document allows is refused only for its credentials).
    pub(super) allowed_ips: Vec<String>,
    pub(super) read_only: bool,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("name", &self.name)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("allowed_ips", &self.allowed_ips)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Why the body was refused, with DRF's status and compact JSON (fields in DRF's order).
#[derive(Debug)]
pub(super) enum Refusal {
    /// `400` with `{"<field>": ["<message>"], …}` or `{"detail": …}`.
    BadRequest(String),
    /// `415` with DRF's `Unsupported media type "<type>" in request.`
    UnsupportedMediaType(String),
    /// `413`: the body is over the size limit.
    TooLarge(String),
}

/// `{"field":["message"],…}` in the given order (serde_json's maps would sort the keys).
pub(super) fn field_errors(errors: &[(&str, &str)]) -> String {
    let fields: Vec<String> = errors
        .iter()
        .map(|(field, message)| format!("{}:{}", json!(field), json!([message])))
        .collect();
    format!("{{{}}}", fields.join(","))
}

const REQUIRED: &str = "This field is required.";
const BLANK: &str = "This field may not be blank.";
const NULL: &str = "This field may not be null.";
const NOT_A_STRING: &str = "Not a valid string.";
const CONTROL: &str = "This field may not contain control characters.";
const INVALID_SCOPE: &str =
    "Each scope must be 1 to 128 characters, without whitespace or control characters.";

/// The longest `allowed_ips` entry the document allows: an IPv6 address with a prefix length
/// (`…/128`).
pub(super) const MAX_NETWORK_LEN: usize = 43;

/// The refusal of an `allowed_ips` entry that is neither an address nor a CIDR network.
pub(super) const INVALID_NETWORK: &str =
    "Enter valid IPv4 or IPv6 addresses or networks in CIDR notation.";

/// DRF's `BooleanField` message.
const INVALID_BOOLEAN: &str = "Must be a valid boolean.";

/// A field's raw value: from JSON, or from a form (always strings).
enum Raw<'a> {
    Json(&'a Value),
    Form(&'a str),
}

/// Parses `body` by its `Content-Type`, as DRF's JSON and form parsers.
pub(super) fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Login, Refusal> {
    let media = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => {
            let value: Value = serde_json::from_slice(body).map_err(|err| {
                Refusal::BadRequest(
                    json!({ "detail": format!("JSON parse error - {err}") }).to_string(),
                )
            })?;
            let Value::Object(fields) = value else {
                let kind = python_type(&value);
                let message = format!("Invalid data. Expected a dictionary, but got {kind}.");
                return Err(Refusal::BadRequest(field_errors(&[(
                    "non_field_errors",
                    &message,
                )])));
            };
            validate(
                |name| fields.get(name).map(Raw::Json),
                |name| json_list(fields.get(name)),
            )
        }
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            // Django's QueryDict: the last value of a repeated key.
            let last = |name: &str| {
                pairs
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| Raw::Form(v.as_str()))
            };
            let all = |name: &str| {
                let values: Vec<String> = pairs
                    .iter()
                    .filter(|(k, _)| k == name)
                    .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
                    .collect();
                Ok((!values.is_empty()).then_some(values))
            };
            validate(last, all)
        }
        // No body type: DRF sees empty data, so every required field is missing.
        "" if body.is_empty() => validate(|_| None, |_| Ok(None)),
        _ => {
            let shown = content_type.unwrap_or("");
            Err(Refusal::UnsupportedMediaType(
                json!({ "detail": format!("Unsupported media type \"{shown}\" in request.") })
                    .to_string(),
            ))
        }
    }
}

fn validate<'a>(
    get: impl Fn(&str) -> Option<Raw<'a>>,
    list: impl Fn(&str) -> Result<Option<Vec<String>>, &'static str>,
) -> Result<Login, Refusal> {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let mut fail = |field: &'static str, message: String| errors.push((field, message));
    // username: CharField (whitespace trimmed); password: CharField(trim_whitespace=False).
    // Django refuses to hash passwords over 4096 characters. A NUL in the username is left
    // to the login itself: no user can have it, so it is a failed login, throttled as one.
    let username = char_field(get("username"), true, false, MAX_USERNAME_LEN);
    let password = char_field(get("password"), false, false, MAX_PASSWORD_LEN);
    // The name is ours, not DRF's: taken as sent, so that the document's pattern (no control
    // characters) and length are exactly what is checked.
    let name = char_field(get("name"), false, true, MAX_TOKEN_NAME_LEN).and_then(|name| {
        if name.chars().any(char::is_control) {
            Err(Some(CONTROL.to_owned()))
        } else {
            Ok(name)
        }
    });
    let username = username
        .map_err(|m| fail("username", m.unwrap_or_else(|| REQUIRED.to_owned())))
        .ok();
    let password = password
        .map_err(|m| fail("password", m.unwrap_or_else(|| REQUIRED.to_owned())))
        .ok();
    let name = match name {
        Ok(name) => name,
        Err(None) => String::new(), // optional
        Err(Some(message)) => {
            fail("name", message);
            String::new()
        }
    };
    let expires_in = match get("expires_in") {
        None => None,
        Some(raw) => match positive_integer(raw, MAX_EXPIRES_IN) {
            Ok(seconds) => Some(seconds),
            Err(message) => {
                fail("expires_in", message);
                None
            }
        },
    };
    let scopes = match list("scopes") {
        Ok(Some(scopes)) if scopes.len() > MAX_SCOPES => {
            fail(
                "scopes",
                format!("Ensure this field has no more than {MAX_SCOPES} elements."),
            );
            Vec::new()
        }
        Ok(Some(scopes)) if !scopes.iter().all(|scope| is_valid_scope(scope)) => {
            fail("scopes", INVALID_SCOPE.to_owned());
            Vec::new()
        }
        Ok(scopes) => scopes.unwrap_or_default(),
        Err(message) => {
            fail("scopes", message.to_owned());
            Vec::new()
        }
    };
    let allowed_ips = match list("allowed_ips") {
        Ok(Some(networks)) if networks.len() > MAX_ALLOWED_IPS => {
            fail(
                "allowed_ips",
                format!("Ensure this field has no more than {MAX_ALLOWED_IPS} elements."),
            );
            Vec::new()
        }
        // What the document states of each entry: 2 to MAX_NETWORK_LEN characters.
        Ok(Some(networks))
            if !networks
                .iter()
                .all(|n| (2..=MAX_NETWORK_LEN).contains(&n.chars().count())) =>
        {
            fail("allowed_ips", INVALID_NETWORK.to_owned());
            Vec::new()
        }
        Ok(networks) => networks.unwrap_or_default(),
        Err(_) => {
            fail("allowed_ips", INVALID_NETWORK.to_owned());
            Vec::new()
        }
    };
    let read_only = match get("read_only").map(boolean) {
        None => false,
        Some(Ok(read_only)) => read_only,
        Some(Err(message)) => {
            fail("read_only", message);
            false
        }
    };
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => Ok(Login {
            username,
            password,
            name,
            expires_in,
            scopes,
            allowed_ips,
            read_only,
        }),
        _ => {
            let errors: Vec<(&str, &str)> = errors
                .iter()
                .map(|(field, message)| (*field, message.as_str()))
                .collect();
            Err(Refusal::BadRequest(field_errors(&errors)))
        }
    }
}

/// DRF's `CharField(max_length=…)`: `Err(None)` when absent, `Err(Some(message))` when invalid.
fn char_field(
    raw: Option<Raw<'_>>,
    trim: bool,
    allow_blank: bool,
    max_length: usize,
) -> Result<String, Option<String>> {
    let text = match raw.ok_or(None)? {
        Raw::Form(text) => text.to_owned(),
        Raw::Json(Value::String(text)) => text.clone(),
        Raw::Json(Value::Number(number)) => number.to_string(),
        Raw::Json(Value::Null) => return Err(Some(NULL.to_owned())),
        Raw::Json(_) => return Err(Some(NOT_A_STRING.to_owned())),
    };
    let text = if trim { text.trim().to_owned() } else { text };
    if text.is_empty() && !allow_blank {
        return Err(Some(BLANK.to_owned()));
    }
    if text.chars().count() > max_length {
        return Err(Some(format!(
            "Ensure this field has no more than {max_length} characters."
        )));
    }
    Ok(text)
}

/// DRF's `BooleanField`: `true`/`false` (or their strings, `1`/`0`, `yes`/`no`, `on`/`off`).
fn boolean(raw: Raw<'_>) -> Result<bool, String> {
    const TRUE: [&str; 6] = ["true", "1", "yes", "on", "t", "y"];
    const FALSE: [&str; 6] = ["false", "0", "no", "off", "f", "n"];
    let text = match raw {
        Raw::Json(Value::Bool(value)) => return Ok(*value),
        Raw::Json(Value::Number(n)) if n.as_u64() == Some(1) => return Ok(true),
        Raw::Json(Value::Number(n)) if n.as_u64() == Some(0) => return Ok(false),
        Raw::Json(Value::String(text)) => text.as_str(),
        Raw::Form(text) => text,
        Raw::Json(Value::Null) => return Err(NULL.to_owned()),
        Raw::Json(_) => return Err(INVALID_BOOLEAN.to_owned()),
    };
    let lower = text.to_ascii_lowercase();
    if TRUE.contains(&lower.as_str()) {
        Ok(true)
    } else if FALSE.contains(&lower.as_str()) {
        Ok(false)
    } else {
        Err(INVALID_BOOLEAN.to_owned())
    }
}

/// DRF's `IntegerField(min_value=1, max_value=max)`.
fn positive_integer(raw: Raw<'_>, max: i64) -> Result<i64, String> {
    const INVALID: &str = "A valid integer is required.";
    let invalid = || INVALID.to_owned();
    let value = match raw {
        Raw::Json(Value::Number(n)) => n.as_i64().ok_or_else(invalid)?,
        Raw::Json(Value::String(s)) => s.trim().parse().map_err(|_| invalid())?,
        Raw::Form(s) => s.trim().parse().map_err(|_| invalid())?,
        Raw::Json(Value::Null) => return Err(NULL.to_owned()),
        Raw::Json(_) => return Err(invalid()),
    };
    if value < 1 {
        return Err("Ensure this value is greater than or equal to 1.".to_owned());
    }
    if value > max {
        return Err(format!("Ensure this value is less than or equal to {max}."));
    }
    Ok(value)
}

/// `scopes` in JSON: a list of strings, or one space-separated string.
fn json_list(value: Option<&Value>) -> Result<Option<Vec<String>>, &'static str> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.split_whitespace().map(str::to_owned).collect())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(INVALID_SCOPE),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("Expected a list of items."),
    }
}

/// The Python type name DRF reports for non-object JSON.
fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let login = parse(
            Some("application/json"),
            br#"{"username":"alice","password":"hunter2"}"#,
        )
        .unwrap();
        let shown = format!("{login:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn messages_name_the_limits() {
        assert_eq!(
            MAX_EXPIRES_IN, 3_155_760_000,
            "as documented in the OpenAPI schema"
        );
        assert!(INVALID_SCOPE.contains(&format!(" {} ", crate::rules::MAX_SCOPE_LEN)));
    }

    fn json_errors(body: &str) -> Value {
        match parse(Some("application/json"), body.as_bytes()) {
            Err(Refusal::BadRequest(text)) => serde_json::from_str(&text).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_keep_drf_field_order() {
        match parse(Some("application/json"), b"{}") {
            Err(Refusal::BadRequest(text)) => assert_eq!(
                text,
                r#"{"username":["This field is required."],"password":["This field is required."]}"#
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drf_field_messages() {
        assert_eq!(
            json_errors("{}"),
            json!({"username": [REQUIRED], "password": [REQUIRED]})
        );
        assert_eq!(
            json_errors(r#"{"username":"  ","password":""}"#),
            json!({"username": [BLANK], "password": [BLANK]})
        );
        assert_eq!(
            json_errors(r#"{"username":null,"password":true}"#),
            json!({"username": [NULL], "password": [NOT_A_STRING]})
        );
        assert_eq!(
            json_errors("[1]"),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
        );
        assert!(
            json_errors("{oops")["detail"]
                .as_str()
                .unwrap()
                .starts_with("JSON parse error - ")
        );
        assert_eq!(
            json_errors(r#"{"username":"a","password":"b","expires_in":0}"#),
            json!({"expires_in": ["Ensure this value is greater than or equal to 1."]})
        );
    }

    #[test]
    fn password_whitespace_is_kept_and_numbers_are_strings() {
        let login = parse(
            Some("application/json; charset=utf-8"),
            br#"{"username":" 42 ","password":"  ","scopes":["a","b"],"expires_in":"60"}"#,
        )
        .unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("42", "  ")
        );
        assert_eq!(
            (login.scopes, login.expires_in),
            (vec!["a".into(), "b".into()], Some(60))
        );
        let login = parse(
            Some("application/json"),
            br#"{"username":7,"password":1.5}"#,
        )
        .unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("7", "1.5")
        );
    }

    #[test]
    fn forms_and_other_media_types() {
        let login = parse(
            Some("application/x-www-form-urlencoded"),
            b"username=a&password=p%20w&username=alice&scopes=x+y&scopes=z&name=cli",
        )
        .unwrap();
        assert_eq!(
            (
                login.username.as_str(),
                login.password.as_str(),
                login.name.as_str()
            ),
            ("alice", "p w", "cli")
        );
        assert_eq!(login.scopes, ["x", "y", "z"]);
        assert!(matches!(parse(None, b""), Err(Refusal::BadRequest(_))));
        match parse(Some("text/plain"), b"hi") {
            Err(Refusal::UnsupportedMediaType(text)) => assert_eq!(
                text,
                r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#
            ),
            other => panic!("{other:?}"),
        }
    }
}
