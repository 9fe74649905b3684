//! Every supported form of `#[token_auth]`, `keyword!` and `#[derive(AuthUser)]` compiles, and
//! the apps built from them start (poem checks routes when they are added). A test of its own
//! rather than trybuild's `pass` cases: trybuild builds (not only checks) every dependency
//! again, in a target directory of its own, to run them; `cargo clippy -p tokenauth-ui-tests
//! --all-targets` in `.ci/run` checks them against this package's own tokenauth features.

mod handlers;
mod hygiene;
mod openapi;

fn main() {
    handlers::main();
    hygiene::main();
    openapi::main();
}
