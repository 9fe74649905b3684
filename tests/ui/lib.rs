//! Nothing: this package exists for its tests: `ui.rs` compiles the cases in `fail/` with
//! trybuild against this package's dependencies, and `pass/` builds and runs every supported
//! form.
