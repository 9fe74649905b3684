//! Writing the expansion, for an item that `ast` read and `valid` checked: generation only,
//! and one exit that emits the collected errors.

mod handler;
mod openapi;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Ident, Item, Type};

use crate::ast::{self, AuthParam, Params, Target};
use crate::attr::{self, Resolved};
use crate::errors::Errors;
use crate::valid;

pub(crate) fn token_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let expanded = match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => match ast::read(parsed, &args, &mut errors) {
            Target::Handler(handler) => {
                let expandable = valid::handler(&handler, &mut errors);
                handler::expand(*handler, expandable)
            }
            Target::Api(api) => {
                let secured = valid::api(&api, &mut errors);
                openapi::expand(*api, secured)
            }
            Target::Other(other) => {
                errors.push_spanned(
                    item_keyword(&other),
                    "`#[token_auth]` applies to an `async fn` with `#[handler]` below it, or to an \
                     `impl` block with `#[OpenApi]` below it",
                );
                quote!(#other)
            }
        },
        Err(err) => {
            errors.push(err);
            item
        }
    };
    let errors = errors.to_compile_errors();
    quote! {
        #expanded
        #errors
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

/// The requirement of a handler or operation — its keywords, scopes and `operationId` — as a
/// type generated beside it, which authenticates its one user type. The call that needs the
/// user type to be an `AuthUser` is spanned on that type as written, in this impl of the
/// macro's own, so a type that is not is reported once, there (axum-macros' technique),
/// and the handler, whose extractor bound the impl satisfies, reports nothing more.
///
/// `cfg` holds the item's own `#[cfg(...)]` attributes, copied onto what is generated beside
/// it, so that `cfg`-alternative items do not define it twice.
fn requirement(
    args: &Resolved,
    params: &Params,
    unique: &str,
    operation_id: Option<&str>,
    cfg: &[&syn::Attribute],
) -> (Ident, TokenStream) {
    let name = format_ident!("__tokenauth_requirement_{}", unique);
    let schemes = args.keywords.iter().map(|keyword| {
        let (value, scheme) = (&keyword.value, &keyword.scheme);
        let description = tokenauth_rules::scheme_description(value);
        let challenge = match &keyword.realm {
            Some(realm) => quote!(::tokenauth::__private::Challenge::rfc6750(#realm)),
            None => quote!(::tokenauth::__private::Challenge::DRF),
        };
        quote! {
            ::tokenauth::__private::Scheme {
                keyword: #value,
                name: #scheme,
                description: #description,
                challenge: #challenge,
            }
        }
    });
    let scopes = &args.scopes;
    let operation_id = operation_id.map(|id| {
        quote!(const OPERATION_ID: ::core::option::Option<&'static str> = ::core::option::Option::Some(#id);)
    });
    let user_ty = user_type(params, args.user.as_ref());
    let span = match (params.user(), args.user.as_ref()) {
        (Some(user), _) => user.inner.span(),
        (None, Some(user)) => user.span(),
        (None, None) => proc_macro2::Span::call_site(),
    };
    let req = Ident::new("req", Span::mixed_site());
    let authenticate =
        quote_spanned!(span=> ::tokenauth::__private::authenticate::<#user_ty, Self>(#req));
    let item = quote! {
        #(#cfg)*
        #[doc(hidden)]
        #[allow(non_camel_case_types, unreachable_pub)]
        pub struct #name;
        #(#cfg)*
        impl ::tokenauth::__private::Requirement for #name {
            const SCHEMES: &'static [::tokenauth::__private::Scheme] = &[#(#schemes),*];
            const SCOPES: &'static [&'static str] = &[#(#scopes),*];
            #operation_id
        }
    };
    let authenticates = quote_spanned! {span=>
        #(#cfg)*
        impl ::tokenauth::__private::Authenticates<#user_ty> for #name {
            fn authenticate(
                #req: &::tokenauth::__private::poem::Request,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<
                    ::core::option::Option<(#user_ty, ::tokenauth::Token)>,
                    ::tokenauth::Rejection,
                >,
            > + ::core::marker::Send {
                #authenticate
            }
        }
    };
    (name, quote!(#item #authenticates))
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
