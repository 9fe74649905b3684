//! The macro and the runtime agree on every rule they share — keyword syntax, scheme naming,
//! scope syntax, which scopes may be required (no wildcard) and what grants them — because
//! both take it from `tokenauth-rules`. This test holds them to it:
//! the macro's argument parser (compiled here from its source, as a proc-macro crate cannot
//! be linked) is asked what the runtime is asked, for the same inputs.

use proptest::prelude::*;
use tokenauth::keyword::Keyword;
use tokenauth::{NewToken, Policy};

use crate::{attr, errors};

/// What the macro makes of `keyword = "<keyword>"`: the scheme name, or its error.
fn macro_scheme(keyword: &str) -> Result<String, String> {
    let literal = proc_macro2::Literal::string(keyword);
    let mut errors = errors::Errors::default();
    let args = attr::parse(quote::quote!(keyword = #literal), &mut errors);
    match args.keywords {
        Some(keywords) if errors.is_empty() => Ok(keywords[0].scheme.clone()),
        _ => Err(errors.to_compile_errors().to_string()),
    }
}

/// Whether the macro accepts `scopes = ["<scope>"]`.
fn macro_accepts_scope(scope: &str) -> bool {
    let literal = proc_macro2::Literal::string(scope);
    let mut errors = errors::Errors::default();
    attr::parse(quote::quote!(scopes = [#literal]), &mut errors);
    errors.is_empty()
}

/// Whether the login view accepts `scopes: ["<scope>"]` in a body.
fn login_accepts_scope(scope: &str) -> bool {
    let body = serde_json::json!({ "username": "u", "password": "p", "scopes": [scope] });
    let parsed = tokenauth::openapi::endpoints::testing::parse_login_body(
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    parsed.is_ok()
}

fn keyword_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9._-]{0,10}",
        "[!-~]{0,8}",
        ".{0,6}",
        "(?i)bearer",
        "(?i)token",
    ]
}

fn scope_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z:*]{1,12}",
        ".{0,8}",
        "\\PC{120,135}",
        "[a-z]{1,4}[\u{0}-\u{20}\u{7f}-\u{a0}\u{2000}-\u{200b}\u{3000}][a-z]{0,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A keyword the macro accepts is one the runtime accepts, named alike; and the macro
    /// refuses exactly what the runtime refuses.
    #[test]
    fn keywords(keyword in keyword_like()) {
        let by_macro = macro_scheme(&keyword);
        let by_runtime = tokenauth::rules::scheme_name(&keyword);
        prop_assert_eq!(by_macro.is_ok(), by_runtime.is_ok(), "{:?}", keyword);
        if let (Ok(by_macro), Ok(by_runtime)) = (&by_macro, &by_runtime) {
            prop_assert_eq!(by_macro, by_runtime);
            prop_assert!(tokenauth::rules::is_valid_keyword(&keyword));
            prop_assert!(tokenauth::rules::is_valid_scheme_name(by_macro));
            // The runtime's header parsing takes the keyword as the macro named it: any case.
            let header = format!("{} abc", keyword.to_ascii_uppercase());
            prop_assert_eq!(
                tokenauth::parse_authorization(Some(header.as_bytes()), &keyword),
                Ok(Some("abc"))
            );
        }
        // `Bearer` in any case is the one `BearerAuth` scheme.
        if keyword.eq_ignore_ascii_case("bearer") {
            prop_assert_eq!(by_macro.as_deref(), Ok("BearerAuth"));
        }
    }

    /// A scope a token can be granted is one a login may ask for, and the other way round;
    /// the macro accepts in `scopes = [...]` exactly those that are not wildcards (`*`,
    /// `orders:*`), which are also exactly the scopes the runtime's check grants a `*` token
    /// and the scopes an implication may name.
    #[test]
    fn scopes(scope in scope_like()) {
        let by_macro = macro_accepts_scope(&scope);
        let grantable = NewToken::default().scope(scope.clone()).is_ok();
        prop_assert_eq!(login_accepts_scope(&scope), grantable, "{:?}", scope);
        prop_assert_eq!(tokenauth::rules::is_valid_scope(&scope), grantable, "{:?}", scope);
        let wildcard = tokenauth::rules::is_wildcard(&scope);
        prop_assert_eq!(by_macro, grantable && !wildcard, "{:?}", scope);
        prop_assert_eq!(by_macro, tokenauth::rules::is_valid_required_scope(&scope), "{:?}", scope);
        prop_assert_eq!(tokenauth::rules::grants(&["*"], &scope), by_macro, "{:?}", scope);
        let implication = Policy::default().scope_implies(scope.clone(), "orders:read");
        prop_assert_eq!(implication.is_ok(), by_macro, "{:?}", scope);
        // A wildcard may be asked for where a wildcard covering it is grantable, and a
        // required scope where its wildcards are.
        if grantable {
            prop_assert!(tokenauth::rules::may_request(&["*"], &scope), "{:?}", scope);
            for covering in tokenauth::rules::wildcards_covering(&scope) {
                prop_assert!(tokenauth::rules::covers(&covering, &scope), "{:?}", scope);
                prop_assert!(tokenauth::rules::may_request(&[&covering], &scope));
            }
        }
    }
}

tokenauth::keyword!(Plain = "Token");
tokenauth::keyword!(Lower = "bearer");
tokenauth::keyword!(Dashed = "Api-Key");
tokenauth::keyword!(Dotted = "x.y_z");

/// `keyword!` (a proc macro of its own) names and describes schemes as `#[token_auth]` does.
#[test]
fn keyword_types_name_schemes_as_the_attribute_does() {
    fn check<K: Keyword>() {
        assert_eq!(macro_scheme(K::KEYWORD).as_deref(), Ok(K::SCHEME_NAME));
        assert_eq!(
            K::SCHEME_DESCRIPTION,
            tokenauth_rules::scheme_description(K::KEYWORD)
        );
    }
    check::<Plain>();
    check::<Lower>();
    check::<Dashed>();
    check::<Dotted>();
    check::<tokenauth::keyword::TokenKeyword>();
    check::<tokenauth::keyword::BearerKeyword>();
}
