//! Property tests of the argument grammar of `#[token_auth(...)]` and `keyword!(...)`. A
//! proc-macro crate cannot be linked, so the parsers are compiled here from their source
//! files. Bounded (256 cases a property); `fuzz/` has the unbounded fuzz target `attr_args`.

use std::str::FromStr as _;

use proc_macro2::{Span, TokenStream};
use proptest::prelude::*;
use quote::quote;

#[allow(dead_code)]
#[path = "../src/errors.rs"]
mod errors;

#[allow(dead_code)]
#[path = "../src/grammar/mod.rs"]
mod grammar;

#[allow(dead_code)]
#[path = "../src/attr.rs"]
mod attr;

#[allow(dead_code)]
#[path = "../src/keyword.rs"]
mod keyword;

/// One argument as written, and whether the parser must accept it.
#[derive(Debug, Clone)]
enum Arg {
    Keyword(String),
    /// A keyword given as something other than a string literal.
    KeywordNotString(i64),
    User(Vec<String>),
    /// A user that is not a path (a literal).
    UserNotPath(String),
    /// `scheme = "..."`.
    Scheme(String),
    /// A scheme given as something other than a string literal.
    SchemeNotString(String),
    Scopes(Vec<String>),
    /// `scopes = "..."`: not a list.
    ScopesNotList(String),
    /// A bare name without a value: `keyword`, `scheme`, `user`, `scopes`.
    Bare(&'static str),
    Unknown(String),
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".-_".contains(c)
}

impl Arg {
    fn name(&self) -> String {
        match self {
            Arg::Keyword(_) | Arg::KeywordNotString(_) => "keyword".into(),
            Arg::User(_) | Arg::UserNotPath(_) => "user".into(),
            Arg::Scheme(_) | Arg::SchemeNotString(_) => "scheme".into(),
            Arg::Scopes(_) | Arg::ScopesNotList(_) => "scopes".into(),
            Arg::Bare(name) => (*name).into(),
            Arg::Unknown(name) => name.clone(),
        }
    }

    /// Whether the argument is valid among `args` (duplicates aside): a keyword needs
    /// `scheme` beside it when `<keyword>Auth` cannot name a scheme, and `scheme` needs a
    /// keyword beside it.
    fn valid(&self, args: &[Arg]) -> bool {
        let scheme = args.iter().find_map(|a| match a {
            Arg::Scheme(s) => Some(s),
            _ => None,
        });
        match self {
            // A header scheme (RFC 9110 `tchar`s) that can also name an OpenAPI scheme, or
            // whose scheme is named.
            Arg::Keyword(k) => {
                !k.is_empty()
                    && k.chars().all(is_tchar)
                    && (scheme.is_some() || k.chars().all(is_scheme_char))
            }
            Arg::Scheme(s) => {
                !s.is_empty()
                    && s.chars().all(is_scheme_char)
                    && args.iter().any(|a| matches!(a, Arg::Keyword(_)))
            }
            Arg::User(_) => true,
            Arg::Scopes(scopes) => scopes.iter().enumerate().all(|(i, s)| {
                !s.is_empty()
                    && s.chars().count() <= 128
                    && !s.contains(|c: char| c.is_whitespace() || c.is_control())
                    // A requirement is never a wildcard: `*`, `orders:*`.
                    && s != "*"
                    && !s.ends_with(":*")
                    && !scopes[..i].contains(s)
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
            Arg::Scheme(s) => quote!(scheme = #s),
            Arg::SchemeNotString(s) => {
                let name = proc_macro2::Ident::new(s, Span::call_site());
                quote!(scheme = #name)
            }
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

/// The arguments of `#[token_auth(...)]`.
const KNOWN: [&str; 4] = ["keyword", "scheme", "user", "scopes"];

fn ident() -> impl Strategy<Value = String> {
    "[A-Z][A-Za-z0-9_]{0,8}"
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        4 => prop_oneof!["[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]{0,6}", ".{0,6}"].prop_map(Arg::Keyword),
        1 => (0..i64::MAX).prop_map(Arg::KeywordNotString),
        3 => proptest::collection::vec(ident(), 1..4).prop_map(Arg::User),
        1 => ".{0,6}".prop_map(Arg::UserNotPath),
        2 => prop_oneof!["[A-Za-z][A-Za-z0-9._-]{0,10}", ".{0,6}"].prop_map(Arg::Scheme),
        1 => ident().prop_map(Arg::SchemeNotString),
        4 => proptest::collection::vec(prop_oneof!["[a-z:*]{1,12}", "[ab]", ".{0,6}"], 0..5).prop_map(Arg::Scopes),
        1 => ".{0,6}".prop_map(Arg::ScopesNotList),
        1 => proptest::sample::select(&KNOWN[..]).prop_map(Arg::Bare),
        1 => "[a-z][a-z_]{0,8}"
            .prop_filter("a known name", |n| !KNOWN.contains(&n.as_str()))
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
        "(keyword|scheme|user|scopes|[a-z]+) ?= ?(\"[^\"]{0,8}\"|[A-Za-z:]{1,8}|\\[(\"[a-z: ]{0,5}\",?){0,3}\\])(, ?)?",
        "(pub )?[A-Z][a-z]{0,4} ?= ?(\"[^\"]{0,8}\"|[A-Za-z:]{1,8}|\\[\"[a-z]{0,3}\"\\])(, ?(scheme|scopes|[a-z]+) ?= ?(\"[^\"]{0,8}\"|\\[(\"[a-z: ]{0,5}\",?){0,3}\\]))?",
    ]) {
        if let Ok(tokens) = TokenStream::from_str(&text) {
            let mut errors = errors::Errors::default();
            let _args = attr::parse(tokens.clone(), &mut errors);
            // Errors, if any, render as `compile_error!`.
            let rendered = errors.to_compile_errors().to_string();
            prop_assert_eq!(errors.is_empty(), rendered.is_empty());
            let mut errors = errors::Errors::default();
            let input = keyword::parse(tokens, &mut errors);
            let rendered = errors.to_compile_errors().to_string();
            prop_assert_eq!(errors.is_empty(), rendered.is_empty());
            prop_assert!(input.is_some() || !errors.is_empty());
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
        let valid = names.len() == args.len() && args.iter().all(|a| a.valid(&args));
        prop_assert_eq!(errors.is_empty(), valid, "{}", text);
        if valid {
            for arg in &args {
                match arg {
                    Arg::Keyword(k) => {
                        let keywords = parsed.keywords.as_ref().expect("keywords");
                        let values: Vec<&str> = keywords.iter().map(|k| k.value.as_str()).collect();
                        prop_assert_eq!(values, vec![k.as_str()]);
                    }
                    Arg::Scheme(s) => {
                        let keywords = parsed.keywords.as_ref().expect("keywords");
                        prop_assert_eq!(&keywords[0].scheme, s);
                    }
                    Arg::User(path) => {
                        let user = parsed.user.as_ref().expect("a user type");
                        prop_assert_eq!(quote!(#user).to_string().replace(' ', ""), path.join("::"));
                    }
                    Arg::Scopes(scopes) => {
                        let got: Vec<String> =
                            parsed.scopes.iter().flatten().map(syn::LitStr::value).collect();
                        prop_assert_eq!(&got, scopes);
                    }
                    _ => unreachable!("invalid arguments were accepted"),
                }
            }
            if !args.iter().any(|a| matches!(a, Arg::Keyword(_))) {
                prop_assert!(parsed.keywords.is_none());
            }
        }
    }

    /// One grammar: `keyword!(Name = K, ...)` says of its keyword, `scheme` and `scopes`
    /// exactly what `#[token_auth(keyword = K, ...)]` says — the same messages, in the same
    /// order — and takes the same keyword, scheme and scopes from them.
    #[test]
    fn keyword_macro_and_attribute_agree(
        keyword in prop_oneof!["[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]{0,6}", ".{0,6}"],
        args in proptest::collection::vec(shared_arg(), 0..4),
    ) {
        let literal = proc_macro2::Literal::string(&keyword);
        let rest: Vec<TokenStream> = args.iter().map(Arg::tokens).collect();
        let attribute = quote!(keyword = #literal, #(#rest),*);
        let mut by_attribute = errors::Errors::default();
        let parsed = attr::parse(attribute.clone(), &mut by_attribute);
        let mut by_macro = errors::Errors::default();
        let input = keyword::parse(quote!(pub Name = #literal, #(#rest),*), &mut by_macro)
            .expect("a name to define");

        prop_assert_eq!(
            by_macro.to_compile_errors().to_string(),
            by_attribute.to_compile_errors().to_string(),
            "{}",
            attribute
        );
        let from_attribute = parsed.keywords.map(|mut k| k.remove(0));
        prop_assert_eq!(
            input.keyword.map(|k| (k.value, k.scheme)),
            from_attribute.map(|k| (k.value, k.scheme))
        );
        let scopes = |s: Option<Vec<syn::LitStr>>| {
            s.map(|s| s.iter().map(syn::LitStr::value).collect::<Vec<_>>())
        };
        prop_assert_eq!(scopes(input.scopes), scopes(parsed.scopes));
    }
}

/// An argument both macros take after the keyword: `scheme` and `scopes`, valid or not.
fn shared_arg() -> impl Strategy<Value = Arg> {
    arg().prop_filter("an argument of both macros", |arg| {
        matches!(
            arg,
            Arg::Scheme(_)
                | Arg::SchemeNotString(_)
                | Arg::Scopes(_)
                | Arg::ScopesNotList(_)
                | Arg::Bare("scheme" | "scopes")
        )
    })
}
