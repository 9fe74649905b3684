//! Compile-time behaviour of `#[token_auth]`: every misuse is one clear error on the
//! offending tokens (`tests/ui/fail`), and every supported form compiles (`tests/ui/pass`).
//! The toolchain is pinned (rust-toolchain.toml) so the `.stderr` snapshots stay stable;
//! regenerate them with `TRYBUILD=overwrite cargo test -p tokenauth-ui-tests` and review the
//! diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/*.rs");
    cases.pass("pass/*.rs");
}
