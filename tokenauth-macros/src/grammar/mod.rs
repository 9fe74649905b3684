//! The argument grammar that `#[token_auth(...)]` and `keyword!(...)` share: a list of
//! `name = value` arguments, and the values both macros take — `keyword`, `scheme`, `scopes`,
//! `challenge`, `realm` —
//! checked by the rules of `tokenauth-rules`. Each macro names the arguments it accepts
//! (its [`Grammar`]) and reads its own (`user`) itself, so one mistake gets one message, on
//! the same tokens, in both macros.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::{Expr, LitStr, Meta, Token};

use crate::errors::Errors;

mod values;

pub(crate) use values::{Keyword, challenge_scopes};

/// One macro's arguments, for parsing and for messages.
pub(crate) struct Grammar {
    /// How the macro is written, e.g. `` `#[token_auth(...)]` ``.
    pub(crate) written: &'static str,
    /// The arguments it accepts, in the order messages list them.
    pub(crate) params: &'static [Param],
    /// Whether its keyword may be a list (`keyword = ["Token", "Bearer"]`).
    pub(crate) keyword_lists: bool,
}

/// An argument a macro accepts.
pub(crate) struct Param {
    pub(crate) name: &'static str,
    /// Its form in the list of what is expected, e.g. `keyword = "..."`.
    pub(crate) form: &'static str,
    /// An example, e.g. `keyword = "Bearer"`.
    pub(crate) example: &'static str,
}

pub(crate) const KEYWORD: Param = Param {
    name: "keyword",
    form: "keyword = \"...\"",
    example: "keyword = \"Bearer\"",
};
pub(crate) const SCHEME: Param = Param {
    name: "scheme",
    form: "scheme = \"...\"",
    example: "scheme = \"ApiKeyAuth\"",
};
pub(crate) const SCOPES: Param = Param {
    name: "scopes",
    form: "scopes = [\"...\"]",
    example: "scopes = [\"orders:read\"]",
};
pub(crate) const CHALLENGE: Param = Param {
    name: "challenge",
    form: "challenge = \"rfc6750\"",
    example: "challenge = \"rfc6750\"",
};
pub(crate) const REALM: Param = Param {
    name: "realm",
    form: "realm = \"...\"",
    example: "realm = \"shop\"",
};

/// A known argument, given once, with a value.
pub(crate) struct Argument {
    /// Its name, one of the grammar's [`Param`]s.
    pub(crate) name: &'static str,
    /// The name as written, to point at.
    pub(crate) path: syn::Path,
    pub(crate) value: Expr,
}

/// What the shared arguments said; anything invalid was reported and left out (`None`).
#[derive(Default)]
pub(crate) struct Common {
    /// `keyword` (with `scheme`, `challenge` and `realm`): the accepted keywords, in order,
    /// each with its scheme and challenge.
    pub(crate) keywords: Option<Vec<Keyword>>,
    /// `scopes = [...]`: what the token must grant (`*` grants all, `orders:*` every scope
    /// under `orders:`); never a wildcard.
    pub(crate) scopes: Option<Vec<LitStr>>,
}

/// The most tokens the arguments may have (the longest valid ones, 64 scopes and a long user
/// type, need about 150).
pub(crate) const MAX_TOKENS: usize = 400;

/// The most tokens that can make syn's parser recurse — groups, and punctuation other than
/// separators such as `<`, `&`, `!`, `|`, `-` — that the arguments may have (a valid user type
/// with generics needs a handful). syn recurses on them, so a pathological argument (a
/// hundred `<`) would overflow the compiler's stack.
pub(crate) const MAX_NESTING: usize = 32;

impl Grammar {
    /// Whether `tokens` are within [`MAX_TOKENS`] and [`MAX_NESTING`]; if not, says so.
    pub(crate) fn within_limits(&self, tokens: &TokenStream, errors: &mut Errors) -> bool {
        let Some(span) = beyond_limits(tokens) else {
            return true;
        };
        errors.push(syn::Error::new(
            span,
            format!(
                "{} arguments this long or this deeply nested are not supported (at most \
                 {MAX_TOKENS} tokens, {MAX_NESTING} of them brackets or operators); expected \
                 arguments like {}",
                self.written,
                self.examples()
            ),
        ));
        false
    }

    /// Splits `tokens` into known arguments, each given once with a value; reports the rest.
    pub(crate) fn arguments(&self, tokens: TokenStream, errors: &mut Errors) -> Vec<Argument> {
        if !self.within_limits(&tokens, errors) {
            return Vec::new();
        }
        let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
            Ok(metas) => metas,
            Err(err) => {
                errors.push(syn::Error::new(
                    err.span(),
                    format!("{err}; expected arguments like {}", self.examples()),
                ));
                return Vec::new();
            }
        };
        let mut arguments: Vec<Argument> = Vec::new();
        for meta in metas {
            let known = meta
                .path()
                .get_ident()
                .and_then(|name| self.params.iter().find(|p| name == p.name));
            let Some(param) = known else {
                errors.push_spanned(meta.path(), self.unknown_message(meta.path()));
                continue;
            };
            if arguments.iter().any(|a| a.name == param.name) {
                errors.push_spanned(
                    meta.path(),
                    format!("duplicate argument `{}`: give it once", param.name),
                );
                continue;
            }
            let Meta::NameValue(name_value) = meta else {
                errors.push_spanned(&meta, format!("expected `{}`", param.example));
                continue;
            };
            arguments.push(Argument {
                name: param.name,
                path: name_value.path,
                value: name_value.value,
            });
        }
        arguments
    }

    /// Reads the shared arguments among `arguments`; returns them and the macro's own.
    pub(crate) fn common(
        &self,
        arguments: Vec<Argument>,
        errors: &mut Errors,
    ) -> (Common, Vec<Argument>) {
        let mut common = Common::default();
        let find = |name: &str| arguments.iter().find(|a| a.name == name);
        let keyword = find(KEYWORD.name).is_some();
        let scheme = find(SCHEME.name).map(|s| &s.value);
        let challenge = find(CHALLENGE.name);
        let realm = find(REALM.name);
        for argument in &arguments {
            match argument.name {
                "keyword" => {
                    let challenge = values::challenge(challenge, realm, errors);
                    common.keywords = self
                        .keywords(&argument.value, scheme, errors)
                        .and_then(|keywords| values::challenged(keywords, challenge, errors));
                }
                "scheme" if !keyword => errors.push_spanned(
                    &argument.path,
                    "`scheme = \"...\"` names the keyword's scheme: give the keyword beside it, \
                     e.g. `keyword = \"Token\", scheme = \"ApiKeyAuth\"`",
                ),
                "challenge" if !keyword => errors.push_spanned(
                    &argument.path,
                    "`challenge = \"rfc6750\"` is the `Bearer` keyword's challenge: give the \
                     keyword beside it, e.g. `keyword = \"Bearer\", challenge = \"rfc6750\"`",
                ),
                "realm" if challenge.is_none() => errors.push_spanned(
                    &argument.path,
                    "`realm = \"...\"` is the realm of RFC 6750's challenge: give it with \
                     `keyword = \"Bearer\", challenge = \"rfc6750\"`",
                ),
                "scheme" | "challenge" | "realm" => {} // read with the keyword
                "scopes" => common.scopes = values::scopes(&argument.value, errors),
                _ => {}
            }
        }
        if let (Some(keywords), Some(scopes)) = (&common.keywords, &common.scopes) {
            values::challenge_scopes(keywords, scopes, errors);
        }
        let shared = [
            KEYWORD.name,
            SCHEME.name,
            SCOPES.name,
            CHALLENGE.name,
            REALM.name,
        ];
        let own = arguments
            .into_iter()
            .filter(|a| !shared.contains(&a.name))
            .collect();
        (common, own)
    }

    /// The message for an unknown argument: what is valid, and the nearest name.
    fn unknown_message(&self, path: &syn::Path) -> String {
        let name = path
            .get_ident()
            .map_or_else(|| quote::quote!(#path).to_string(), ToString::to_string);
        let forms: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("`{}`", p.form))
            .collect();
        let expected = match forms.split_last() {
            Some((last, [])) => format!("expected {last}"),
            Some((last, rest)) => format!("expected {} or {last}", rest.join(", ")),
            None => "this macro takes no arguments".to_owned(),
        };
        let near = self
            .params
            .iter()
            .find(|p| edit_distance(p.name, &name) <= 2);
        match near {
            Some(p) => format!(
                "unknown argument `{name}`; did you mean `{}`? {expected}",
                p.name
            ),
            None => format!("unknown argument `{name}`; {expected}"),
        }
    }

    /// The grammar's arguments by example, for messages.
    fn examples(&self) -> String {
        let examples: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("`{}`", p.example))
            .collect();
        examples.join(", ")
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
        assert!(edit_distance("scheme", "scopes") > 2);
    }
}
