//! Nothing: this package exists for its test, `ui.rs`, which compiles the cases in `fail/` and
//! `pass/` with trybuild against this package's dependencies.
