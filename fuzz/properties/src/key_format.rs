//! Key formats and imported keys.

use tokenauth::Key;
use tokenauth::key::KeyFormat;
use tokenauth::rules::MAX_IMPORTED_KEY_LEN;

/// Key formats and imported keys: never panics; a generated key checks `Some(true)`, any
/// one-character change of its random or checksum part `Some(false)`; a key without the
/// `<prefix>_` start is `None`; `Key::import` takes exactly the keys DRF can authenticate,
/// 1 to [`MAX_IMPORTED_KEY_LEN`] visible ASCII characters, and its refusals never echo the key.
///
/// `data[0]` is the prefix length, `data[1]` the position of a changed character and
/// `data[2]` its replacement; then come the prefix and a key to check and import.
///
/// ```
/// tokenauth_fuzz_properties::key_format(b"\x03\x05Atkatka_0123456789abcdef");
/// ```
pub fn key_format(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    // data[0]: prefix length (0..=17, so invalid lengths are tried too); data[1]: position of
    // the changed character; data[2]: its replacement; then the prefix; then a key to check.
    let prefix_len = usize::from(data[0] % 18).min(data.len() - 3);
    let position = usize::from(data[1]);
    let replacement = data[2];
    let prefix = String::from_utf8_lossy(&data[3..3 + prefix_len]).into_owned();
    let candidate = String::from_utf8_lossy(&data[3 + prefix_len..]).into_owned();

    // Import: exactly 1 to MAX_IMPORTED_KEY_LEN (256) visible ASCII bytes, as DRF takes any key
    // a client can send in a header, short ones too.
    let importable = (1..=MAX_IMPORTED_KEY_LEN).contains(&candidate.len())
        && candidate.bytes().all(|b| b.is_ascii_graphic());
    match Key::import(candidate.clone()) {
        Ok(key) => {
            assert!(importable, "imported {candidate:?}");
            assert_eq!(key.expose_secret(), candidate);
        }
        Err(err) => {
            assert!(!importable, "refused {candidate:?}: {err}");
            // The message is that of a canonical key of the same fault: it never echoes.
            let canonical = if candidate.is_empty() {
                String::new()
            } else if candidate.len() > MAX_IMPORTED_KEY_LEN {
                "k".repeat(MAX_IMPORTED_KEY_LEN + 1)
            } else {
                " ".to_owned()
            };
            assert_eq!(
                err.to_string(),
                Key::import(canonical).unwrap_err().to_string()
            );
        }
    }

    let valid_prefix =
        (1..=16).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric());
    let format = match KeyFormat::prefixed(&prefix) {
        Ok(format) => {
            assert!(valid_prefix, "accepted prefix {prefix:?}");
            format
        }
        Err(_) => {
            assert!(!valid_prefix, "refused prefix {prefix:?}");
            // The hex format judges no key.
            assert_eq!(KeyFormat::hex().check(&candidate), None);
            return;
        }
    };
    let start = format!("{prefix}_");

    // Any text: `None` exactly when it does not claim the format.
    let checked = format.check(&candidate);
    assert_eq!(
        checked.is_none(),
        !candidate.starts_with(&start),
        "{candidate:?}"
    );
    if checked == Some(true) {
        let body = &candidate[start.len()..];
        assert_eq!(body.len(), 33);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    // A generated key checks, imports and can be sent in a header.
    let key = format.generate().expect("the OS has random bytes");
    let text = key.expose_secret();
    assert!(text.starts_with(&start));
    assert_eq!(text.len(), start.len() + 33);
    assert_eq!(format.check(text), Some(true));
    assert_eq!(KeyFormat::hex().check(text), None);
    assert!(Key::import(text).is_ok());
    let header = format!("Token {text}");
    assert_eq!(
        tokenauth::parse_authorization(Some(header.as_bytes()), "Token"),
        Ok(Some(text))
    );

    // One character of the random/checksum part changed: the checksum no longer holds.
    let index = start.len() + position % 33;
    let original = text.as_bytes()[index];
    let mut changed = text.as_bytes().to_vec();
    changed[index] = if replacement == original {
        replacement.wrapping_add(1)
    } else {
        replacement
    };
    let changed = String::from_utf8_lossy(&changed).into_owned();
    assert_eq!(
        format.check(&changed),
        Some(false),
        "{changed:?} from {text:?}"
    );
    // A character also swapped for a multi-byte one (UTF-8 text, not bytes).
    let mut chars: Vec<char> = text.chars().collect();
    chars[index] = 'é';
    let changed: String = chars.into_iter().collect();
    assert_eq!(format.check(&changed), Some(false));
}
