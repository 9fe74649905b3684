//! Compile-time behaviour of `#[token_auth]`: every misuse is one clear error on the
//! offending tokens (`tests/ui/fail`). (Every supported form compiles: `tests/ui/pass`, a test
//! of its own, so that trybuild only checks — it never builds — its copy of the
//! dependencies.)
//! The toolchain is pinned (rust-toolchain.toml) so the `.stderr` snapshots stay stable;
//! regenerate them with `TRYBUILD=overwrite cargo test -p tokenauth-ui-tests` and review the
//! diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/*.rs");
}
