//! Writing the impl that `check` resolved: generation only, and the one exit that emits the
//! collected errors. Runtime items are named through `::tokenauth::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned as _;

use super::check::AuthUserImpl;
use crate::errors::Errors;

/// The impl, if the struct could be read, then every error.
pub(crate) fn auth_user(user: Option<&AuthUserImpl>, errors: &Errors) -> TokenStream {
    let implementation = user.map(implementation);
    let errors = errors.to_compile_errors();
    quote! {
        #implementation
        #errors
    }
}

fn implementation(user: &AuthUserImpl) -> TokenStream {
    let name = &user.ident;
    let static_str = quote!(&'static ::core::primitive::str);
    // A table missing is reported; the impl still compiles, so nothing else is.
    let table = user
        .table
        .as_ref()
        .map_or_else(|| quote!(""), |t| quote!(#t));
    let columns = user
        .fields
        .iter()
        .filter_map(|field| field.column.as_deref());
    let tokens_table = user
        .tokens_table
        .as_ref()
        .map(|t| quote!(const TOKENS_TABLE: #static_str = #t;));
    let id_column = user
        .id_column
        .as_ref()
        .map(|c| quote!(const ID_COLUMN: #static_str = #c;));
    let is_active = match &user.is_active {
        Some(is_active) => {
            let field = &is_active.field;
            let not = is_active.negated.then(|| quote!(!));
            quote!(#not self.#field)
        }
        None => quote!(true),
    };
    let packing = user.cacheable.then(|| packing(user));
    // Spanned on the path: a constant that is not a `Watch` is reported there.
    let watch = user.watch.as_ref().map(|path| {
        quote_spanned! {path.span()=>
            const WATCH: ::core::option::Option<&'static ::tokenauth::__private::Watch> =
                ::core::option::Option::Some(&#path);
        }
    });
    let (impl_generics, ty_generics, where_clause) = user.generics.split_for_impl();
    // Spanned on the struct's name: a note saying "`AuthUser` is implemented for …" points
    // there, not into a macro expansion.
    quote_spanned! {name.span()=>
        #[automatically_derived]
        impl #impl_generics ::tokenauth::__private::AuthUser for #name #ty_generics #where_clause {
            const TABLE: #static_str = #table;
            const COLUMNS: &'static [#static_str] = &[#(#columns),*];
            #tokens_table
            #id_column
            #packing
            #watch
            fn is_active(&self) -> ::core::primitive::bool {
                #is_active
            }
        }
    }
}

/// `CACHEABLE`, and the compact form: each field read from a column packed with its
/// `Pack` implementation, in order, and read back in the same order; `#[sqlx(skip)]` fields
/// restored as their default. The calls are spanned on each field's type, so that a type
/// that is not `Pack` is reported there.
fn packing(user: &AuthUserImpl) -> TokenStream {
    let out = Ident::new("out", Span::mixed_site());
    let from = Ident::new("from", Span::mixed_site());
    let private = quote!(::tokenauth::__private);
    let read = || user.fields.iter().filter(|field| field.column.is_some());
    let writes = read().map(|field| {
        let (ident, ty) = (&field.ident, &field.ty);
        quote_spanned!(ty.span()=> <#ty as #private::Pack>::pack(&self.#ident, #out);)
    });
    // No field read from a column: nothing to write, nor read.
    let unused = read()
        .next()
        .is_none()
        .then(|| (quote!(let _ = #out;), quote!(let _ = #from;)));
    let (out_unused, from_unused) = unused.unzip();
    let reads = user.fields.iter().map(|field| {
        let (ident, ty) = (&field.ident, &field.ty);
        match field.column {
            Some(_) => quote_spanned!(ty.span()=> #ident: <#ty as #private::Pack>::unpack(#from)?,),
            None => quote_spanned!(ty.span()=> #ident: ::core::default::Default::default(),),
        }
    });
    quote! {
        const CACHEABLE: ::core::primitive::bool = true;
        fn pack(&self, #out: &mut #private::Packer) {
            #out_unused
            #(#writes)*
        }
        fn unpack(#from: &mut #private::Unpacker<'_>) -> ::core::option::Option<Self> {
            #from_unused
            ::core::option::Option::Some(Self { #(#reads)* })
        }
    }
}
