//! The rules that [tokenauth](https://docs.rs/tokenauth)'s runtime and its procedural macros
//! share, defined once: what a keyword may be, how its OpenAPI security scheme is named and
//! described, what a scope may be, and what scopes grant (wildcards such as `orders:*`, and
//! implications). `tokenauth-macros` applies them at compile time, `tokenauth` at run time,
//! so an attribute the macro accepts is one the runtime accepts, and the other way round
//! (`tests/it/shared_rules.rs` in the repository checks that they agree).
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
use alloc::vec::Vec;

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

/// Whether `text` can be the value of an RFC 6750 challenge's `realm` or `error_description`
/// as it is, in a quoted string that needs no escape: one or more characters of RFC 6750 §3's
/// set for `error_description` (`%x20-21 / %x23-5B / %x5D-7E`: printable ASCII and the
/// space, without `"` and `\`). Usable in constants.
///
/// ```
/// assert!(tokenauth_rules::is_challenge_text("Invalid token."));
/// assert!(!tokenauth_rules::is_challenge_text("say \"hi\""));
/// assert!(!tokenauth_rules::is_challenge_text("caf\u{e9}"));
/// assert!(!tokenauth_rules::is_challenge_text(""));
/// ```
pub const fn is_challenge_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !matches!(bytes[i], 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E) {
            return false;
        }
        i += 1;
    }
    !bytes.is_empty()
}

/// Whether `scope` can be listed in an RFC 6750 challenge's `scope` attribute: one or more
/// characters of RFC 6750 §3's set for a scope value (`%x21 / %x23-5B / %x5D-7E`: printable
/// ASCII without the space, `"` and `\`). Every scope in tokenauth's examples is; a scope with
/// other characters is still a valid scope ([`scope_problem`]), but `#[token_auth]` refuses
/// to require it with `challenge = "rfc6750"`. Usable in constants.
///
/// ```
/// assert!(tokenauth_rules::is_challenge_scope("orders:read"));
/// assert!(!tokenauth_rules::is_challenge_scope("orders read"));
/// assert!(!tokenauth_rules::is_challenge_scope("caf\u{e9}"));
/// ```
pub const fn is_challenge_scope(scope: &str) -> bool {
    let bytes = scope.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            return false;
        }
        i += 1;
    }
    is_challenge_text(scope)
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

/// The most implications an application may declare: the bound of
/// [`grants_with_implications`]' work, which follows each at most once per check.
///
/// ```
/// assert_eq!(tokenauth_rules::MAX_IMPLICATIONS, 256);
/// ```
pub const MAX_IMPLICATIONS: usize = 256;

/// Whether `scope` is a wildcard: `*` (every scope) or a scope ending in `:*` (every scope
/// under the prefix before the `*`, e.g. `orders:*`). Any other scope, `orders*` or
/// `*:read` included, is an ordinary scope that grants only itself.
///
/// ```
/// use tokenauth_rules::is_wildcard;
///
/// assert!(is_wildcard("*"));
/// assert!(is_wildcard("orders:*"));
/// assert!(is_wildcard("orders:items:*"));
/// assert!(!is_wildcard("orders:read"));
/// assert!(!is_wildcard("orders*"));
/// assert!(!is_wildcard("*:read"));
/// ```
pub fn is_wildcard(scope: &str) -> bool {
    scope == "*" || scope.ends_with(":*")
}

/// Whether the one granted scope `granted` covers `scope`, the rule every scope check
/// applies:
///
/// - `*` covers every scope;
/// - a scope ending in `:*`, e.g. `orders:*`, covers every scope that starts with its prefix
///   up to and including the colon: `orders:read`, `orders:items:write`, and the narrower
///   wildcards `orders:*` and `orders:items:*` — but not `orders` itself, nor `ordersx:read`,
///   nor `*`;
/// - any other scope covers only itself.
///
/// `scope` may be a wildcard: a wildcard covers another when it grants all that one grants.
/// That is how a login's request is judged ([`may_request`]); a requirement is never a
/// wildcard ([`required_scope_problem`], [`grants`]).
///
/// ```
/// use tokenauth_rules::covers;
///
/// assert!(covers("*", "orders:read"));
/// assert!(covers("*", "*"));
/// assert!(covers("orders:*", "orders:read"));
/// assert!(covers("orders:*", "orders:items:write"));
/// assert!(covers("orders:*", "orders:items:*"));
/// assert!(!covers("orders:*", "orders"));
/// assert!(!covers("orders:*", "ordersx:read"));
/// assert!(!covers("orders:*", "*"));
/// assert!(!covers("orders:items:*", "orders:*"));
/// assert!(covers("orders:read", "orders:read"));
/// assert!(!covers("orders:read", "orders:*"));
/// assert!(!covers("orders*", "orders:read")); // not a wildcard: only itself
/// ```
pub fn covers(granted: &str, scope: &str) -> bool {
    if granted == "*" {
        return true;
    }
    match granted.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => scope.starts_with(prefix),
        _ => granted == scope,
    }
}

/// The wildcards that cover `scope` ([`covers`]), from the narrowest to `*`: what else grants
/// a required scope, e.g. for a description.
///
/// ```
/// use tokenauth_rules::wildcards_covering;
///
/// assert_eq!(wildcards_covering("orders:items:write"), ["orders:items:*", "orders:*", "*"]);
/// assert_eq!(wildcards_covering("profile"), ["*"]);
/// ```
pub fn wildcards_covering(scope: &str) -> Vec<String> {
    let mut wildcards: Vec<String> = scope
        .match_indices(':')
        .rev()
        .map(|(at, _)| format!("{}*", &scope[..=at]))
        .filter(|wildcard| wildcard != scope)
        .collect();
    if scope != "*" {
        wildcards.push(String::from("*"));
    }
    wildcards
}

/// Why `scope` cannot be required — by `#[token_auth(scopes = [...])]`, `keyword!`'s
/// `scopes`, or an implication — in the words of a compile error, or `None` if it can. A
/// required scope is a valid scope ([`scope_problem`]) that is not a wildcard
/// ([`is_wildcard`]): a requirement names the one scope a token must have, which `*` and
/// `orders:*` grant; requiring a wildcard would demand that a token have it, which is not what
/// anyone means by it. At run time, a requirement that is not a valid required scope is never
/// granted ([`grants`]).
///
/// ```
/// use tokenauth_rules::required_scope_problem;
///
/// assert!(required_scope_problem("orders:read").is_none());
/// assert!(required_scope_problem("orders:*").unwrap().contains("wildcard"));
/// assert!(required_scope_problem("*").unwrap().contains("every scope"));
/// assert!(required_scope_problem("two words").unwrap().contains("whitespace"));
/// ```
pub fn required_scope_problem(scope: &str) -> Option<String> {
    if let Some(problem) = scope_problem(scope) {
        return Some(problem);
    }
    if scope == "*" {
        return Some(String::from(
            "`*` grants every scope, and cannot be required: require the scope an operation \
             needs, e.g. `\"orders:read\"` (a token granted `*` has it)",
        ));
    }
    let prefix = scope.strip_suffix('*').filter(|p| p.ends_with(':'))?;
    Some(format!(
        "the scope `{}` is a wildcard, which a token may be granted but a requirement cannot \
         name: require the scope an operation needs, e.g. `\"{}read\"` (a token granted `{}` \
         has it)",
        scope.escape_default(),
        prefix.escape_default(),
        scope.escape_default()
    ))
}

/// Whether `scope` can be required ([`required_scope_problem`]).
///
/// ```
/// assert!(tokenauth_rules::is_valid_required_scope("orders:read"));
/// assert!(!tokenauth_rules::is_valid_required_scope("orders:*"));
/// assert!(!tokenauth_rules::is_valid_required_scope("*"));
/// ```
pub fn is_valid_required_scope(scope: &str) -> bool {
    required_scope_problem(scope).is_none()
}

/// Why the implication "a token with `scope` has `implied` too" cannot be declared, in the
/// words of an error, or `None` if it can: each side is a valid scope ([`scope_problem`])
/// that is not a wildcard — a wildcard already grants what it covers, and an implication, like
/// a requirement, names one scope. (The number of implications is bounded separately:
/// [`MAX_IMPLICATIONS`].)
///
/// ```
/// use tokenauth_rules::implication_problem;
///
/// assert!(implication_problem("orders:write", "orders:read").is_none());
/// assert!(implication_problem("orders:*", "reports:read").unwrap().contains("`orders:*` is a wildcard"));
/// assert!(implication_problem("admin", "*").unwrap().contains("`*` is a wildcard"));
/// assert!(implication_problem("admin", "").unwrap().contains("empty"));
/// ```
pub fn implication_problem(scope: &str, implied: &str) -> Option<String> {
    [scope, implied].into_iter().find_map(|side| {
        scope_problem(side).or_else(|| {
            is_wildcard(side).then(|| {
                format!(
                    "`{side}` is a wildcard, which grants what it covers already: an \
                     implication names one scope on each side, e.g. \
                     `(\"orders:write\", \"orders:read\")`"
                )
            })
        })
    })
}

/// Whether a token granted `granted` has the required scope `required`: one of `granted`
/// covers it ([`covers`]: `*`, a wildcard such as `orders:*`, or the scope itself). A
/// `required` scope that cannot be required ([`required_scope_problem`]: a wildcard, an
/// invalid scope) is never granted. Implications need [`grants_with_implications`].
///
/// ```
/// use tokenauth_rules::grants;
///
/// assert!(grants(&["orders:*"], "orders:read"));
/// assert!(grants(&["orders:*"], "orders:write"));
/// assert!(!grants(&["orders:*"], "ordersx:read"));
/// assert!(!grants(&["orders:*"], "orders"));
/// assert!(grants(&["*"], "anything:at-all"));
/// assert!(!grants(&["*"], "orders:*"), "a wildcard is never a requirement");
/// assert!(!grants(&[] as &[&str], "orders:read"));
/// ```
pub fn grants<G: AsRef<str>>(granted: &[G], required: &str) -> bool {
    grants_with_implications::<G, &str>(granted, required, &[])
}

/// Whether a token granted `granted` has the required scope `required`, given the
/// application's implications: each `(scope, implied)` pair says that a token with `scope`
/// also has `implied` (e.g. `("orders:write", "orders:read")`). `required` is granted when
/// `granted` covers it ([`grants`]) or covers a scope that implies it, transitively:
/// wildcards compose with implications (`orders:*` covers `orders:write`, which implies
/// `reports:read`).
///
/// Bounded: each implication is followed at most once, so a cycle (`a → b → a`) ends, and a
/// check looks at most `implications.len() + 1` scopes, each against `granted` and the
/// implications (applications declare at most [`MAX_IMPLICATIONS`]). Implications whose
/// sides are wildcards are never followed: an implication names scopes, as a requirement
/// does ([`implication_problem`]).
///
/// ```
/// use tokenauth_rules::grants_with_implications;
///
/// let implications = [("orders:write", "orders:read"), ("orders:write", "reports:read")];
/// assert!(grants_with_implications(&["orders:write"], "orders:read", &implications));
/// assert!(!grants_with_implications(&["orders:read"], "orders:write", &implications));
/// assert!(grants_with_implications(&["orders:*"], "reports:read", &implications));
///
/// // Transitive, and a cycle ends.
/// let cycle = [("a", "b"), ("b", "c"), ("c", "a")];
/// assert!(grants_with_implications(&["a"], "c", &cycle));
/// assert!(!grants_with_implications(&["a"], "d", &cycle));
/// ```
pub fn grants_with_implications<G: AsRef<str>, S: AsRef<str>>(
    granted: &[G],
    required: &str,
    implications: &[(S, S)],
) -> bool {
    if !is_valid_required_scope(required) {
        return false;
    }
    let covered = |scope: &str| granted.iter().any(|g| covers(g.as_ref(), scope));
    if covered(required) {
        return true;
    }
    if implications.is_empty() {
        return false;
    }
    // Backwards from `required`: the scopes that would grant it, each reached through an
    // implication not followed before.
    let mut followed = alloc::vec![false; implications.len()];
    let mut pending: Vec<&str> = alloc::vec![required];
    while let Some(needed) = pending.pop() {
        for (i, (scope, implied)) in implications.iter().enumerate() {
            let (scope, implied) = (scope.as_ref(), implied.as_ref());
            if followed[i] || implied != needed || is_wildcard(scope) {
                continue;
            }
            followed[i] = true;
            if covered(scope) {
                return true;
            }
            pending.push(scope);
        }
    }
    false
}

/// Whether a login may request the scope `requested` when the application lists `grantable`:
/// one of `grantable` covers it ([`covers`]). So grantable `orders:*` lets a login request
/// `orders:read`, `orders:items:*` or `orders:*` itself; grantable `orders:read` refuses
/// `orders:*` and `*`; `*` is requestable only when `*` is grantable.
///
/// Implications do not widen what may be requested: only the listed scopes and what their
/// wildcards cover. A token holds what it was granted; implications act when a requirement
/// is checked ([`grants_with_implications`]).
///
/// ```
/// use tokenauth_rules::may_request;
///
/// assert!(may_request(&["orders:*"], "orders:read"));
/// assert!(may_request(&["orders:*"], "orders:*"));
/// assert!(!may_request(&["orders:read"], "orders:*"));
/// assert!(!may_request(&["orders:*"], "*"));
/// assert!(may_request(&["*"], "*"));
/// assert!(!may_request(&[] as &[&str], "orders:read"));
/// ```
pub fn may_request<G: AsRef<str>>(grantable: &[G], requested: &str) -> bool {
    grantable.iter().any(|g| covers(g.as_ref(), requested))
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
    fn a_wildcard_covers_exactly_the_scopes_under_its_prefix() {
        let scopes = [
            "*",
            "orders",
            "orders:",
            "orders:*",
            "orders:read",
            "orders:items:write",
            "orders:items:*",
            "ordersx:read",
            "ordersx:*",
            "orders*",
            "reports:read",
            ":*",
            ":x",
        ];
        for granted in scopes {
            for scope in scopes {
                // A wildcard covers a scope when the scope is under its prefix; `*` and any
                // other scope are the two ends.
                let expected = match granted.strip_suffix('*') {
                    Some("") => true,
                    Some(prefix) if prefix.ends_with(':') => scope.starts_with(prefix),
                    _ => granted == scope,
                };
                assert_eq!(covers(granted, scope), expected, "{granted} covers {scope}");
                // Requesting is covering; a requirement never is a wildcard.
                assert_eq!(may_request(&[granted], scope), expected);
                assert_eq!(grants(&[granted], scope), expected && !is_wildcard(scope));
                // `wildcards_covering` lists exactly the wildcards that cover the scope.
                if is_wildcard(granted) && granted != scope {
                    assert_eq!(
                        wildcards_covering(scope).iter().any(|w| w == granted),
                        expected,
                        "{granted} covering {scope}"
                    );
                }
            }
        }
    }

    #[test]
    fn implications_are_followed_transitively_each_once() {
        // A chain as long as the bound: the last scope is reached from the first.
        let chain: Vec<(String, String)> = (0..MAX_IMPLICATIONS)
            .map(|i| (format!("s:{i}"), format!("s:{}", i + 1)))
            .collect();
        let last = format!("s:{MAX_IMPLICATIONS}");
        assert!(grants_with_implications(&["s:0"], &last, &chain));
        assert!(grants_with_implications(&["s:*"], &last, &chain));
        assert!(!grants_with_implications(&["s:1"], "s:0", &chain));
        // Every scope implies every other: a dense graph of cycles, refused and granted.
        let dense: Vec<(String, String)> = (0..16)
            .flat_map(|a| (0..16).map(move |b| (format!("d:{a}"), format!("d:{b}"))))
            .collect();
        assert!(grants_with_implications(&["d:3"], "d:15", &dense));
        assert!(!grants_with_implications(&["x"], "d:15", &dense));
        assert!(!grants_with_implications(&["d:3"], "e", &dense));
        // A wildcard on either side of an implication is never followed.
        let wild = [("orders:*", "reports:read"), ("reports:read", "*")];
        assert!(!grants_with_implications(
            &["orders:*"],
            "reports:read",
            &wild
        ));
        assert!(!grants_with_implications(&["reports:read"], "*", &wild));
    }

    #[test]
    fn required_scopes_are_valid_scopes_that_are_not_wildcards() {
        for scope in ["orders:read", "orders*", "*:read", "a:*b", "x"] {
            assert_eq!(required_scope_problem(scope), None, "{scope}");
        }
        for scope in ["*", "orders:*", ":*", "a:b:*", "", "a b"] {
            assert!(required_scope_problem(scope).is_some(), "{scope}");
        }
        let problem = required_scope_problem("orders:*").unwrap();
        assert!(problem.contains("`\"orders:read\"`"), "{problem}");
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
