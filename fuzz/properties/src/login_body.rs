//! The obtain-token body parser.

use serde_json::Value;
use tokenauth::openapi::endpoints::testing::parse_login_body;

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded; charset=UTF-8"),
    None,
    Some("APPLICATION/JSON"),
    Some("text/plain"),
    Some("multipart/form-data; boundary=x"),
    Some(""),
    Some(" application/json ;"),
];

fn media(content_type: Option<&str>) -> String {
    content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// The obtain-token body parser: never panics; every refusal is JSON with status 400 or 415;
/// a refusal names a field or says `detail`; an accepted JSON body is an object with a
/// username and a password.
///
/// `data[0]` picks the content type (`0xff`: the text up to the first newline); the rest is
/// the body.
///
/// ```
/// tokenauth_fuzz_properties::login_body(b"\x00{\"username\": \"ada\", \"password\": \"pw\"}");
/// tokenauth_fuzz_properties::login_body(b"\xfftext/plain\nusername=ada");
/// ```
pub fn login_body(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The selector picks a content type; 0xff takes it from the input, up to a newline.
    let (content_type, body): (Option<String>, &[u8]) = if selector == 0xff {
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (
                Some(String::from_utf8_lossy(&rest[..end]).into_owned()),
                &rest[end + 1..],
            ),
            None => (None, rest),
        }
    } else {
        let ct = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
        (ct.map(str::to_owned), rest)
    };
    let content_type = content_type.as_deref();
    let media = media(content_type);

    match parse_login_body(content_type, body) {
        Ok(()) => {
            if media == "application/json" {
                let value: Value = serde_json::from_slice(body).expect("accepted non-JSON");
                let object = value.as_object().expect("accepted a JSON non-object");
                assert!(object.contains_key("username") && object.contains_key("password"));
            } else {
                assert_eq!(
                    media, "application/x-www-form-urlencoded",
                    "accepted {content_type:?}"
                );
            }
        }
        Err((status, text)) => {
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("refusal is not JSON ({err}): {text:?}"));
            let object = value.as_object().expect("refusal is not a JSON object");
            assert!(!object.is_empty(), "empty refusal");
            match status {
                400 => {
                    for (field, messages) in object {
                        if field == "detail" {
                            assert!(messages.is_string());
                        } else {
                            let list = messages.as_array().expect("field messages are a list");
                            assert!(!list.is_empty() && list.iter().all(Value::is_string));
                        }
                    }
                }
                415 => {
                    assert_ne!(media, "application/json");
                    assert_ne!(media, "application/x-www-form-urlencoded");
                    assert!(object["detail"].is_string());
                }
                other => panic!("unexpected status {other}: {text}"),
            }
        }
    }
}
