//! The CLI's duration parser.

use chrono::{Duration, Utc};
use tokenauth_cli::{before, parse_duration};

/// The CLI's duration parser (`tokenauth_cli::parse_duration`): never panics; an accepted
/// duration is between zero and `tokenauth::rules::MAX_LIFETIME` and can be subtracted from now;
/// `<n>s` is n seconds; parts add up (`<text> 1s` is one second more than `<text>`).
///
/// ```
/// tokenauth_fuzz_properties::duration(b"1w 2d 3h");
/// tokenauth_fuzz_properties::duration(b"18446744073709551615s");
/// ```
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(text) {
        Ok(d) => {
            assert!(d >= Duration::zero(), "negative duration for {text:?}");
            assert!(d <= tokenauth::rules::MAX_LIFETIME, "{d} for {text:?}");
            let now = Utc::now();
            assert_eq!(before(now, d), Ok(now - d));
            // One more part adds its value, up to the limit.
            let more = parse_duration(&format!("{text} 1s"));
            if d + Duration::seconds(1) <= tokenauth::rules::MAX_LIFETIME {
                assert_eq!(more, Ok(d + Duration::seconds(1)), "{text:?} 1s");
            } else {
                assert!(more.is_err(), "{text:?} 1s");
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }

    // `<n>s` is n seconds.
    if let Some(digits) = text.strip_suffix('s')
        && !digits.is_empty()
        && digits.len() <= 9
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let n: i64 = digits.parse().unwrap();
        assert_eq!(parse_duration(text), Ok(Duration::seconds(n)));
    }
}
