//! Expansion on a plain poem `#[handler]` fn.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;

use super::{auth_ident, bind_params, is_optional, requirement, user_type};
use crate::ast::{Handler, is_attr};

/// The handler rewritten to take one authentication extractor first; as written (minus what
/// cannot compile) when `valid` refused it.
pub(super) fn expand(handler: Handler, expandable: bool) -> TokenStream {
    let Handler {
        mut function,
        args,
        params,
        ..
    } = handler;
    function.attrs.retain(|a| !is_attr(a, "token_auth"));
    if !expandable {
        // As written, minus what cannot compile unexpanded (a handler's `self`), so that a
        // reported mistake is not followed by errors from generated code.
        if params.receiver.is_some() && function.attrs.iter().any(|a| is_attr(a, "handler")) {
            function.sig.inputs = std::mem::take(&mut function.sig.inputs)
                .into_iter()
                .filter(|input| matches!(input, syn::FnArg::Typed(_)))
                .collect();
        }
        return quote!(#function);
    }
    let unique = function.sig.ident.unraw().to_string();
    let cfg: Vec<_> = function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let (requirement, requirement_item) = requirement(&args, &params, &unique, None, &cfg);
    let user_ty = user_type(&params, args.user.as_ref());
    let extractor = if is_optional(&params) {
        quote!(::tokenauth::__private::MaybeAuth<#user_ty, #requirement>)
    } else {
        quote!(::tokenauth::__private::Auth<#user_ty, #requirement>)
    };
    let auth = auth_ident();
    let bind = bind_params(&params, &auth);
    let rest = &params.rest;
    function.sig.inputs = syn::parse_quote!(#auth: #extractor, #(#rest),*);
    let block = &function.block;
    function.block = syn::parse_quote!({
        #bind
        #block
    });
    quote! {
        #requirement_item
        #function
    }
}
