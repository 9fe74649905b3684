//! Parsing of the attribute's arguments: `#[token_auth(keyword = "Bearer", user = Account)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, Meta, Token, Type};

use crate::errors::Errors;

/// The arguments this attribute accepts, for messages and suggestions.
const KNOWN: &[&str] = &["keyword", "user", "scopes"];

/// The parsed arguments. Anything invalid was reported and left at its default.
#[derive(Default)]
pub(crate) struct Args {
    /// `keyword = "..."` or `keyword = ["...", ...]`: the accepted authentication scheme
    /// words, in order; `Token` when absent.
    pub(crate) keywords: Option<Vec<Keyword>>,
    /// `user = Type`: the user type, for a user parameter not named `User` or a handler that
    /// takes only a `Token`.
    pub(crate) user: Option<Type>,
    /// `scopes = ["orders:read", …]`: what the token must grant (`*` grants all).
    pub(crate) scopes: Option<Vec<syn::LitStr>>,
}

/// The arguments that apply to one handler or operation: an operation's own
/// `#[token_auth(...)]` over its impl's, each argument replacing the impl's as a whole.
pub(crate) struct Resolved {
    /// The accepted keywords, in order; never empty.
    pub(crate) keywords: Vec<Keyword>,
    pub(crate) user: Option<Type>,
    pub(crate) scopes: Vec<syn::LitStr>,
}

/// Merges an impl's arguments with an operation's own (none for a handler): the one place
/// where arguments are merged.
pub(crate) fn resolve(outer: &Args, own: Option<&Args>) -> Resolved {
    let pick = |f: fn(&Args) -> bool| own.filter(|own| f(own)).unwrap_or(outer);
    Resolved {
        keywords: pick(|a| a.keywords.is_some())
            .keywords
            .clone()
            .unwrap_or_else(|| vec![Keyword::default_token()]),
        user: pick(|a| a.user.is_some()).user.clone(),
        scopes: pick(|a| a.scopes.is_some())
            .scopes
            .clone()
            .unwrap_or_default(),
    }
}

/// The span of the first token past [`MAX_TOKENS`] or [`MAX_NESTING`] in `tokens`, counted
/// into groups without recursion, if there is one.
fn beyond_limits(tokens: &TokenStream) -> Option<Span> {
    use proc_macro2::TokenTree;
    let mut pending = vec![tokens.clone().into_iter()];
    let (mut count, mut nesting) = (0, 0);
    while let Some(iter) = pending.last_mut() {
        let Some(token) = iter.next() else {
            pending.pop();
            continue;
        };
        count += 1;
        nesting += match &token {
            TokenTree::Group(_) => 1,
            TokenTree::Punct(p) => usize::from(!matches!(
                p.as_char(),
                ',' | '=' | ':' | '>' | '+' | '.' | ';'
            )),
            TokenTree::Ident(_) | TokenTree::Literal(_) => 0,
        };
        if count > MAX_TOKENS || nesting > MAX_NESTING {
            return Some(token.span());
        }
        if let TokenTree::Group(group) = token {
            pending.push(group.stream().into_iter());
        }
    }
    None
}

/// A validated keyword and its security scheme's name.
#[derive(Clone)]
pub(crate) struct Keyword {
    pub(crate) value: String,
    pub(crate) scheme: String,
}

impl Keyword {
    pub(crate) fn default_token() -> Self {
        Keyword {
            value: "Token".to_owned(),
            scheme: "TokenAuth".to_owned(),
        }
    }
}

/// The most tokens the arguments may have (the longest valid ones, 64 scopes and a long user
/// type, need about 150).
const MAX_TOKENS: usize = 400;

/// The most tokens that can make syn's parser recurse — groups, and punctuation other than
/// separators such as `<`, `&`, `!`, `|`, `-` — that the arguments may have (a valid user type
/// with generics needs a handful). syn recurses on them, so a pathological argument (a
/// hundred `<`) would overflow the compiler's stack.
const MAX_NESTING: usize = 32;

/// Parses `args`, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Args {
    if let Some(span) = beyond_limits(&args) {
        errors.push(syn::Error::new(
            span,
            format!(
                "`#[token_auth(...)]` arguments this long or this deeply nested are not \
                 supported (at most {MAX_TOKENS} tokens, {MAX_NESTING} of them brackets or \
                 operators); expected arguments like `keyword = \"Bearer\"`, `user = MyUser`, \
                 `scopes = [\"a:b\"]`"
            ),
        ));
        return Args::default();
    }
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(err) => {
            errors.push(syn::Error::new(
                err.span(),
                format!("{err}; expected arguments like `keyword = \"Bearer\"` or `user = MyUser`"),
            ));
            return Args::default();
        }
    };
    let mut parsed = Args::default();
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        let name = meta.path().get_ident().map(ToString::to_string);
        let Some(name) = name.filter(|name| KNOWN.contains(&name.as_str())) else {
            errors.push_spanned(meta.path(), unknown_message(meta.path()));
            continue;
        };
        if seen.contains(&name) {
            errors.push_spanned(
                meta.path(),
                format!("duplicate argument `{name}`: give it once"),
            );
            continue;
        }
        seen.push(name.clone());
        let Meta::NameValue(name_value) = &meta else {
            let example = match name.as_str() {
                "keyword" => "keyword = \"Bearer\"",
                "scopes" => "scopes = [\"orders:read\"]",
                _ => "user = MyUser",
            };
            errors.push_spanned(&meta, format!("expected `{example}`"));
            continue;
        };
        match name.as_str() {
            "keyword" => parsed.keywords = keywords(&name_value.value, errors),
            "scopes" => parsed.scopes = scopes(&name_value.value, errors),
            _ => match &name_value.value {
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
            },
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

/// `keyword = "Bearer"` or `keyword = ["Token", "Bearer"]`.
fn keywords(value: &Expr, errors: &mut Errors) -> Option<Vec<Keyword>> {
    const EXPECTED: &str = "the keyword must be a string literal, e.g. `keyword = \"Bearer\"`, \
                            or a list of them, e.g. `keyword = [\"Token\", \"Bearer\"]`";
    let literals: Vec<&Expr> = match value {
        Expr::Array(array) if array.elems.is_empty() => {
            errors.push_spanned(
                value,
                "an empty keyword list accepts no credentials; give at least one keyword, e.g. \
                 `keyword = [\"Token\", \"Bearer\"]`",
            );
            return None;
        }
        Expr::Array(array) => array.elems.iter().collect(),
        other => vec![other],
    };
    let mut keywords: Vec<Keyword> = Vec::new();
    let mut valid = true;
    for literal in literals {
        let Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) = literal
        else {
            errors.push_spanned(literal, EXPECTED);
            valid = false;
            continue;
        };
        let text = lit.value();
        let scheme = match tokenauth_rules::scheme_name(&text) {
            Ok(scheme) => scheme,
            Err(problem) => {
                let problem = match tokenauth_rules::keyword_problem(&text) {
                    Some(problem) => problem,
                    None => format!(
                        "{problem}; use a keyword of letters, digits, `.`, `-` and `_`, e.g. \
                         `keyword = \"Api-Key\"`"
                    ),
                };
                errors.push(syn::Error::new(lit.span(), problem));
                valid = false;
                continue;
            }
        };
        if let Some(first) = keywords
            .iter()
            .find(|k| k.value.eq_ignore_ascii_case(&text))
        {
            errors.push(syn::Error::new(
                lit.span(),
                format!(
                    "the keyword `{text}` is listed twice (`{}` before it; keywords are \
                     compared ignoring ASCII case): give each keyword once",
                    first.value
                ),
            ));
            valid = false;
            continue;
        }
        keywords.push(Keyword {
            value: text,
            scheme,
        });
    }
    valid.then_some(keywords)
}

fn scopes(value: &Expr, errors: &mut Errors) -> Option<Vec<syn::LitStr>> {
    const EXPECTED: &str = "expected a list of scope strings, e.g. `scopes = [\"orders:read\"]`";
    let Expr::Array(array) = value else {
        errors.push_spanned(value, EXPECTED);
        return None;
    };
    let mut scopes: Vec<syn::LitStr> = Vec::new();
    for element in &array.elems {
        match element {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let text = lit.value();
                if let Some(problem) = tokenauth_rules::scope_problem(&text) {
                    errors.push_spanned(lit, problem);
                } else if scopes.len() == tokenauth_rules::MAX_SCOPES {
                    errors.push_spanned(
                        lit,
                        format!(
                            "at most {} scopes: a token cannot grant more",
                            tokenauth_rules::MAX_SCOPES
                        ),
                    );
                } else if !scopes.iter().any(|s| s.value() == text) {
                    scopes.push(lit.clone());
                }
            }
            other => errors.push_spanned(other, EXPECTED),
        }
    }
    Some(scopes)
}

fn unknown_message(path: &syn::Path) -> String {
    let name = path
        .get_ident()
        .map_or_else(|| quote::quote!(#path).to_string(), ToString::to_string);
    let expected = "expected `keyword = \"...\"`, `user = Type` or `scopes = [\"...\"]`";
    match KNOWN.iter().find(|known| edit_distance(known, &name) <= 2) {
        Some(known) => format!("unknown argument `{name}`; did you mean `{known}`? {expected}"),
        None => format!("unknown argument `{name}`; {expected}"),
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_near_misses() {
        assert_eq!(edit_distance("keyword", "keywrd"), 1);
        assert_eq!(edit_distance("keyword", "kyeword"), 2);
        assert_eq!(edit_distance("user", "usr"), 1);
        assert!(edit_distance("keyword", "scopes") > 2);
    }

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
            let n = MAX_NESTING;
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
}
