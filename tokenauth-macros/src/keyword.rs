//! `keyword!`: a keyword type, its OpenAPI security scheme named and described by the rules
//! `#[token_auth]` uses (`tokenauth-rules`), checked at compile time.
//!
//! `keyword!(#[doc = "…"] pub Name = "Kw", scheme = "KwAuth", scopes = ["a:b"], challenge =
//! "rfc6750", realm = "shop")`; all but the keyword are optional. After the name, the input is the argument grammar of
//! `#[token_auth]` (`grammar`), the keyword given first without its `keyword =`.
//!
//! Phases as `#[token_auth]`'s: `parse` reads the name and arguments, checking each value;
//! `expand` generates, with defaults where an argument was refused, and emits every error at
//! its one exit.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::parse::{ParseStream, Parser as _};
use syn::{Attribute, Expr, Ident, LitStr, Token, Visibility};

use crate::errors::Errors;
use crate::grammar::{self, Argument, Grammar, Keyword};

/// The arguments `keyword!` accepts after its keyword.
const GRAMMAR: Grammar = Grammar {
    written: "`keyword!(...)`",
    params: &[
        grammar::SCHEME,
        grammar::SCOPES,
        grammar::CHALLENGE,
        grammar::REALM,
    ],
    keyword_lists: false,
};

/// What is expected where the keyword is not.
const EXPECTED: &str = "expected the keyword, e.g. `keyword!(pub ApiKey = \"Api-Key\")`";

/// What the macro was given: the type to define and its requirement.
pub(crate) struct Input {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    /// The keyword and its scheme; `None` if refused (reported).
    pub(crate) keyword: Option<Keyword>,
    /// The scopes; `None` if refused (reported).
    pub(crate) scopes: Option<Vec<LitStr>>,
}

pub(crate) fn keyword(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let expanded = parse(input, &mut errors).map(expand);
    let errors = errors.to_compile_errors();
    quote! {
        #expanded
        #errors
    }
}

/// Parses the input, recording every problem in `errors`; `None` if there is no type name to
/// define.
pub(crate) fn parse(input: TokenStream, errors: &mut Errors) -> Option<Input> {
    let (attrs, vis, name, eq, rest) = match head.parse2(input) {
        Ok(head) => head,
        Err(err) => {
            errors.push(syn::Error::new(
                err.span(),
                format!(
                    "{err}; expected a type name and its keyword, e.g. \
                     `keyword!(pub ApiKey = \"Api-Key\")`"
                ),
            ));
            return None;
        }
    };
    let mut input = Input {
        attrs,
        vis,
        name,
        keyword: None,
        scopes: None,
    };
    if !GRAMMAR.within_limits(&rest, errors) {
        return Some(input);
    }
    // The keyword, up to the first comma; the arguments after it.
    let mut rest = rest.into_iter();
    let value: TokenStream = rest
        .by_ref()
        .take_while(|token| !matches!(token, TokenTree::Punct(p) if p.as_char() == ','))
        .collect();
    if value.is_empty() {
        errors.push_spanned(eq, EXPECTED);
        return Some(input);
    }
    let value = match syn::parse2::<Expr>(value) {
        Ok(value) => value,
        Err(err) => {
            errors.push(syn::Error::new(err.span(), format!("{err}; {EXPECTED}")));
            return Some(input);
        }
    };
    let keyword = Argument {
        name: grammar::KEYWORD.name,
        path: Ident::new(grammar::KEYWORD.name, eq.span).into(),
        value,
    };
    let mut arguments = vec![keyword];
    arguments.extend(GRAMMAR.arguments(rest.collect(), errors));
    let (common, _) = GRAMMAR.common(arguments, errors);
    input.keyword = common.keywords.and_then(|mut keywords| keywords.pop());
    input.scopes = common.scopes;
    Some(input)
}

/// What comes before the arguments: attributes, visibility, name, `=`; and the rest.
type Head = (Vec<Attribute>, Visibility, Ident, Token![=], TokenStream);

fn head(input: ParseStream<'_>) -> syn::Result<Head> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis = input.parse()?;
    let name: Ident = input.parse()?;
    if input.is_empty() {
        // Not syn's end-of-input error, which would point at the whole invocation.
        return Err(syn::Error::new(name.span(), "expected `=` after the name"));
    }
    let eq = input.parse()?;
    let rest = input.parse()?;
    Ok((attrs, vis, name, eq, rest))
}

/// The type and its `Keyword` and `Requirement` impls; `Token` for a refused keyword, no
/// scopes for refused scopes.
fn expand(input: Input) -> TokenStream {
    let Input {
        attrs,
        vis,
        name,
        keyword,
        scopes,
    } = input;
    let Keyword {
        value: keyword,
        scheme,
        realm,
        ..
    } = keyword.unwrap_or_else(Keyword::default_token);
    let challenge = realm.map(|realm| {
        quote! {
            const CHALLENGE: ::tokenauth::__private::Challenge =
                ::tokenauth::__private::Challenge::rfc6750(#realm);
        }
    });
    let scopes = scopes.unwrap_or_default();
    let description = tokenauth_rules::scheme_description(&keyword);
    quote! {
        #(#attrs)*
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::default::Default,
        )]
        #vis struct #name;
        impl ::tokenauth::__private::Keyword for #name {
            const KEYWORD: &'static str = #keyword;
            const SCHEME_NAME: &'static str = #scheme;
            const SCHEME_DESCRIPTION: &'static str = #description;
            #challenge
        }
        impl ::tokenauth::__private::Requirement for #name {
            const SCHEMES: &'static [::tokenauth::__private::Scheme] =
                &[<Self as ::tokenauth::__private::Keyword>::SCHEME];
            const SCOPES: &'static [&'static str] = &[#(#scopes),*];
        }
    }
}
