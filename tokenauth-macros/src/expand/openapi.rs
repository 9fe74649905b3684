//! Expansion on a poem-openapi `#[OpenApi]` impl: each operation taking a `User` or `Token`
//! gets one security-scheme parameter and a response type that documents the `401`; every
//! operation gets a default `operationId`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::{FnArg, ImplItem, ImplItemFn, ReturnType, Token, Type};

use super::{auth_ident, bind_params, is_optional, requirement, user_type};
use crate::ast::{Api, Operation, is_attr};

/// The impl with its secured operations rewritten (`secured`: per operation, from
/// `valid::api`) and every operation given an id; as written (without the operations' inert
/// attributes) when `valid` refused it (`None`).
pub(super) fn expand(api: Api, secured: Option<Vec<bool>>) -> TokenStream {
    let Api {
        mut block,
        type_name,
        operations,
        ..
    } = api;
    block.attrs.retain(|a| !is_attr(a, "token_auth"));
    let Some(secured) = secured else {
        return quote!(#block);
    };
    let mut items = Vec::new();
    for (operation, secured) in operations.iter().zip(secured) {
        let ImplItem::Fn(method) = &mut block.items[operation.index] else {
            continue;
        };
        let operation_id = default_operation_id(method, operation);
        if secured {
            items.extend(secure(
                method,
                operation,
                &type_name,
                operation_id.as_deref(),
            ));
        }
    }
    quote! {
        #block
        #(#items)*
    }
}

/// Gives a visible operation without an `operationId` one made of its HTTP method and path,
/// as drf-spectacular does: `get_orders`, `post_auth_token`, `get_users_id` — unique wherever
/// poem-openapi's routes are (one operation a method and path), and stable. An operation with
/// several methods shares one `#[oai]`, so it gets none. Returns the operation's id.
fn default_operation_id(method: &mut ImplItemFn, operation: &Operation) -> Option<String> {
    let oai = &operation.oai;
    if oai.hidden {
        return None;
    }
    if let Some(id) = &oai.operation_id {
        return Some(id.clone());
    }
    let ([http_method], Some(path)) = (oai.methods.as_slice(), &oai.path) else {
        return None;
    };
    let mut id = http_method.to_ascii_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(segment.trim_start_matches(':').chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    let attr = method.attrs.iter_mut().find(|a| is_attr(a, "oai"))?;
    let syn::Meta::List(list) = &mut attr.meta else {
        return None;
    };
    let trailing_comma = matches!(
        list.tokens.clone().into_iter().last(),
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ','
    );
    let separator = (!trailing_comma && !list.tokens.is_empty()).then(|| quote!(,));
    list.tokens.extend(quote!(#separator operation_id = #id));
    Some(id)
}

/// Rewrites a secured operation; returns the items it needs beside the impl.
fn secure(
    method: &mut ImplItemFn,
    operation: &Operation,
    type_name: &str,
    operation_id: Option<&str>,
) -> Vec<TokenStream> {
    let (args, params) = (&operation.args, &operation.params);
    let unique = format!("{type_name}_{}", method.sig.ident.unraw());
    let cfg: Vec<_> = method
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .cloned()
        .collect();
    let cfg: Vec<_> = cfg.iter().collect();
    let (requirement, requirement_item) = requirement(args, params, &unique, operation_id, &cfg);
    let user_ty = user_type(params, args.user.as_ref());
    let auth = auth_ident();
    let bind = bind_params(params, &auth);
    let mut inputs: Punctuated<FnArg, Token![,]> = params.receiver.iter().cloned().collect();
    if is_optional(params) {
        inputs.push(syn::parse_quote!(
            #auth: ::tokenauth::__private::ApiMaybeAuth<#user_ty, #requirement>
        ));
    } else {
        inputs.push(syn::parse_quote!(
            #auth: ::tokenauth::__private::ApiAuth<#user_ty, #requirement>
        ));
    }
    inputs.extend(params.rest.iter().cloned());
    method.sig.inputs = inputs;
    if !args.scopes.is_empty() {
        // For humans: poem-openapi turns doc comments into the description. Tools read the
        // scopes from `x-required-scopes` (`tokenauth::openapi::spec`), not from this.
        let listed: Vec<String> = args
            .scopes
            .iter()
            .map(|s| format!("`{}`", s.value()))
            .collect();
        let mut wildcards: Vec<String> = Vec::new();
        for scope in &args.scopes {
            for wildcard in tokenauth_rules::wildcards_covering(&scope.value()) {
                let wildcard = format!("`{wildcard}`");
                if !wildcards.contains(&wildcard) {
                    wildcards.push(wildcard);
                }
            }
        }
        // `*` last, after the narrower wildcards of every scope: "`a:*`, `b:*` or `*`".
        wildcards.sort_by_key(|wildcard| wildcard == "`*`");
        let any = wildcards.pop().unwrap_or_default();
        let wildcards = if wildcards.is_empty() {
            any
        } else {
            format!("{} or {any}", wildcards.join(", "))
        };
        let text = format!(
            " Requires the scope(s) {} (also granted by {wildcards}, and by a scope the \
             application declares to imply it); otherwise `403`.",
            listed.join(", "),
        );
        method.attrs.push(syn::parse_quote!(#[doc = ""]));
        method.attrs.push(syn::parse_quote!(#[doc = #text]));
    }
    let response: Type = match &method.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    method.sig.output =
        syn::parse_quote!(-> ::tokenauth::__private::WithAuthErrors<#response, #requirement>);
    let body = &method.block;
    method.block = syn::parse_quote!({
        #bind
        ::core::convert::From::from(
            ::tokenauth::__private::output::<#response, _>(async move #body).await
        )
    });
    vec![requirement_item]
}
