//! Procedural macros for [tokenauth](https://docs.rs/tokenauth). Use them through the
//! `tokenauth` crate, which re-exports them; this crate is an implementation detail and its
//! version is pinned by `tokenauth`.
//!
//! The `#[token_auth]` attribute lands here next; until then this crate exports nothing.
