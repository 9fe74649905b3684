//! Expansion on a poem-openapi `#[OpenApi]` impl: each operation taking a `User` or `Token`
//! gets one security-scheme parameter and a response type that documents the `401`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Token, Type};

use super::{auth_ident, bind_params, is_optional, keyword_type, user_type};
use crate::ast::{self, is_attr};
use crate::attr::{self, Args, Keyword};
use crate::errors::Errors;
use crate::valid::{self, Target};

pub(super) fn expand(args: &Args, mut block: ItemImpl, mut errors: Errors) -> TokenStream {
    if !block.attrs.iter().any(|a| is_attr(a, "OpenApi")) {
        errors.push_spanned(
            &block.self_ty,
            "`#[token_auth]` on an `impl` block must be placed above `#[OpenApi]` (poem-openapi): \
             attributes expand top-down, so below `#[OpenApi]` the operations are already generated; \
             write `#[token_auth]` on the line before `#[OpenApi]`",
        );
        strip_operation_attrs(&mut block, &mut Errors::default());
        let errors = errors.to_compile_errors();
        return quote!(#block #errors);
    }

    let type_name = match &*block.self_ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(String::new, |s| s.ident.to_string()),
        _ => String::new(),
    };
    let mut keyword_items = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let overrides = take_operation_attr(method, &mut errors);
        if !method.attrs.iter().any(|a| is_attr(a, "oai")) {
            // Not an operation: a helper method stays as written.
            if overrides.is_some() {
                errors.push_spanned(
                    &method.sig.ident,
                    "`#[token_auth(...)]` on a method without `#[oai(...)]`: it applies to \
                     poem-openapi operations only; remove it, or make the method an operation",
                );
            }
            continue;
        }
        let user_arg = overrides
            .as_ref()
            .and_then(|o| o.user.as_ref())
            .or(args.user.as_ref());
        let params = ast::params(&method.sig, user_arg);
        if params.auth.is_empty() && overrides.is_none() {
            continue; // an open operation
        }
        let method_errors = valid::signature(&method.sig, &params, Target::Operation);
        if !method_errors.is_empty() {
            errors.extend(method_errors);
            continue;
        }
        let keyword = overrides
            .as_ref()
            .and_then(|o| o.keyword.clone())
            .or_else(|| args.keyword.clone())
            .unwrap_or_else(Keyword::default_token);
        let unique = format!("{type_name}_{}", method.sig.ident.unraw());
        let scopes = overrides
            .as_ref()
            .and_then(|o| o.scopes.clone())
            .or_else(|| args.scopes.clone())
            .unwrap_or_default();
        if !scopes.is_empty() {
            // poem-openapi turns doc comments into the operation's summary and description.
            let listed: Vec<String> = scopes.iter().map(|s| format!("`{}`", s.value())).collect();
            let text = format!(
                " Requires the scope(s) {} (a token with `*` has all); otherwise `403`.",
                listed.join(", ")
            );
            method.attrs.push(syn::parse_quote!(#[doc = ""]));
            method.attrs.push(syn::parse_quote!(#[doc = #text]));
        }
        let (keyword_ty, keyword_item) = keyword_type(&keyword, &scopes, &unique);
        keyword_items.extend(keyword_item);
        let user_ty = user_type(&params, user_arg);
        let auth = auth_ident();
        let bind = bind_params(&params, &auth);
        let mut inputs: Punctuated<FnArg, Token![,]> = params.receiver.iter().cloned().collect();
        if is_optional(&params) {
            // `{}` first, then the scheme: the requirements read `[{}, {<scheme>: []}]`.
            let anonymous =
                syn::Ident::new("__tokenauth_anonymous", proc_macro2::Span::mixed_site());
            inputs.push(syn::parse_quote!(#anonymous: ::tokenauth::__private::Anonymous));
            inputs.push(syn::parse_quote!(
                #auth: ::tokenauth::__private::ApiOptionalAuth<#user_ty, #keyword_ty>
            ));
        } else {
            inputs.push(syn::parse_quote!(
                #auth: ::tokenauth::__private::ApiAuth<#user_ty, #keyword_ty>
            ));
        }
        inputs.extend(params.rest.iter().cloned());
        method.sig.inputs = inputs;
        let response: Type = match &method.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        method.sig.output =
            syn::parse_quote!(-> ::tokenauth::__private::Secured<#response, #keyword_ty>);
        let body = &method.block;
        method.block = syn::parse_quote!({
            #bind
            ::core::convert::From::from(
                ::tokenauth::__private::output::<#response, _>(async move #body).await
            )
        });
    }
    let errors = errors.to_compile_errors();
    quote! {
        #block
        #(#keyword_items)*
        #errors
    }
}

/// Removes a method's inert `#[token_auth(...)]` and parses it; a second one is an error.
fn take_operation_attr(method: &mut ImplItemFn, errors: &mut Errors) -> Option<Args> {
    let mut found: Option<Args> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attribute in std::mem::take(&mut method.attrs) {
        if !is_attr(&attribute, "token_auth") {
            kept.push(attribute);
            continue;
        }
        if found.is_some() {
            errors.push_spanned(
                &attribute,
                "duplicate `#[token_auth]` on one operation: give it once",
            );
            continue;
        }
        found = Some(attr::parse_attribute(&attribute, errors));
    }
    method.attrs = kept;
    found
}

/// Removes every per-operation `#[token_auth]`, so an impl reported as misplaced does not also
/// report each of its operations.
fn strip_operation_attrs(block: &mut ItemImpl, errors: &mut Errors) {
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item {
            take_operation_attr(method, errors);
        }
    }
}
