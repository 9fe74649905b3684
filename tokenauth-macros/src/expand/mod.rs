//! Writing the expansion: dispatch on the item, plus what both targets share.

mod handler;
mod openapi;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Ident, Item, Type};

use crate::ast::{AuthParam, Params};
use crate::attr::{self, Keyword};
use crate::errors::Errors;

pub(crate) fn token_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(err) => {
            errors.push(err);
            let errors = errors.to_compile_errors();
            return quote!(#item #errors);
        }
    };
    match item {
        Item::Fn(function) => handler::expand(&args, function, errors),
        Item::Impl(block) => openapi::expand(&args, block, errors),
        other => {
            errors.push_spanned(
                item_keyword(&other),
                "`#[token_auth]` applies to an `async fn` with `#[handler]` below it, or to an \
                 `impl` block with `#[OpenApi]` below it",
            );
            let errors = errors.to_compile_errors();
            quote!(#other #errors)
        }
    }
}

/// The tokens that name an item's kind (`struct`, `mod`, …), to point errors at.
fn item_keyword(item: &Item) -> TokenStream {
    use quote::ToTokens as _;
    match item {
        Item::Struct(s) => s.struct_token.to_token_stream(),
        Item::Enum(e) => e.enum_token.to_token_stream(),
        Item::Mod(m) => m.mod_token.to_token_stream(),
        Item::Trait(t) => t.trait_token.to_token_stream(),
        Item::Const(c) => c.const_token.to_token_stream(),
        Item::Static(s) => s.static_token.to_token_stream(),
        Item::Type(t) => t.type_token.to_token_stream(),
        Item::Use(u) => u.use_token.to_token_stream(),
        Item::Union(u) => u.union_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

/// The keyword type for a handler or operation, and the item that defines it (none for the
/// built-in `Token` and `Bearer` without scopes).
fn keyword_type(
    keyword: &Keyword,
    scopes: &[syn::LitStr],
    unique: &str,
) -> (TokenStream, Option<TokenStream>) {
    match keyword.value.as_str() {
        "Token" if scopes.is_empty() => (quote!(::tokenauth::TokenKeyword), None),
        "Bearer" if scopes.is_empty() => (quote!(::tokenauth::BearerKeyword), None),
        value => {
            let name = format_ident!("__tokenauth_keyword_{}", unique);
            let literal = syn::LitStr::new(value, keyword.span);
            let scheme: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .chain("Auth".chars())
                .collect();
            let item = quote_spanned! {keyword.span=>
                ::tokenauth::keyword!(
                    #[doc(hidden)]
                    #[allow(non_camel_case_types, unreachable_pub)]
                    pub #name = #literal, scheme = #scheme, scopes = [#(#scopes),*]
                );
            };
            (quote!(#name), Some(item))
        }
    }
}

/// The user type: the user parameter's, else `user = Type`, else `tokenauth::User`.
fn user_type(params: &Params, user_arg: Option<&Type>) -> TokenStream {
    match (params.user(), user_arg) {
        (Some(user), _) => {
            let inner = &user.inner;
            quote!(#inner)
        }
        (None, Some(user)) => quote!(#user),
        (None, None) => quote!(::tokenauth::User),
    }
}

/// `let (<user pattern>, <token pattern>): (<user type>, <token type>) = split(auth);`
fn bind_params(params: &Params, auth: &Ident) -> TokenStream {
    let part = |param: Option<&AuthParam>| match param {
        Some(param) => {
            let (pat, ty) = (&param.pat, &param.ty);
            (quote!(#pat), quote!(#ty))
        }
        None => (quote!(_), quote!(_)),
    };
    let (user_pat, user_ty) = part(params.user());
    let (token_pat, token_ty) = part(params.token());
    quote! {
        let (#user_pat, #token_pat): (#user_ty, #token_ty) =
            ::tokenauth::__private::Split::split(#auth);
    }
}

/// The identifier of the generated authentication parameter, invisible to the user's code.
fn auth_ident() -> Ident {
    Ident::new("__tokenauth_auth", Span::mixed_site())
}

/// Whether the handler's authentication is optional (`Option<User>` / `Option<Token>`).
fn is_optional(params: &Params) -> bool {
    params.auth.iter().all(|p| p.optional) && !params.auth.is_empty()
}
