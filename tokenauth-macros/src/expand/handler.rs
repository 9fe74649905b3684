//! Expansion on a plain poem `#[handler]` fn.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt as _;
use syn::{FnArg, ItemFn};

use super::{auth_ident, bind_params, is_optional, keyword_type, user_type};
use crate::ast::{self, is_attr};
use crate::attr::{Args, Keyword};
use crate::errors::Errors;
use crate::valid::{self, Target};

pub(super) fn expand(args: &Args, mut function: ItemFn, mut errors: Errors) -> TokenStream {
    let params = ast::params(&function.sig, args.user.as_ref());
    if !function.attrs.iter().any(|a| is_attr(a, "handler")) {
        let message = if params.receiver.is_some() {
            "`#[token_auth]` on a method of a poem-openapi `#[OpenApi]` impl needs `#[token_auth]` \
             on the `impl` block too, above `#[OpenApi]`; per-operation `#[token_auth(keyword = \"...\")]` \
             then overrides it"
        } else {
            "`#[token_auth]` must be placed above `#[handler]` (or `#[handler]` is missing): \
             attributes expand top-down, so below `#[handler]` the parameters are already fixed; \
             write `#[token_auth]` on the line before `#[handler]`"
        };
        errors.push_spanned(&function.sig.ident, message);
        let errors = errors.to_compile_errors();
        return quote!(#function #errors);
    }

    // Bad arguments alone still expand, with defaults; a signature that cannot be expanded is
    // reported with the item as written.
    let signature_errors = valid::signature(&function.sig, &params, Target::Handler);
    let expandable = signature_errors.is_empty();
    errors.extend(signature_errors);
    if !expandable {
        // Report, and keep the item compiling as written (a `self` receiver removed) so that
        // no follow-on errors from generated code hide the message.
        if params.receiver.is_some() {
            function.sig.inputs = function
                .sig
                .inputs
                .into_iter()
                .filter(|input| matches!(input, FnArg::Typed(_)))
                .collect();
        }
        let errors = errors.to_compile_errors();
        return quote!(#function #errors);
    }

    let keyword = args.keyword.clone().unwrap_or_else(Keyword::default_token);
    let scopes = args.scopes.clone().unwrap_or_default();
    let (keyword_ty, keyword_item) =
        keyword_type(&keyword, &scopes, &function.sig.ident.unraw().to_string());
    let user_ty = user_type(&params, args.user.as_ref());
    let extractor = if is_optional(&params) {
        quote!(::tokenauth::__private::MaybeAuth<#user_ty, #keyword_ty>)
    } else {
        quote!(::tokenauth::__private::Auth<#user_ty, #keyword_ty>)
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
    let errors = errors.to_compile_errors();
    quote! {
        #keyword_item
        #function
        #errors
    }
}
