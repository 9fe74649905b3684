//! `#[derive(AuthUser)]`: an application's user type, its columns read from its fields —
//! the same names its `#[derive(sqlx::FromRow)]` reads — so that they are written once.
//!
//! ```text
//! #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
//! #[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
//! struct Account { id: i64, #[sqlx(rename = "mail")] email: String, disabled: bool }
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitStr};

use crate::errors::Errors;

const EXPECTED: &str = "expected `#[auth_user(table = \"accounts\")]`, with optional \
                        `tokens_table = \"account_tokens\"`, `id_column = \"id\"` and \
                        `is_active = field` or `is_active = !field`";

/// The column a field is read from, as `sqlx::FromRow` reads it; `None` if skipped.
fn column(field: &syn::Field, errors: &mut Errors) -> Option<String> {
    let ident = field.ident.as_ref()?;
    let mut name = syn::ext::IdentExt::unraw(ident).to_string();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let mut skip = false;
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                name = meta.value()?.parse::<LitStr>()?.value();
            } else if meta.path.is_ident("skip") {
                skip = true;
            } else if meta.path.is_ident("flatten") || meta.path.is_ident("json") {
                return Err(meta.error(
                    "`#[derive(AuthUser)]` cannot list the columns of a flattened or JSON \
                     field; implement `tokenauth::AuthUser` by hand, with `COLUMNS`",
                ));
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
        if skip {
            return None;
        }
    }
    Some(name)
}

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        errors.push_spanned(
            name,
            "`#[derive(AuthUser)]` needs a struct with named fields",
        );
        return errors.to_compile_errors();
    };
    let Fields::Named(fields) = &data.fields else {
        errors.push_spanned(
            name,
            "`#[derive(AuthUser)]` needs a struct with named fields",
        );
        return errors.to_compile_errors();
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                errors.push_spanned(
                    &meta.path,
                    "`#[derive(AuthUser)]` does not apply `rename_all`: rename the fields one \
                     by one (`#[sqlx(rename = \"...\")]`), or implement `tokenauth::AuthUser` \
                     by hand",
                );
            }
            if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }

    let (mut table, mut tokens_table, mut id_column) = (None, None, None);
    let mut is_active: Option<(bool, Ident)> = None;
    let attrs: Vec<_> = input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("auth_user"))
        .collect();
    if attrs.is_empty() {
        errors.push_spanned(name, EXPECTED);
    }
    for attr in attrs {
        let parsed = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "table" => table = Some(meta.value()?.parse::<LitStr>()?),
                "tokens_table" => tokens_table = Some(meta.value()?.parse::<LitStr>()?),
                "id_column" => id_column = Some(meta.value()?.parse::<LitStr>()?),
                "is_active" => {
                    let value = meta.value()?;
                    let negated = value.parse::<Option<syn::Token![!]>>()?.is_some();
                    is_active = Some((negated, value.parse()?));
                }
                _ => return Err(meta.error(format!("unknown argument; {EXPECTED}"))),
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }

    let mut columns = Vec::new();
    for field in &fields.named {
        if let Some(column) = column(field, &mut errors) {
            columns.push(column);
        }
    }
    let field_names: Vec<&Ident> = fields
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref())
        .collect();
    let is_active = match is_active {
        Some((negated, field)) if field_names.contains(&&field) => {
            let not = negated.then(|| quote!(!));
            quote!(#not self.#field)
        }
        Some((_, field)) => {
            errors.push_spanned(
                &field,
                format!("`{field}` is not a field of `{name}`; `is_active` names a `bool` field"),
            );
            quote!(true)
        }
        None if field_names.iter().any(|f| *f == "is_active") => quote!(self.is_active),
        None => {
            errors.push_spanned(
                name,
                "say which field tells whether the user is active: \
                 `#[auth_user(is_active = active)]` or `#[auth_user(is_active = !disabled)]`",
            );
            quote!(true)
        }
    };
    for (given, what) in [
        (&table, "table"),
        (&tokens_table, "tokens_table"),
        (&id_column, "id_column"),
    ] {
        if let Some(lit) = given
            && !is_identifier(&lit.value())
        {
            errors.push_spanned(
                lit,
                format!("`{what}` must be an SQL identifier (letters, digits, `_`, `.`): it is written into the SQL"),
            );
        }
    }
    let Some(table) = table else {
        if !errors.is_empty() {
            return errors.to_compile_errors();
        }
        errors.push_spanned(name, EXPECTED);
        return errors.to_compile_errors();
    };
    let tokens_table = tokens_table.map(|t| quote!(const TOKENS_TABLE: &'static str = #t;));
    let id_column = id_column.map(|c| quote!(const ID_COLUMN: &'static str = #c;));
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let errors = errors.to_compile_errors();
    quote! {
        impl #impl_generics ::tokenauth::AuthUser for #name #ty_generics #where_clause {
            const TABLE: &'static str = #table;
            const COLUMNS: &'static [&'static str] = &[#(#columns),*];
            #tokens_table
            #id_column
            fn is_active(&self) -> bool {
                #is_active
            }
        }
        #errors
    }
}

/// A plain (optionally schema-qualified) SQL identifier.
fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
