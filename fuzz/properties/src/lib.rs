//! The properties tokenauth's fuzz targets check, one function per target: each takes the
//! fuzzer's bytes and panics when the property does not hold for them.
//!
//! `fuzz/fuzz_targets/<target>.rs` calls the function of the same name under libFuzzer
//! (`fuzz/run`), and this crate's `tests/corpus.rs` runs it over every file of the committed
//! seed corpus `fuzz/corpus/<target>/` with the rest of the suite: an invariant that goes
//! stale fails `cargo test`, naming the seed, instead of the next fuzzing run.
//!
//! With the `libfuzzer` feature the crate also builds the targets themselves, with stable Rust
//! and libFuzzer (no sanitizer), as the `fuzz_<target>` bins, and `tests/libfuzzer.rs`, which
//! .ci/run runs, has each load its dictionary and run its seed corpus.

mod attr_args;
mod duration;
mod header;
mod key_format;
mod login_body;

pub use attr_args::attr_args;
pub use duration::duration;
pub use header::header;
pub use key_format::key_format;
pub use login_body::login_body;

// tokenauth-macros' `#[token_auth(...)]` argument grammar, compiled from its source (a
// proc-macro crate cannot be linked into a program). `attr.rs` names `crate::errors` and
// `crate::grammar`, so all three sit at the crate root; they need proc-macro2, quote, syn and
// tokenauth-rules, as in the macro crate. See `attr_args`.
#[allow(dead_code)]
#[path = "../../../tokenauth-macros/src/errors.rs"]
mod errors;

#[allow(dead_code)]
#[path = "../../../tokenauth-macros/src/attr.rs"]
mod attr;

#[allow(dead_code)]
#[path = "../../../tokenauth-macros/src/grammar/mod.rs"]
mod grammar;
