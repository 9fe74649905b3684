//! tokenauth's integration tests: one test binary, one module per subject (the layout of
//! rust-analyzer's and cargo's own suites), so the suite compiles and links the examples'
//! code, poem, poem-openapi and sqlx once rather than once per file.
//!
//! Every module runs against real databases (SQLite files and a PostgreSQL server: see
//! `tests/run`), real HTTP over loopback, and, where a module says so, real processes: the
//! quickstart example and the `tokenauth` CLI. A test that measures its whole process (peak
//! memory, process-wide counters) runs itself again in a process of its own
//! ([`common::alone`]).

#[path = "../../examples/quickstart/api.rs"]
mod api;
#[path = "../../examples/custom_user/app.rs"]
mod app;
mod common;

// The macro's argument parser, compiled here from its source (a proc-macro crate cannot be
// linked), for `shared_rules`. At the root, where the parser's own `crate::` paths point.
#[allow(dead_code, unreachable_pub)]
#[path = "../../tokenauth-macros/src/attr.rs"]
mod attr;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tokenauth-macros/src/errors.rs"]
mod errors;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tokenauth-macros/src/grammar/mod.rs"]
mod grammar;

mod attack;
mod auth_endpoints;
mod beside_django;
mod check;
mod cli_tokens;
mod client_contract;
mod coherence;
mod custom_user;
mod django_import;
mod hash_memory;
mod health;
mod http_auth;
mod http_failures;
mod instances;
mod macro_http;
mod migrations;
mod oauth_endpoints;
mod outages;
mod password_work;
mod peppers;
mod policy_http;
mod quickstart;
mod revocation;
mod rfc6750;
mod scopes;
mod secret_scanning;
mod shared_rules;
mod store;
mod stress;
mod telemetry;
mod tokens_api;
