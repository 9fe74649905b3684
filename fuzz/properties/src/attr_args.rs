//! The `#[token_auth(...)]` argument parser.

use std::str::FromStr as _;

use crate::{attr, errors};

/// The `#[token_auth(...)]` argument parser, compiled from tokenauth-macros' own source (a
/// proc-macro crate cannot be linked): never panics on any text that lexes; without errors,
/// what it accepted is valid (keywords that name an HTTP scheme and an OpenAPI security
/// scheme, non-empty scopes without whitespace, no wildcard); with errors, they render as
/// `compile_error!`s.
///
/// ```
/// tokenauth_fuzz_properties::attr_args(br#"keyword = ["Token", "Bearer"], scopes = ["a:b"]"#);
/// tokenauth_fuzz_properties::attr_args(b"keywrd = 1, user = (");
/// ```
pub fn attr_args(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tokens) = proc_macro2::TokenStream::from_str(text) else {
        return;
    };
    let mut errors = errors::Errors::default();
    let args = attr::parse(tokens, &mut errors);
    let compile_errors = errors.to_compile_errors();
    if errors.is_empty() {
        assert!(compile_errors.is_empty());
        for keyword in args.keywords.iter().flatten() {
            // An HTTP auth scheme, whose OpenAPI security scheme has a valid name (derived
            // from the keyword, or given with `scheme = "..."`).
            assert!(
                tokenauth_rules::is_valid_keyword(&keyword.value),
                "accepted keyword {:?}",
                keyword.value
            );
            assert!(tokenauth_rules::is_valid_scheme_name(&keyword.scheme));
        }
        let mut seen = std::collections::HashSet::new();
        for scope in args.scopes.iter().flatten() {
            let value = scope.value();
            assert!(!value.is_empty() && !value.contains(char::is_whitespace));
            assert!(
                !tokenauth_rules::is_wildcard(&value),
                "wildcard {value:?} required"
            );
            assert!(seen.insert(value.clone()), "scope {value:?} accepted twice");
        }
    } else {
        assert!(!compile_errors.is_empty());
        // The errors render as `compile_error!` invocations.
        assert!(compile_errors.to_string().contains("compile_error"));
    }
}
