//! Property tests of the `#[token_auth(...)]` argument parser. A proc-macro crate cannot be
//! linked, so the parser is compiled here from its source files. Bounded (256 cases a
//! property); `fuzz/` has the unbounded fuzz target `attr_args`.

use std::str::FromStr as _;

use proc_macro2::{Span, TokenStream};
use proptest::prelude::*;
use quote::quote;

#[allow(dead_code)]
#[path = "../src/errors.rs"]
mod errors;

#[allow(dead_code)]
#[path = "../src/attr.rs"]
mod attr;

/// One argument as written, and whether the parser must accept it.
#[derive(Debug, Clone)]
enum Arg {
    Keyword(String),
    /// A keyword given as something other than a string literal.
    KeywordNotString(i64),
    User(Vec<String>),
    /// A user that is not a path (a literal).
    UserNotPath(String),
    Scopes(Vec<String>),
    /// `scopes = "..."`: not a list.
    ScopesNotList(String),
    /// A bare name without a value: `keyword`, `user`, `scopes`.
    Bare(&'static str),
    Unknown(String),
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

impl Arg {
    fn name(&self) -> String {
        match self {
            Arg::Keyword(_) | Arg::KeywordNotString(_) => "keyword".into(),
            Arg::User(_) | Arg::UserNotPath(_) => "user".into(),
            Arg::Scopes(_) | Arg::ScopesNotList(_) => "scopes".into(),
            Arg::Bare(name) => (*name).into(),
            Arg::Unknown(name) => name.clone(),
        }
    }

    /// Whether the argument alone is valid (duplicates aside).
    fn valid(&self) -> bool {
        match self {
            // A header scheme (RFC 9110 `tchar`s) that can also name an OpenAPI scheme.
            Arg::Keyword(k) => {
                !k.is_empty()
                    && k.chars().all(is_tchar)
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            }
            Arg::User(_) => true,
            Arg::Scopes(scopes) => scopes.iter().all(|s| {
                !s.is_empty()
                    && s.chars().count() <= 128
                    && !s.contains(|c: char| c.is_whitespace() || c.is_control())
            }),
            _ => false,
        }
    }

    fn tokens(&self) -> TokenStream {
        match self {
            Arg::Keyword(k) => quote!(keyword = #k),
            Arg::KeywordNotString(n) => quote!(keyword = #n),
            Arg::User(path) => {
                let segments = path
                    .iter()
                    .map(|s| proc_macro2::Ident::new(s, Span::call_site()));
                quote!(user = #(#segments)::*)
            }
            Arg::UserNotPath(s) => quote!(user = #s),
            Arg::Scopes(scopes) => quote!(scopes = [#(#scopes),*]),
            Arg::ScopesNotList(s) => quote!(scopes = #s),
            Arg::Bare(name) => {
                let name = proc_macro2::Ident::new(name, Span::call_site());
                quote!(#name)
            }
            Arg::Unknown(name) => {
                let name = proc_macro2::Ident::new(name, Span::call_site());
                quote!(#name = "x")
            }
        }
    }
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Z][A-Za-z0-9_]{0,8}"
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        4 => prop_oneof!["[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]{0,6}", ".{0,6}"].prop_map(Arg::Keyword),
        1 => (0..i64::MAX).prop_map(Arg::KeywordNotString),
        3 => proptest::collection::vec(ident(), 1..4).prop_map(Arg::User),
        1 => ".{0,6}".prop_map(Arg::UserNotPath),
        4 => proptest::collection::vec(prop_oneof!["[a-z:*]{1,12}", ".{0,6}"], 0..5).prop_map(Arg::Scopes),
        1 => ".{0,6}".prop_map(Arg::ScopesNotList),
        1 => proptest::sample::select(&["keyword", "user", "scopes"][..]).prop_map(Arg::Bare),
        1 => "[a-z][a-z_]{0,8}"
            .prop_filter("a known name", |n| !["keyword", "user", "scopes"].contains(&n.as_str()))
            .prop_map(Arg::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never panics on any text that lexes as tokens.
    #[test]
    fn any_tokens_never_panic(text in prop_oneof![
        ".{0,40}",
        "[a-z =\",\\[\\]:()<>'#!0-9]{0,40}",
        "(keyword|user|scopes|[a-z]+) ?= ?(\"[^\"]{0,8}\"|[A-Za-z:]{1,8}|\\[(\"[a-z: ]{0,5}\",?){0,3}\\])(, ?)?",
    ]) {
        if let Ok(tokens) = TokenStream::from_str(&text) {
            let mut errors = errors::Errors::default();
            let _args = attr::parse(tokens, &mut errors);
            // Errors, if any, render as `compile_error!`.
            let rendered = errors.to_compile_errors().to_string();
            prop_assert_eq!(errors.is_empty(), rendered.is_empty());
        }
    }

    /// The parser accepts exactly the valid argument lists (known names, each once, with
    /// valid values) and returns what they say.
    #[test]
    fn arguments_are_accepted_exactly_when_valid(
        args in proptest::collection::vec(arg(), 0..4),
        trailing_comma in any::<bool>(),
    ) {
        let parts: Vec<TokenStream> = args.iter().map(Arg::tokens).collect();
        let tokens = if trailing_comma && !parts.is_empty() {
            quote!(#(#parts),*,)
        } else {
            quote!(#(#parts),*)
        };
        let text = tokens.to_string();
        let mut errors = errors::Errors::default();
        let parsed = attr::parse(tokens, &mut errors);

        let mut names: Vec<String> = args.iter().map(Arg::name).collect();
        names.sort();
        names.dedup();
        let valid = names.len() == args.len() && args.iter().all(Arg::valid);
        prop_assert_eq!(errors.is_empty(), valid, "{}", text);
        if valid {
            for arg in &args {
                match arg {
                    Arg::Keyword(k) => {
                        let keywords = parsed.keywords.as_ref().expect("keywords");
                        let values: Vec<&str> = keywords.iter().map(|k| k.value.as_str()).collect();
                        prop_assert_eq!(values, vec![k.as_str()]);
                    }
                    Arg::User(path) => {
                        let user = parsed.user.as_ref().expect("a user type");
                        prop_assert_eq!(quote!(#user).to_string().replace(' ', ""), path.join("::"));
                    }
                    Arg::Scopes(scopes) => {
                        let got: Vec<String> =
                            parsed.scopes.iter().flatten().map(syn::LitStr::value).collect();
                        let mut expected: Vec<String> = Vec::new();
                        for scope in scopes {
                            if !expected.contains(scope) {
                                expected.push(scope.clone());
                            }
                        }
                        prop_assert_eq!(&got, &expected);
                    }
                    _ => unreachable!("invalid arguments were accepted"),
                }
            }
            if !args.iter().any(|a| matches!(a, Arg::Keyword(_))) {
                prop_assert!(parsed.keywords.is_none());
            }
        }
    }
}
