//! Parsing of the `Authorization` header, byte for byte as Django REST framework does it.
//!
//! DRF's `TokenAuthentication.authenticate` takes the header's raw bytes, splits them with
//! Python's `bytes.split()` (runs of ASCII whitespace, leading and trailing whitespace dropped),
//! compares the first part with the keyword ignoring ASCII case, and decodes the key as UTF-8.
//! [`parse_authorization`] reproduces that exactly, including the order in which the checks run.

use std::borrow::Cow;

use poem::http::HeaderMap;
use poem::http::header::AUTHORIZATION;

use crate::error::Reason;

/// The raw `Authorization` header of a request, as Django sees it: several headers reach
/// Django joined with ", " (WSGI servers join repeated headers), so they are joined here too,
/// which gives DRF's answer for such a request. `None` without the header.
pub(crate) fn raw_authorization(headers: &HeaderMap) -> Option<Cow<'_, [u8]>> {
    let values = headers.get_all(AUTHORIZATION);
    let mut iter = values.iter();
    let first = iter.next()?;
    if iter.next().is_none() {
        return Some(Cow::Borrowed(first.as_bytes()));
    }
    let all: Vec<&[u8]> = values.iter().map(|value| value.as_bytes()).collect();
    Some(Cow::Owned(all.join(&b", "[..])))
}

/// The bytes Python's `bytes.split()` treats as whitespace: SP, HT, LF, VT, FF and CR.
const fn is_python_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Parses a raw `Authorization` header value for the given keyword (auth scheme).
///
/// - `Ok(None)`: no credentials for this scheme — the header is absent, empty, only whitespace,
///   or its first word is not `keyword` (compared ignoring ASCII case, as a whole word).
/// - `Ok(Some(key))`: exactly two words, the second valid UTF-8.
/// - `Err(_)`: DRF's "Invalid token header" failures, in DRF's order of checks.
///
/// The value is taken as raw bytes (poem's `HeaderValue::as_bytes`), because DRF accepts
/// bytes that are not visible ASCII and reports them with its own message.
///
/// ```
/// use tokenauth::parse_authorization;
/// use tokenauth::rejection::Reason;
///
/// assert_eq!(parse_authorization(Some(b"Token abc"), "Token"), Ok(Some("abc")));
/// assert_eq!(parse_authorization(Some(b"  token\tabc "), "Token"), Ok(Some("abc")));
/// assert_eq!(parse_authorization(Some(b"Bearer abc"), "Token"), Ok(None));
/// assert_eq!(parse_authorization(None, "Token"), Ok(None));
/// assert_eq!(
///     parse_authorization(Some(b"Token"), "Token"),
///     Err(Reason::NoCredentialsInHeader)
/// );
/// assert_eq!(
///     parse_authorization(Some(b"Token a b"), "Token"),
///     Err(Reason::SpacesInToken)
/// );
/// assert_eq!(
///     parse_authorization(Some(b"Token \xff"), "Token"),
///     Err(Reason::InvalidCharacters)
/// );
/// ```
pub fn parse_authorization<'a>(
    header: Option<&'a [u8]>,
    keyword: &str,
) -> Result<Option<&'a str>, Reason> {
    let Some(header) = header else {
        return Ok(None);
    };
    let mut parts = header
        .split(|&b| is_python_whitespace(b))
        .filter(|part| !part.is_empty());

    match parts.next() {
        Some(scheme) if scheme.eq_ignore_ascii_case(keyword.as_bytes()) => {}
        _ => return Ok(None),
    }
    let Some(key) = parts.next() else {
        return Err(Reason::NoCredentialsInHeader);
    };
    if parts.next().is_some() {
        return Err(Reason::SpacesInToken);
    }
    std::str::from_utf8(key)
        .map(Some)
        .map_err(|_| Reason::InvalidCharacters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &[u8]) -> Result<Option<&str>, Reason> {
        parse_authorization(Some(header), "Token")
    }

    #[test]
    fn absent_or_empty_header_is_no_credentials() {
        assert_eq!(parse_authorization(None, "Token"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"   "), Ok(None));
        assert_eq!(parse(b" \t\r\n\x0b\x0c "), Ok(None));
    }

    #[test]
    fn other_scheme_is_no_credentials() {
        assert_eq!(parse(b"Bearer abc"), Ok(None));
        assert_eq!(parse(b"Basic dXNlcjpwYXNz"), Ok(None));
        // Whole word only: `Tokenabc` is not the `Token` keyword.
        assert_eq!(parse(b"Tokenabc"), Ok(None));
        assert_eq!(parse(b"Tokens abc"), Ok(None));
        assert_eq!(parse(b"Toke abc"), Ok(None));
        // Non-ASCII bytes never match an ASCII keyword.
        assert_eq!(parse(b"T\xc3\xb6ken abc"), Ok(None));
        // A `,` is not whitespace: `Token,` is a different word.
        assert_eq!(parse(b"Token, abc"), Ok(None));
    }

    #[test]
    fn keyword_is_ascii_case_insensitive() {
        assert_eq!(parse(b"token abc"), Ok(Some("abc")));
        assert_eq!(parse(b"TOKEN abc"), Ok(Some("abc")));
        assert_eq!(parse(b"tOkEn abc"), Ok(Some("abc")));
        assert_eq!(
            parse_authorization(Some(b"bearer abc"), "Bearer"),
            Ok(Some("abc"))
        );
        // Only ASCII case folding: the Kelvin sign is not a `k`.
        assert_eq!(parse("To\u{212a}en abc".as_bytes()), Ok(None));
    }

    #[test]
    fn every_python_whitespace_byte_separates() {
        for sep in [
            &b" "[..],
            b"\t",
            b"\n",
            b"\r",
            b"\x0b",
            b"\x0c",
            b"  ",
            b" \t ",
            b"\r\n",
        ] {
            let header = [&b"Token"[..], sep, b"abc", sep].concat();
            assert_eq!(parse(&header), Ok(Some("abc")), "separator {sep:?}");
            let header = [sep, &b"Token"[..], sep, b"abc"].concat();
            assert_eq!(parse(&header), Ok(Some("abc")), "leading {sep:?}");
        }
    }

    #[test]
    fn non_python_whitespace_is_part_of_the_key() {
        // NUL, the unit separators and NBSP are not whitespace for `bytes.split()`.
        assert_eq!(parse(b"Token a\x00b"), Ok(Some("a\0b")));
        assert_eq!(parse(b"Token a\x1cb"), Ok(Some("a\x1cb")));
        assert_eq!(parse("Token a\u{a0}b".as_bytes()), Ok(Some("a\u{a0}b")));
    }

    #[test]
    fn keyword_alone_is_no_credentials_provided() {
        assert_eq!(parse(b"Token"), Err(Reason::NoCredentialsInHeader));
        assert_eq!(parse(b"Token "), Err(Reason::NoCredentialsInHeader));
        assert_eq!(parse(b"  token\t\r\n"), Err(Reason::NoCredentialsInHeader));
        assert_eq!(parse(b"Token\x0b\x0c"), Err(Reason::NoCredentialsInHeader));
    }

    #[test]
    fn more_than_two_parts_is_spaces_in_token() {
        assert_eq!(parse(b"Token a b"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a\tb"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a\x0bb"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a\x0cb"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a\rb"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a\nb"), Err(Reason::SpacesInToken));
        assert_eq!(parse(b"Token a b c"), Err(Reason::SpacesInToken));
        // DRF counts parts before decoding: invalid UTF-8 in a third part is still "spaces".
        assert_eq!(parse(b"Token \xff \xfe"), Err(Reason::SpacesInToken));
    }

    #[test]
    fn invalid_utf8_key_is_invalid_characters() {
        assert_eq!(parse(b"Token \xff"), Err(Reason::InvalidCharacters));
        assert_eq!(parse(b"Token abc\xc3"), Err(Reason::InvalidCharacters));
        // Overlong encoding and a lone surrogate are invalid UTF-8 too (Python agrees).
        assert_eq!(parse(b"Token \xc0\xaf"), Err(Reason::InvalidCharacters));
        assert_eq!(parse(b"Token \xed\xa0\x80"), Err(Reason::InvalidCharacters));
    }

    #[test]
    fn valid_utf8_key_is_returned_as_is() {
        assert_eq!(parse("Token clé".as_bytes()), Ok(Some("clé")));
        let key = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse(format!("Token {key}").as_bytes()), Ok(Some(key)));
    }
}
