//! `#[derive(AuthUser)]`: an application's user type, its columns read from its fields —
//! the same names its `#[derive(sqlx::FromRow)]` reads — so that they are written once; with
//! `cacheable`, also its compact form in the authentication cache, field by field. A hidden
//! argument, `watch = path::TO_WATCH`, names the tables the change feed must watch for a
//! cacheable type whose tables are not tokenauth's own (`AuthUser::WATCH`: tokenauth's
//! `DjangoUser` uses it).
//!
//! ```text
//! #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
//! #[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
//! struct Account { id: i64, #[sqlx(rename = "mail")] email: String, disabled: bool }
//! ```
//!
//! It runs in the phases of `#[token_auth]`, one module each:
//! - `parse` reads the struct as written: the `#[auth_user(...)]` arguments, merged over
//!   every such attribute, and each field with the column `sqlx::FromRow` reads it from;
//! - `check` resolves the arguments against the fields (`is_active`, the required `table`,
//!   SQL identifiers), falling back to defaults where they are wrong;
//! - `expand` only generates, and emits every collected error at its one exit: a struct
//!   with named fields always gets its impl (with defaults where an argument is wrong), so
//!   that no error about a missing `AuthUser` follows ours.

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;

use crate::errors::Errors;

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let user = parse::user(input, &mut errors).map(|user| check::user(user, &mut errors));
    expand::auth_user(user.as_ref(), &errors)
}
