//! Procedural macros for [tokenauth](https://docs.rs/tokenauth). Use them through the
//! `tokenauth` crate, which re-exports them and documents them; this crate is an
//! implementation detail whose version `tokenauth` pins exactly.
//!
//! `#[token_auth]` runs in phases, one module each:
//! - `attr` parses the attribute's arguments in the grammar it shares with `keyword!`
//!   (`grammar`), and merges an impl's with an operation's own (`attr::resolve`, the one
//!   place where they merge);
//! - `ast` reads the item, keeping spans: a handler, or an API with its operations, each
//!   with its resolved arguments and its `User` / `Token` parameters;
//! - `valid` checks placement (above `#[handler]` / `#[OpenApi]`, operation attributes on
//!   operations, one attribute an item) and signatures, and says what can be expanded;
//! - `expand` only generates, and emits every collected error at its one exit.
//!
//! With bad arguments the item still expands with defaults; an item that cannot be expanded
//! is emitted as written, so that no error from generated code follows ours.
//!
//! `keyword!` (`keyword`) defines a keyword type: a name, then `#[token_auth]`'s arguments
//! (`grammar`) with the keyword first, parsed, checked and expanded with one error exit too.
//! One grammar means one message for one mistake in both macros; both take the rules they
//! share with the runtime (keyword syntax, scheme names, scopes) from `tokenauth-rules`.

mod ast;
mod attr;
mod derive_user;
mod errors;
mod expand;
mod grammar;
mod keyword;
mod valid;

use proc_macro::TokenStream;

/// DRF-style token authentication for a poem `#[handler]` or a poem-openapi `#[OpenApi]` impl.
/// Documented on its re-export, `tokenauth::token_auth`.
#[proc_macro_attribute]
pub fn token_auth(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::token_auth(args.into(), item.into()).into()
}

/// Defines a keyword type. Documented on its re-export, `tokenauth::keyword!`.
#[proc_macro]
pub fn keyword(input: TokenStream) -> TokenStream {
    keyword::keyword(input.into()).into()
}

/// Implements `tokenauth::AuthUser` from a struct's fields. Documented on its re-export,
/// `tokenauth::AuthUser`.
#[proc_macro_derive(AuthUser, attributes(auth_user))]
pub fn derive_auth_user(input: TokenStream) -> TokenStream {
    derive_user::derive(input.into()).into()
}
