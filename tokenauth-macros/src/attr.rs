//! Parsing of the attribute's arguments: `#[token_auth(keyword = "Bearer", user = Account)]`,
//! in the grammar it shares with `keyword!` (`grammar`), plus its own `user = Type`.

use proc_macro2::TokenStream;
use syn::{Expr, Meta, Type};

use crate::errors::Errors;
use crate::grammar::{self, Grammar, Keyword, Param};

/// `user = MyUser`: the attribute's own argument.
const USER: Param = Param {
    name: "user",
    form: "user = Type",
    example: "user = MyUser",
};

/// The arguments this attribute accepts.
const GRAMMAR: Grammar = Grammar {
    written: "`#[token_auth(...)]`",
    params: &[
        grammar::KEYWORD,
        grammar::SCHEME,
        grammar::SCOPES,
        grammar::CHALLENGE,
        grammar::REALM,
        USER,
    ],
    keyword_lists: true,
};

/// The parsed arguments. Anything invalid was reported and left at its default.
#[derive(Default)]
pub(crate) struct Args {
    /// `keyword = "..."` or `keyword = ["...", ...]`, with `scheme = "..."` for a single
    /// one: the accepted authentication scheme words, in order; `Token` when absent.
    pub(crate) keywords: Option<Vec<Keyword>>,
    /// `user = Type`: the user type, for a user parameter not named `User` or a handler that
    /// takes only a `Token`.
    pub(crate) user: Option<Type>,
    /// `scopes = ["orders:read", …]`: what the token must grant (`*` grants all, `orders:*`
    /// every scope under `orders:`); never a wildcard.
    pub(crate) scopes: Option<Vec<syn::LitStr>>,
}

/// The arguments that apply to one handler or operation: an operation's own
/// `#[token_auth(...)]` over its impl's, each argument replacing the impl's as a whole (a
/// keyword with its scheme and challenge).
pub(crate) struct Resolved {
    /// The accepted keywords, in order; never empty.
    pub(crate) keywords: Vec<Keyword>,
    pub(crate) user: Option<Type>,
    pub(crate) scopes: Vec<syn::LitStr>,
}

/// Merges an impl's arguments with an operation's own (none for a handler): the one place
/// where arguments are merged.
///
/// An operation's scopes under its impl's RFC 6750 challenge (or the other way round) are
/// checked here, where they meet; given together, the grammar checked them.
pub(crate) fn resolve(outer: &Args, own: Option<&Args>, errors: &mut Errors) -> Resolved {
    let pick = |f: fn(&Args) -> bool| own.filter(|own| f(own)).unwrap_or(outer);
    let (keywords, scopes) = (pick(|a| a.keywords.is_some()), pick(|a| a.scopes.is_some()));
    let resolved = Resolved {
        keywords: keywords
            .keywords
            .clone()
            .unwrap_or_else(|| vec![Keyword::default_token()]),
        user: pick(|a| a.user.is_some()).user.clone(),
        scopes: scopes.scopes.clone().unwrap_or_default(),
    };
    if !std::ptr::eq(keywords, scopes) {
        grammar::challenge_scopes(&resolved.keywords, &resolved.scopes, errors);
    }
    resolved
}

/// Parses `args`, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Args {
    let arguments = GRAMMAR.arguments(args, errors);
    let (common, own) = GRAMMAR.common(arguments, errors);
    let mut parsed = Args {
        keywords: common.keywords,
        user: None,
        scopes: common.scopes,
    };
    for argument in own {
        match &argument.value {
            Expr::Path(path) => {
                parsed.user = Some(Type::Path(syn::TypePath {
                    qself: path.qself.clone(),
                    path: path.path.clone(),
                }));
            }
            other => errors.push_spanned(
                other,
                "expected a user type, e.g. `user = MyUser` (a type implementing `tokenauth::AuthUser`)",
            ),
        }
    }
    parsed
}

/// Parses the inner arguments of a per-operation `#[token_auth(...)]` inside an impl.
pub(crate) fn parse_attribute(attr: &syn::Attribute, errors: &mut Errors) -> Args {
    match &attr.meta {
        Meta::Path(_) => Args::default(),
        Meta::List(list) => parse(list.tokens.clone(), errors),
        Meta::NameValue(nv) => {
            errors.push_spanned(
                nv,
                "expected `#[token_auth]` or `#[token_auth(keyword = \"...\")]`",
            );
            Args::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Args, Errors) {
        let mut errors = Errors::default();
        let args = parse(text.parse().expect("lexes"), &mut errors);
        (args, errors)
    }

    #[test]
    fn pathological_arguments_are_an_error_not_a_stack_overflow() {
        // Found by fuzzing (fuzz/corpus/attr_args/regression-*): syn recursed until the
        // compiler's stack overflowed.
        for text in [
            format!("user = {}x{}", "(".repeat(4000), ")".repeat(4000)),
            format!("user = {}", "<".repeat(2975)),
            format!("user = x as {}u8", "&".repeat(3585)),
            format!("user = {}x", "|| ".repeat(2754)),
        ] {
            let (args, errors) = parse_str(&text);
            assert!(args.user.is_none());
            let message = errors.to_compile_errors().to_string();
            assert!(message.contains("not supported"), "{message}");
        }
        // As deep as the limits let it go, on a test thread's small (2 MiB) stack in a debug
        // build, with every recursing token: a clean syn error, no overflow.
        for (open, close) in [
            ("(", ")"),
            ("[", "]"),
            ("<", ""),
            ("&", ""),
            ("*", ""),
            ("!", ""),
            ("-", ""),
            ("|", ""),
        ] {
            let n = grammar::MAX_NESTING;
            let text = format!("user = {}x{}", open.repeat(n), close.repeat(n));
            let (_, errors) = parse_str(&text);
            assert!(!errors.is_empty(), "{text}");
            let message = errors.to_compile_errors().to_string();
            assert!(
                !message.contains("not supported"),
                "within the limits: {message}"
            );
        }
        // Long but flat arguments parse as far as the limit.
        let (_, errors) = parse_str(&format!("user = x{}", " as u8".repeat(130)));
        assert!(!errors.is_empty());
        // The longest reasonable arguments fit.
        let scopes: Vec<String> = (0..64).map(|i| format!("\"scope:{i}\"")).collect();
        let text = format!(
            "keyword = \"Bearer\", user = my::app::Account, scopes = [{}]",
            scopes.join(", ")
        );
        let (args, errors) = parse_str(&text);
        assert!(errors.is_empty(), "{}", errors.to_compile_errors());
        assert_eq!(args.scopes.map(|s| s.len()), Some(64));
    }

    #[test]
    fn keyword_lists() {
        let (args, errors) = parse_str(r#"keyword = ["Token", "bearer"]"#);
        assert!(errors.is_empty());
        let keywords = args.keywords.expect("parsed");
        let schemes: Vec<&str> = keywords.iter().map(|k| k.scheme.as_str()).collect();
        assert_eq!(schemes, ["TokenAuth", "BearerAuth"]);
        for (text, expected) in [
            (r#"keyword = []"#, "empty keyword list"),
            (r#"keyword = ["Bearer", "BEARER"]"#, "listed twice"),
            (r#"keyword = ["Token", "token"]"#, "listed twice"),
            (r#"keyword = ["Token", 1]"#, "string literal"),
            (
                r#"keyword = "Key!""#,
                "cannot name an OpenAPI security scheme",
            ),
        ] {
            let (args, errors) = parse_str(text);
            assert!(args.keywords.is_none(), "{text}");
            let message = errors.to_compile_errors().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn schemes_and_scopes() {
        let (args, errors) = parse_str(r#"keyword = "Key!", scheme = "KeyAuth""#);
        assert!(errors.is_empty(), "{}", errors.to_compile_errors());
        let keywords = args.keywords.expect("parsed");
        assert_eq!(
            (keywords[0].value.as_str(), keywords[0].scheme.as_str()),
            ("Key!", "KeyAuth")
        );
        let (args, errors) = parse_str(r#"scheme = "Renamed", keyword = ["Token"]"#);
        assert!(errors.is_empty(), "{}", errors.to_compile_errors());
        assert_eq!(args.keywords.expect("parsed")[0].scheme, "Renamed");
        for (text, expected) in [
            (r#"scheme = "KeyAuth""#, "give the keyword beside it"),
            (
                r#"keyword = ["Token", "Bearer"], scheme = "Both""#,
                "names the scheme of one keyword",
            ),
            (r#"keyword = "Token", scheme = "Key!""#, "scheme name has"),
            (r#"keyword = "Token", scheme = Key"#, "string literal"),
            (r#"keyword = "Api Key", scheme = "KeyAuth""#, "whitespace"),
            (r#"keyword = "Key!""#, "name the scheme, e.g. `scheme = "),
        ] {
            let (args, errors) = parse_str(text);
            assert!(args.keywords.is_none(), "{text}");
            let message = errors.to_compile_errors().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
        let (args, errors) = parse_str(r#"scopes = ["a:b", "c", "a:b"]"#);
        assert!(args.scopes.is_none());
        let message = errors.to_compile_errors().to_string();
        assert!(message.contains("listed twice"), "{message}");
        // A requirement names a scope, never a wildcard: each is reported.
        let (args, errors) = parse_str(r#"scopes = ["orders:*", "orders:read", "*"]"#);
        assert!(args.scopes.is_none());
        let message = errors.to_compile_errors().to_string();
        assert!(message.contains("`orders:*` is a wildcard"), "{message}");
        assert!(message.contains("`*` grants every scope"), "{message}");
        let scopes: Vec<String> = (0..70).map(|i| format!("\"s{i}\"")).collect();
        let (args, errors) = parse_str(&format!("scopes = [{}]", scopes.join(", ")));
        assert!(args.scopes.is_none());
        let message = errors.to_compile_errors().to_string();
        assert_eq!(message.matches("at most 64 scopes").count(), 1, "{message}");
    }

    #[test]
    fn challenges() {
        let realm = |text: &str| {
            let (args, errors) = parse_str(text);
            assert!(errors.is_empty(), "{text}: {}", errors.to_compile_errors());
            args.keywords.expect("parsed")[0].realm.clone()
        };
        assert_eq!(
            realm(r#"keyword = "Bearer", challenge = "rfc6750""#).as_deref(),
            Some("api")
        );
        assert_eq!(
            realm(r#"realm = "my shop", challenge = "rfc6750", keyword = ["bearer", "Token"]"#)
                .as_deref(),
            Some("my shop")
        );
        assert_eq!(realm(r#"keyword = "Bearer", challenge = "drf""#), None);
        assert_eq!(realm(r#"keyword = "Bearer""#), None);
        let scopes_outside =
            r#"keyword = "Bearer", challenge = "rfc6750", scopes = ["ok", "caf\u{e9}", "a\"b"]"#;
        for (text, expected) in [
            (r#"challenge = "rfc6750""#, "give the keyword beside it"),
            (
                r#"keyword = "Token", challenge = "rfc6750""#,
                "and the keyword is `Token`: use `keyword = ",
            ),
            (
                r#"keyword = ["Token", "Bearer"], challenge = "rfc6750""#,
                "the first keyword, `Token`: list",
            ),
            (
                r#"keyword = "Bearer", challenge = "oauth""#,
                "(RFC 6750's challenge, with `error=` and a realm)",
            ),
            (
                r#"keyword = "Bearer", challenge = rfc6750"#,
                "(RFC 6750's challenge, with `error=` and a realm)",
            ),
            (r#"keyword = "Bearer", realm = "shop""#, "give it with"),
            (
                r#"keyword = "Bearer", challenge = "drf", realm = "shop""#,
                "DRF's has none",
            ),
            (
                r#"keyword = "Bearer", challenge = "rfc6750", realm = "a\"b""#,
                "printable ASCII",
            ),
            (
                r#"keyword = "Bearer", challenge = "rfc6750", realm = """#,
                "printable ASCII",
            ),
            (
                r#"keyword = "Bearer", challenge = "rfc6750", realm = shop"#,
                "string literal",
            ),
            (scopes_outside, "`scope` attribute"),
        ] {
            let (_, errors) = parse_str(text);
            let message = errors.to_compile_errors().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
        let (_, errors) = parse_str(scopes_outside);
        let message = errors.to_compile_errors().to_string();
        assert_eq!(message.matches("`scope` attribute").count(), 2, "{message}");

        // An impl's challenge meets an operation's scopes (and the other way round) where
        // they are resolved; given together, the grammar reports them once.
        let (outer, _) = parse_str(r#"keyword = "Bearer", challenge = "rfc6750""#);
        let (own, _) = parse_str(r#"scopes = ["a\"b"]"#);
        let mut errors = Errors::default();
        resolve(&outer, Some(&own), &mut errors);
        resolve(&own, Some(&outer), &mut errors);
        let message = errors.to_compile_errors().to_string();
        assert_eq!(message.matches("`scope` attribute").count(), 2, "{message}");
        let (both, _) = parse_str(r#"keyword = "Bearer", challenge = "rfc6750", scopes = ["a:b"]"#);
        let mut errors = Errors::default();
        resolve(&both, None, &mut errors);
        resolve(&outer, Some(&both), &mut errors);
        assert!(errors.is_empty(), "{}", errors.to_compile_errors());
    }
}
