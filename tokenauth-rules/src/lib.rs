//! The rules that [tokenauth](https://docs.rs/tokenauth)'s runtime and its procedural macros
//! share, defined once: what a keyword may be, how its OpenAPI security scheme is named and
//! described, and what a scope may be. `tokenauth-macros` applies them at compile time,
//! `tokenauth` at run time, so an attribute the macro accepts is one the runtime accepts, and
//! the other way round (`tests/it/shared_rules.rs` in the repository checks that they agree).
//!
//! Like `sqlx-macros-core` for sqlx, this crate is an implementation detail: use the rules
//! through `tokenauth`, which re-exports them. It has no dependencies.
//!
//! ```
//! use tokenauth_rules::{is_valid_keyword, scheme_name};
//!
//! assert!(is_valid_keyword("Api-Key"));
//! assert_eq!(scheme_name("bearer").as_deref(), Ok("BearerAuth"));
//! ```

#![no_std]
extern crate alloc;

use alloc::format;
use alloc::string::String;

/// The characters besides ASCII letters and digits that an HTTP authentication scheme (an
/// RFC 9110 `token`) may contain.
pub const KEYWORD_SYMBOLS: &str = "!#$%&'*+-.^_`|~";

/// The most scopes one token may have.
pub const MAX_SCOPES: usize = 64;

/// The longest scope, in characters.
pub const MAX_SCOPE_LEN: usize = 128;

/// The pattern of a scope, as the OpenAPI document states it: no whitespace and no control
/// characters (the length is stated as `minLength`/`maxLength`). The characters are spelled
/// out rather than written `\s`, whose meaning differs between ECMA-262, Python and Rust, and
/// the end is `(?![\s\S])` rather than `$`, which Python's `re` (schemathesis, hypothesis)
/// also matches before a final newline.
///
/// ```
/// let pattern = tokenauth_rules::SCOPE_PATTERN;
/// assert!(pattern.starts_with(r"^[^\x00-\x20\x7F-\xA0"));
/// ```
pub const SCOPE_PATTERN: &str =
    r"^[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+(?![\s\S])";

/// Whether `byte` is an RFC 9110 `tchar`.
const fn is_tchar(byte: u8) -> bool {
    matches!(byte,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// Whether `keyword` can be an HTTP authentication scheme: one or more RFC 9110 `tchar`s
/// (letters, digits and ``!#$%&'*+-.^_`|~``). Usable in constants.
///
/// ```
/// use tokenauth_rules::is_valid_keyword;
///
/// assert!(is_valid_keyword("Token"));
/// assert!(is_valid_keyword("Api-Key"));
/// assert!(!is_valid_keyword(""));
/// assert!(!is_valid_keyword("Two Words"));
/// assert!(!is_valid_keyword("Key:"));
/// ```
pub const fn is_valid_keyword(keyword: &str) -> bool {
    let bytes = keyword.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !is_tchar(bytes[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// Why `keyword` cannot be an authentication keyword, in the words of a compile error, or
/// `None` if it can ([`is_valid_keyword`]).
///
/// ```
/// let problem = tokenauth_rules::keyword_problem("Two Words").unwrap();
/// assert!(problem.contains("whitespace"));
/// assert!(tokenauth_rules::keyword_problem("Token").is_none());
/// ```
pub fn keyword_problem(keyword: &str) -> Option<String> {
    const HELP: &str = "use letters, digits and !#$%&'*+-.^_`|~ only, e.g. `keyword = \"Bearer\"`";
    if keyword.is_empty() {
        return Some(format!("the keyword is empty; {HELP}"));
    }
    let bad = keyword
        .chars()
        .find(|c| !c.is_ascii() || !is_tchar(*c as u8))?;
    let what = if bad.is_whitespace() {
        String::from("whitespace")
    } else {
        format!("`{}`", bad.escape_default())
    };
    Some(format!(
        "the keyword `{}` contains {what}, which an HTTP authentication scheme cannot; {HELP}",
        keyword.escape_default()
    ))
}

/// Whether `keyword` is `Bearer`, ignoring ASCII case as header parsing does: its scheme is
/// OpenAPI's `{type: http, scheme: bearer}`, named `BearerAuth`. Usable in constants.
///
/// ```
/// assert!(tokenauth_rules::is_bearer("bEaReR"));
/// assert!(!tokenauth_rules::is_bearer("Token"));
/// ```
pub const fn is_bearer(keyword: &str) -> bool {
    let (a, b) = (keyword.as_bytes(), b"bearer");
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i].to_ascii_lowercase() != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `name` can name an OpenAPI component such as a security scheme: one or more
/// letters, digits, `.`, `-` or `_`. Usable in constants.
///
/// ```
/// assert!(tokenauth_rules::is_valid_scheme_name("TokenAuth"));
/// assert!(!tokenauth_rules::is_valid_scheme_name("Key!Auth"));
/// ```
pub const fn is_valid_scheme_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// The name of `keyword`'s OpenAPI security scheme: `BearerAuth` for `Bearer` in any case
/// (the runtime compares keywords ignoring ASCII case, so `bearer` and `Bearer` are one
/// scheme), otherwise `<keyword>Auth`. An error, in the words of a compile error (to which
/// the caller adds the fix), when the keyword is invalid or holds characters a component
/// name cannot (anything but letters, digits, `.`, `-` and `_`).
///
/// ```
/// use tokenauth_rules::scheme_name;
///
/// assert_eq!(scheme_name("Token").as_deref(), Ok("TokenAuth"));
/// assert_eq!(scheme_name("BEARER").as_deref(), Ok("BearerAuth"));
/// assert_eq!(scheme_name("Api-Key").as_deref(), Ok("Api-KeyAuth"));
/// assert!(scheme_name("Key!").is_err());
/// ```
pub fn scheme_name(keyword: &str) -> Result<String, String> {
    if let Some(problem) = keyword_problem(keyword) {
        return Err(problem);
    }
    if is_bearer(keyword) {
        return Ok(String::from("BearerAuth"));
    }
    let name = format!("{keyword}Auth");
    if is_valid_scheme_name(&name) {
        Ok(name)
    } else {
        Err(format!(
            "the keyword `{keyword}` cannot name an OpenAPI security scheme (`{name}`): a \
             scheme name has letters, digits, `.`, `-` and `_` only"
        ))
    }
}

/// The description of `keyword`'s security scheme: how to send the key, in Swagger UI too
/// (whose Authorize dialog, as tokenauth serves it, takes the key alone for every keyword).
///
/// ```
/// let text = tokenauth_rules::scheme_description("Token");
/// assert!(text.contains("`Authorization: Token <key>`"));
/// assert!(text.contains("enter the key alone"));
/// ```
pub fn scheme_description(keyword: &str) -> String {
    if is_bearer(keyword) {
        String::from(
            "Send the header `Authorization: Bearer <key>`. \
             In Swagger UI's Authorize dialog, enter the key alone.",
        )
    } else {
        format!(
            "Send the header `Authorization: {keyword} <key>`. In Swagger UI's Authorize \
             dialog, enter the key alone or `{keyword} <key>`; a tool that sends the value as \
             entered needs `{keyword} <key>`."
        )
    }
}

/// Whether `scope` can be granted or required: 1 to [`MAX_SCOPE_LEN`] characters, no
/// whitespace (scopes are stored space-separated, as OAuth 2.0's `scope` parameter), no
/// control characters.
///
/// ```
/// assert!(tokenauth_rules::is_valid_scope("orders:read"));
/// assert!(tokenauth_rules::is_valid_scope("*"));
/// assert!(!tokenauth_rules::is_valid_scope(""));
/// assert!(!tokenauth_rules::is_valid_scope("two words"));
/// ```
pub fn is_valid_scope(scope: &str) -> bool {
    scope_problem(scope).is_none()
}

/// Why `scope` is not a valid scope, in the words of a compile error, or `None`.
///
/// ```
/// assert!(tokenauth_rules::scope_problem("bell\u{7}").unwrap().contains("control"));
/// ```
pub fn scope_problem(scope: &str) -> Option<String> {
    const EXAMPLE: &str = "e.g. `\"orders:read\"`";
    if scope.is_empty() {
        return Some(format!("a scope cannot be empty; {EXAMPLE}"));
    }
    if scope.chars().count() > MAX_SCOPE_LEN {
        return Some(format!(
            "a scope has at most {MAX_SCOPE_LEN} characters; {EXAMPLE}"
        ));
    }
    if let Some(bad) = scope.chars().find(|c| c.is_whitespace() || c.is_control()) {
        let what = if bad.is_whitespace() {
            "whitespace"
        } else {
            "a control character"
        };
        return Some(format!(
            "the scope `{}` contains {what}, which a scope cannot; {EXAMPLE}",
            scope.escape_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranges of the negated class in [`SCOPE_PATTERN`], read back from the pattern.
    fn pattern_ranges() -> alloc::vec::Vec<(u32, u32)> {
        let class = SCOPE_PATTERN
            .strip_prefix("^[^")
            .and_then(|p| p.strip_suffix(r"]+(?![\s\S])"))
            .expect("a negated class");
        let mut chars = class.chars().peekable();
        let escape = |chars: &mut core::iter::Peekable<core::str::Chars<'_>>| {
            assert_eq!(chars.next(), Some('\\'));
            let digits = match chars.next() {
                Some('x') => 2,
                Some('u') => 4,
                other => panic!("unexpected escape {other:?}"),
            };
            let hex: String = chars.by_ref().take(digits).collect();
            u32::from_str_radix(&hex, 16).expect("hex")
        };
        let mut ranges = alloc::vec::Vec::new();
        while chars.peek().is_some() {
            let start = escape(&mut chars);
            let end = if chars.peek() == Some(&'-') {
                chars.next();
                escape(&mut chars)
            } else {
                start
            };
            ranges.push((start, end));
        }
        ranges
    }

    #[test]
    fn the_pattern_refuses_exactly_what_the_rule_refuses() {
        // SCOPE_PATTERN is what OpenAPI tools (client generators, schemathesis) see: every
        // code point must be judged alike by it and by `scope_problem`.
        let ranges = pattern_ranges();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let by_pattern = ranges.iter().any(|&(a, b)| (a..=b).contains(&(c as u32)));
            let by_rule = !is_valid_scope(c.encode_utf8(&mut [0; 4]));
            assert_eq!(by_pattern, by_rule, "U+{:04X}", c as u32);
        }
    }
}
