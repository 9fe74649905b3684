//! The arguments against the fields and each other: what the impl says, with defaults where
//! an argument is missing or wrong (its error collected), so that it can always be expanded.

use syn::{Generics, Ident, LitStr};

use super::parse::{EXPECTED, Field, IsActive, UserType, Watch};
use crate::errors::Errors;

/// What the impl says.
pub(crate) struct AuthUserImpl {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// `None`: missing (reported); the impl names no table.
    pub(crate) table: Option<LitStr>,
    pub(crate) tokens_table: Option<LitStr>,
    pub(crate) id_column: Option<LitStr>,
    /// The `bool` field that says whether the user is active; `None`: none (reported), the
    /// impl says it is.
    pub(crate) is_active: Option<IsActive>,
    pub(crate) cacheable: bool,
    /// The path of the type's `WATCH`, if it is cacheable.
    pub(crate) watch: Option<syn::Path>,
    pub(crate) fields: Vec<Field>,
}

pub(crate) fn user(user: UserType, errors: &mut Errors) -> AuthUserImpl {
    let UserType {
        ident,
        generics,
        args,
        fields,
    } = user;
    // With an attribute that was not read to its end, a missing argument may be unread.
    let report_missing = !args.given || args.complete;
    if args.table.is_none() && report_missing {
        errors.push_spanned(&ident, EXPECTED);
    }
    for (given, what) in [
        (&args.table, "table"),
        (&args.tokens_table, "tokens_table"),
        (&args.id_column, "id_column"),
    ] {
        if let Some(lit) = given
            && !is_identifier(&lit.value())
        {
            errors.push_spanned(
                lit,
                format!(
                    "`{what}` must be an SQL identifier (letters, digits, `_`, `.`): it is \
                     written into the SQL"
                ),
            );
        }
    }
    let is_field = |name: &Ident| fields.iter().any(|field| field.ident == *name);
    let is_active = match args.is_active {
        Some(is_active) if is_field(&is_active.field) => Some(is_active),
        Some(IsActive { field, .. }) => {
            errors.push_spanned(
                &field,
                format!("`{field}` is not a field of `{ident}`; `is_active` names a `bool` field"),
            );
            None
        }
        None => match fields.iter().find(|field| field.ident == "is_active") {
            Some(field) => Some(IsActive {
                negated: false,
                field: field.ident.clone(),
            }),
            None => {
                if report_missing {
                    errors.push_spanned(
                        &ident,
                        "say which field tells whether the user is active: \
                         `#[auth_user(is_active = active)]` or `#[auth_user(is_active = !disabled)]`",
                    );
                }
                None
            }
        },
    };
    let watch = match args.watch {
        Some(Watch { key, .. }) if args.cacheable.is_none() => {
            errors.push_spanned(
                key,
                "`watch` is for a cacheable type: add `cacheable`, or leave out `watch`",
            );
            None
        }
        watch => watch.map(|watch| watch.path),
    };
    AuthUserImpl {
        ident,
        generics,
        table: args.table,
        tokens_table: args.tokens_table,
        id_column: args.id_column,
        is_active,
        cacheable: args.cacheable.is_some(),
        watch,
        fields,
    }
}

/// A plain (optionally schema-qualified) SQL identifier.
fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
