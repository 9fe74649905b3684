//! Property tests of tokenauth's parsers: the `Authorization` header, the obtain-token body
//! and key formats. Bounded (256 cases a property) so that they run in a few seconds; the
//! fuzz targets in `fuzz/` explore the same properties without bounds.

use proptest::collection::vec;
use proptest::prelude::*;
use tokenauth::key::KeyFormat;
use tokenauth::{Key, parse_authorization};

/// Python's `bytes.split()` whitespace.
const PY_WHITESPACE: &[u8] = b" \t\n\x0b\x0c\r";

fn flip_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Bytes that are often whitespace or keyword letters, so headers have structure.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        2 => proptest::sample::select(PY_WHITESPACE),
        2 => proptest::sample::select(b"TtOoKkEeNnBbAaRr".as_slice()),
    ]
}

/// A whitespace run: one or more Python whitespace bytes.
fn separator() -> impl Strategy<Value = Vec<u8>> {
    vec(proptest::sample::select(PY_WHITESPACE), 1..4)
}

/// A keyword in some case mix, followed by separators and arbitrary bytes.
fn keyword_header() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,11}",
        any::<bool>(),
        vec(proptest::sample::select(PY_WHITESPACE), 0..3),
        separator(),
        vec(header_byte(), 0..40),
    )
        .prop_map(|(keyword, flip, lead, sep, rest)| {
            let word = if flip {
                flip_case(&keyword)
            } else {
                keyword.clone()
            };
            let header = [lead, word.into_bytes(), sep, rest].concat();
            (keyword, header)
        })
}

fn any_header() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        (
            proptest::sample::select(&["Token", "Bearer", "Api-Key"][..]).prop_map(String::from),
            vec(header_byte(), 0..64)
        ),
        keyword_header(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never panics; a key is a non-empty, whitespace-free slice of the header itself,
    /// after the keyword.
    #[test]
    fn header_key_is_a_whitespace_free_slice((keyword, header) in any_header()) {
        let result = parse_authorization(Some(&header), &keyword);
        if let Ok(Some(key)) = result {
            prop_assert!(!key.is_empty());
            prop_assert!(!key.bytes().any(|b| b.is_ascii_whitespace() || PY_WHITESPACE.contains(&b)));
            prop_assert!(header.as_ptr_range().contains(&key.as_ptr()), "not borrowed from the header");
            let start = key.as_ptr() as usize - header.as_ptr() as usize;
            prop_assert_eq!(&header[start..start + key.len()], key.as_bytes());
            let before = &header[..start];
            let first = before
                .split(|b| PY_WHITESPACE.contains(b))
                .find(|w| !w.is_empty())
                .unwrap();
            prop_assert!(first.eq_ignore_ascii_case(keyword.as_bytes()));
        }
    }

    /// The keyword's ASCII case never changes the result.
    #[test]
    fn header_keyword_case_is_ignored((keyword, header) in any_header()) {
        let result = parse_authorization(Some(&header), &keyword);
        prop_assert_eq!(parse_authorization(Some(&header), &flip_case(&keyword)), result);
        prop_assert_eq!(parse_authorization(Some(&header), &keyword.to_ascii_uppercase()), result);
        prop_assert_eq!(parse_authorization(Some(&header), &keyword.to_ascii_lowercase()), result);
    }

    /// `Token <k>` with `k` visible ASCII gives `k`, whatever the case and whitespace around.
    #[test]
    fn header_token_and_key_parse_to_key(
        key in "[!-~]{1,80}",
        keyword in "[A-Za-z][A-Za-z-]{0,9}",
        lead in vec(proptest::sample::select(PY_WHITESPACE), 0..3),
        sep in separator(),
        trail in vec(proptest::sample::select(PY_WHITESPACE), 0..3),
        flip in any::<bool>(),
    ) {
        let word = if flip { flip_case(&keyword) } else { keyword.clone() };
        let header = [lead, word.into_bytes(), sep, key.clone().into_bytes(), trail].concat();
        prop_assert_eq!(parse_authorization(Some(&header), &keyword), Ok(Some(key.as_str())));
        let token_header = format!("Token {key}");
        prop_assert_eq!(parse_authorization(Some(token_header.as_bytes()), "Token"), Ok(Some(key.as_str())));
    }
}

#[cfg(feature = "openapi")]
mod login_body {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use tokenauth::openapi::endpoints::testing::parse_login_body;

    const JSON: &str = "application/json";
    const FORM: &str = "application/x-www-form-urlencoded";

    /// `application/x-www-form-urlencoded` encoding of a string (every byte but unreserved
    /// ones percent-encoded; `+` for a space half of the time is tested by `form_body`).
    fn form_encode(text: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(text.len() * 3);
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        out
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes()
    }

    /// A username of `len` characters, none of them whitespace or a control character
    /// (those are replaced by `x`).
    fn username(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        vec(
            prop_oneof![3 => proptest::char::range('!', '~'), 1 => any::<char>()],
            len,
        )
        .prop_map(|chars| {
            chars
                .into_iter()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() {
                        'x'
                    } else {
                        c
                    }
                })
                .collect()
        })
    }

    /// Any password of 1 to 4096 characters (whitespace and control characters included),
    /// now and then close to the limit.
    fn password() -> impl Strategy<Value = String> {
        prop_oneof![
            15 => vec(any::<char>(), 1..64),
            1 => vec(any::<char>(), 4090..=4096),
        ]
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn scope() -> impl Strategy<Value = String> {
        vec(proptest::sample::select(b"abcxyz:._*-".as_slice()), 1..21)
            .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
    }

    fn content_type() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(Some(JSON.to_owned())),
            Just(Some(FORM.to_owned())),
            Just(Some("application/json; charset=utf-8".to_owned())),
            Just(Some("Application/X-WWW-Form-Urlencoded".to_owned())),
            Just(None),
            Just(Some("text/plain".to_owned())),
            Just(Some("multipart/form-data; boundary=x".to_owned())),
            "[ -~]{0,30}".prop_map(Some),
        ]
    }

    /// JSON values shaped like login bodies: objects with the login fields and others.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            "[ a-z:]{0,10}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 40, 8, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        proptest::sample::select(
                            &["username", "password", "name", "expires_in", "scopes"][..]
                        )
                        .prop_map(String::from),
                        "[a-z]{1,8}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..80),
            json_value().prop_map(|v| v.to_string().into_bytes()),
            vec(
                (
                    prop_oneof![
                        proptest::sample::select(
                            &["username", "password", "name", "expires_in", "scopes"][..]
                        )
                        .prop_map(String::from),
                        ".{0,5}",
                    ],
                    ".{0,12}",
                ),
                0..6
            )
            .prop_map(|pairs| {
                let pairs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                form(&pairs)
            }),
        ]
    }

    fn assert_refusal(status: u16, text: &str) -> Result<Value, TestCaseError> {
        prop_assert!(status == 400 || status == 415, "status {status}");
        let value: Value = serde_json::from_str(text)
            .map_err(|err| TestCaseError::fail(format!("not JSON ({err}): {text:?}")))?;
        prop_assert!(value.is_object(), "not an object: {text}");
        Ok(value)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Never panics; every refusal is a JSON object with status 400 or 415, and 415
        /// only for media types other than JSON and forms.
        #[test]
        fn refusals_are_json_400_or_415(content_type in content_type(), body in body()) {
            if let Err((status, text)) = parse_login_body(content_type.as_deref(), &body) {
                assert_refusal(status, &text)?;
                let media = content_type
                    .as_deref()
                    .and_then(|ct| ct.split(';').next())
                    .map(|m| m.trim().to_ascii_lowercase());
                if status == 415 {
                    prop_assert!(media.as_deref() != Some(JSON) && media.as_deref() != Some(FORM));
                }
            }
        }

        /// A username of 1 to 150 characters and a password of 1 to 4096 are a valid login,
        /// in JSON and in a form.
        #[test]
        fn valid_credentials_are_accepted(
            username in prop_oneof![username(1..151), username(148..151)],
            password in password(),
        ) {
            let body = json!({"username": username, "password": password}).to_string();
            prop_assert_eq!(parse_login_body(Some(JSON), body.as_bytes()), Ok(()));
            let body = form(&[("username", &username), ("password", &password)]);
            prop_assert_eq!(parse_login_body(Some(FORM), &body), Ok(()));
        }

        /// A username over 150 characters is refused with 400, naming `username`.
        #[test]
        fn long_usernames_are_refused(
            username in prop_oneof![username(151..400), username(151..154)],
            password in "[ -~]{1,20}",
        ) {
            let body = json!({"username": username, "password": password}).to_string();
            let form_body = form(&[("username", &username), ("password", &password)]);
            for (content_type, body) in [(JSON, body.into_bytes()), (FORM, form_body)] {
                let Err((status, text)) = parse_login_body(Some(content_type), &body) else {
                    return Err(TestCaseError::fail(format!("accepted a {}-character username", username.chars().count())));
                };
                prop_assert_eq!(status, 400);
                let value = assert_refusal(status, &text)?;
                prop_assert!(value.get("username").is_some(), "{}", text);
                prop_assert!(value.get("password").is_none(), "{}", text);
            }
        }

        /// Up to 64 valid scopes are accepted; more are refused with 400, naming `scopes`.
        #[test]
        fn scope_lists_are_bounded(
            scopes in prop_oneof![vec(scope(), 1..=64), vec(scope(), 60..100)],
            username in username(1..20),
        ) {
            let json_body = json!({"username": username, "password": "pw", "scopes": scopes}).to_string();
            let joined = scopes.join(" ");
            let form_body = form(&[("username", &username), ("password", "pw"), ("scopes", &joined)]);
            for (content_type, body) in [(JSON, json_body.into_bytes()), (FORM, form_body)] {
                let result = parse_login_body(Some(content_type), &body);
                if scopes.len() <= 64 {
                    prop_assert_eq!(result, Ok(()));
                } else {
                    let Err((status, text)) = result else {
                        return Err(TestCaseError::fail(format!("accepted {} scopes", scopes.len())));
                    };
                    prop_assert_eq!(status, 400);
                    let value = assert_refusal(status, &text)?;
                    prop_assert!(value.get("scopes").is_some(), "{}", text);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `KeyFormat::prefixed` takes exactly 1 to 16 ASCII letters or digits.
    #[test]
    fn prefixes_are_short_and_alphanumeric(prefix in prop_oneof!["[A-Za-z0-9]{0,18}", ".{0,18}"]) {
        let valid = (1..=16).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
        prop_assert_eq!(KeyFormat::prefixed(&prefix).is_ok(), valid, "{:?}", prefix);
    }

    /// A generated key checks; changing any one character of its random or checksum part
    /// makes it fail the check (CRC32 detects every single-character change).
    #[test]
    fn one_changed_character_fails_the_checksum(
        prefix in "[A-Za-z0-9]{1,16}",
        changes in vec((0..33usize, any::<char>()), 1..8),
    ) {
        let format = KeyFormat::prefixed(&prefix).unwrap();
        let key = format.generate().unwrap();
        let text = key.expose_secret();
        prop_assert_eq!(format.check(text), Some(true));
        prop_assert!(Key::import(text).is_ok());
        let start = prefix.len() + 1;
        prop_assert_eq!(text.len(), start + 33);
        for (offset, replacement) in changes {
            let mut chars: Vec<char> = text.chars().collect();
            let original = chars[start + offset];
            chars[start + offset] = if replacement == original { 'é' } else { replacement };
            let changed: String = chars.into_iter().collect();
            prop_assert_eq!(format.check(&changed), Some(false), "{:?} from {:?}", changed, text);
        }
        // Every position, with the next base62 character.
        for offset in 0..33 {
            let mut bytes = text.as_bytes().to_vec();
            bytes[start + offset] = match bytes[start + offset] {
                b'9' => b'A',
                b'Z' => b'a',
                b'z' => b'0',
                b => b + 1,
            };
            prop_assert_eq!(format.check(std::str::from_utf8(&bytes).unwrap()), Some(false));
        }
    }

    /// A key that does not start with `<prefix>_` (case-sensitively) is not judged.
    #[test]
    fn other_formats_are_not_judged(
        prefix in "[A-Za-z0-9]{1,16}",
        key in prop_oneof![".{0,60}", "[A-Za-z0-9_]{0,50}"],
        body in "[A-Za-z0-9]{33}",
    ) {
        let format = KeyFormat::prefixed(&prefix).unwrap();
        let start = format!("{prefix}_");
        prop_assert_eq!(format.check(&key).is_none(), !key.starts_with(&start));
        let flipped = flip_case(&prefix);
        if flipped != prefix {
            prop_assert_eq!(format.check(&format!("{flipped}_{body}")), None);
        }
        prop_assert_eq!(format.check(&format!("{prefix}{body}")), None);
        prop_assert_eq!(KeyFormat::hex().check(&format!("{start}{body}")), None);
        // Claimed but malformed: judged false (or true only with the right checksum).
        let claimed = format!("{start}{body}");
        prop_assert!(format.check(&claimed).is_some());
    }

    /// `Key::import` takes exactly 1 to 256 visible ASCII characters (any key DRF can
    /// authenticate), and only 40 lowercase hexadecimal digits are DRF's format.
    #[test]
    fn imported_keys_are_visible_ascii(
        key in prop_oneof!["[!-~]{0,270}", ".{0,40}", "[ -~]{1,40}", "[0-9a-fA-F]{39,41}"]
    ) {
        let valid = (1..=256).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        let drf = key.len() == 40 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match Key::import(key.clone()) {
            Ok(imported) => {
                prop_assert!(valid, "accepted {:?}", key);
                prop_assert_eq!(imported.expose_secret(), key.as_str());
                prop_assert_eq!(imported.is_drf_format(), drf, "{:?}", key);
            }
            Err(_) => prop_assert!(!valid, "refused {:?}", key),
        }
    }
}
