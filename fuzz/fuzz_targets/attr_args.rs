//! The `#[token_auth(...)]` argument parser, compiled from tokenauth-macros' own source
//! (a proc-macro crate cannot be linked): never panics on any text that lexes; without
//! errors, what it accepted is valid.
#![no_main]

use std::str::FromStr as _;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../tokenauth-macros/src/errors.rs"]
mod errors;

#[allow(dead_code)]
#[path = "../../tokenauth-macros/src/attr.rs"]
mod attr;

fuzz_target!(|data: &[u8]| {
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
            // An HTTP auth scheme that can also name an OpenAPI security scheme.
            assert!(!keyword.value.is_empty());
            assert!(
                keyword
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)),
                "accepted keyword {:?}",
                keyword.value
            );
            assert!(tokenauth::is_valid_scheme_name(&keyword.scheme));
        }
        for scope in args.scopes.iter().flatten() {
            let value = scope.value();
            assert!(!value.is_empty() && !value.contains(char::is_whitespace));
        }
    } else {
        assert!(!compile_errors.is_empty());
        // The errors render as `compile_error!` invocations.
        assert!(compile_errors.to_string().contains("compile_error"));
    }
});
