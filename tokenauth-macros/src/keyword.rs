//! `keyword!`: a keyword type, its OpenAPI security scheme named and described by the rules
//! `#[token_auth]` uses (`tokenauth-rules`), checked at compile time.
//!
//! `keyword!(#[doc = "…"] pub Name = "Kw", scheme = "KwAuth", scopes = ["a:b"])`; `scheme`
//! and `scopes` are optional.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token, Visibility, bracketed};

use crate::errors::Errors;

struct Input {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    keyword: LitStr,
    scheme: Option<LitStr>,
    scopes: Vec<LitStr>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let name = input.parse()?;
        input.parse::<Token![=]>()?;
        let keyword = input.parse()?;
        let (mut scheme, mut scopes) = (None, None);
        while input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let option: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match option.to_string().as_str() {
                "scheme" if scheme.is_none() => scheme = Some(input.parse()?),
                "scopes" if scopes.is_none() => {
                    let content;
                    bracketed!(content in input);
                    scopes = Some(
                        Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
                            .into_iter()
                            .collect(),
                    );
                }
                "scheme" | "scopes" => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!("duplicate option `{option}`: give it once"),
                    ));
                }
                _ => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!(
                            "unknown option `{option}`; expected `scheme = \"...\"` or \
                             `scopes = [\"...\"]`"
                        ),
                    ));
                }
            }
        }
        Ok(Input {
            attrs,
            vis,
            name,
            keyword,
            scheme,
            scopes: scopes.unwrap_or_default(),
        })
    }
}

pub(crate) fn keyword(input: TokenStream) -> TokenStream {
    let input: Input = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let mut errors = Errors::default();
    let keyword = input.keyword.value();
    let scheme = match &input.scheme {
        Some(scheme) if tokenauth_rules::is_valid_scheme_name(&scheme.value()) => scheme.value(),
        Some(scheme) => {
            errors.push_spanned(
                scheme,
                "an OpenAPI scheme name has one or more letters, digits, `.`, `-` or `_`, e.g. \
                 `scheme = \"ApiKeyAuth\"`",
            );
            String::new()
        }
        None => match tokenauth_rules::scheme_name(&keyword) {
            Ok(scheme) => scheme,
            Err(problem) => {
                let problem = match tokenauth_rules::keyword_problem(&keyword) {
                    Some(problem) => problem,
                    None => format!("{problem}; name it: `scheme = \"MyAuth\"`"),
                };
                errors.push_spanned(&input.keyword, problem);
                String::new()
            }
        },
    };
    if input.scheme.is_some()
        && let Some(problem) = tokenauth_rules::keyword_problem(&keyword)
    {
        errors.push_spanned(&input.keyword, problem);
    }
    for scope in &input.scopes {
        if let Some(problem) = tokenauth_rules::scope_problem(&scope.value()) {
            errors.push_spanned(scope, problem);
        }
    }
    if input.scopes.len() > tokenauth_rules::MAX_SCOPES {
        errors.push_spanned(
            &input.scopes[tokenauth_rules::MAX_SCOPES],
            format!("at most {} scopes", tokenauth_rules::MAX_SCOPES),
        );
    }
    let Input {
        attrs,
        vis,
        name,
        scopes,
        ..
    } = &input;
    let description = tokenauth_rules::scheme_description(&keyword);
    let errors = errors.to_compile_errors();
    quote! {
        #(#attrs)*
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::default::Default,
        )]
        #vis struct #name;
        impl ::tokenauth::Keyword for #name {
            const KEYWORD: &'static str = #keyword;
            const SCHEME_NAME: &'static str = #scheme;
            const SCHEME_DESCRIPTION: &'static str = #description;
        }
        impl ::tokenauth::Requirement for #name {
            const SCHEMES: &'static [::tokenauth::Scheme] =
                &[<Self as ::tokenauth::Keyword>::SCHEME];
            const SCOPES: &'static [&'static str] = &[#(#scopes),*];
        }
        #errors
    }
}
