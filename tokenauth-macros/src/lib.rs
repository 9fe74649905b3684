//! Procedural macros for [tokenauth](https://docs.rs/tokenauth). Use them through the
//! `tokenauth` crate, which re-exports them and documents them; this crate is an
//! implementation detail whose version `tokenauth` pins exactly.
//!
//! The macro runs in phases, one module each: [`attr`] parses the attribute's arguments,
//! [`ast`] reads the item (a handler or an `#[OpenApi]` impl) keeping spans, [`valid`] checks
//! what the two together mean, and [`expand`] writes the rewritten item. Errors are collected
//! and reported together; with bad arguments the item still expands with defaults.

mod ast;
mod attr;
mod errors;
mod expand;
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
