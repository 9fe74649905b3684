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
    /// `keyword = "..."`: the authentication scheme word; `Token` when absent.
    pub(crate) keyword: Option<Keyword>,
    /// `user = Type`: the user type, for a user parameter not named `User` or a handler that
    /// takes only a `Token`.
    pub(crate) user: Option<Type>,
    /// `scopes = ["orders:read", …]`: what the token must grant (`*` grants all).
    pub(crate) scopes: Option<Vec<syn::LitStr>>,
}

/// A validated keyword with the span of its literal.
#[derive(Clone)]
pub(crate) struct Keyword {
    pub(crate) value: String,
    pub(crate) span: Span,
}

impl Keyword {
    pub(crate) fn default_token() -> Self {
        Keyword {
            value: "Token".to_owned(),
            span: Span::call_site(),
        }
    }
}

/// Parses `args`, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Args {
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
            "keyword" => parsed.keyword = keyword(&name_value.value, errors),
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

fn keyword(value: &Expr, errors: &mut Errors) -> Option<Keyword> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = value
    else {
        errors.push_spanned(
            value,
            "the keyword must be a string literal, e.g. `keyword = \"Bearer\"`",
        );
        return None;
    };
    let text = lit.value();
    if let Some(problem) = keyword_problem(&text) {
        errors.push(syn::Error::new(lit.span(), problem));
        return None;
    }
    Some(Keyword {
        value: text,
        span: lit.span(),
    })
}

fn scopes(value: &Expr, errors: &mut Errors) -> Option<Vec<syn::LitStr>> {
    const EXPECTED: &str = "expected a list of scope strings, e.g. `scopes = [\"orders:read\"]`";
    let Expr::Array(array) = value else {
        errors.push_spanned(value, EXPECTED);
        return None;
    };
    let mut scopes = Vec::new();
    for element in &array.elems {
        match element {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let text = lit.value();
                if text.is_empty() || text.chars().any(char::is_whitespace) {
                    errors.push_spanned(
                        lit,
                        "a scope is a non-empty string without whitespace, e.g. `\"orders:read\"`",
                    );
                } else {
                    scopes.push(lit.clone());
                }
            }
            other => errors.push_spanned(other, EXPECTED),
        }
    }
    Some(scopes)
}

/// Why `keyword` cannot be an RFC 9110 auth-scheme token, if it cannot.
fn keyword_problem(keyword: &str) -> Option<String> {
    const HELP: &str = "use letters, digits and !#$%&'*+-.^_`|~ only, e.g. `keyword = \"Bearer\"`";
    if keyword.is_empty() {
        return Some(format!("the keyword is empty; {HELP}"));
    }
    let bad = keyword.chars().find(|c| !is_tchar(*c))?;
    let what = if bad.is_whitespace() {
        "whitespace".to_owned()
    } else {
        format!("`{}`", bad.escape_default())
    };
    Some(format!(
        "the keyword `{}` contains {what}, which an HTTP authentication scheme cannot; {HELP}",
        keyword.escape_default()
    ))
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
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

    #[test]
    fn keyword_rules() {
        assert!(keyword_problem("Token").is_none());
        assert!(keyword_problem("Api-Key_1.0!").is_none());
        assert!(keyword_problem("").unwrap().contains("empty"));
        assert!(keyword_problem("Two Words").unwrap().contains("whitespace"));
        assert!(keyword_problem("Key:").unwrap().contains("`:`"));
        assert!(keyword_problem("Clé").is_some());
    }
}
