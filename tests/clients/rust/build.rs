//! Generates the client with progenitor from the OpenAPI document named by
//! `TOKENAUTH_CLIENT_SPEC` (JSON), as progenitor's README shows, into `$OUT_DIR/client.rs`.

use std::{env, fs, path::Path};

const SPEC_VAR: &str = "TOKENAUTH_CLIENT_SPEC";

fn main() {
    println!("cargo:rerun-if-env-changed={SPEC_VAR}");
    let Some(spec_path) = env::var_os(SPEC_VAR) else {
        panic!(
            "{SPEC_VAR} is not set: set it to the path of the OpenAPI document (JSON) to generate \
             the client from, e.g. the quickstart's `/openapi.json` saved to a file \
             (tests/clients/rust/run does this)"
        );
    };
    let spec_path = Path::new(&spec_path);
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let text = fs::read(spec_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", spec_path.display()));
    let spec: openapiv3::OpenAPI = serde_json::from_slice(&text).unwrap_or_else(|err| {
        panic!(
            "{} is not an OpenAPI 3.0 document: {err}",
            spec_path.display()
        )
    });
    let tokens = progenitor::Generator::default()
        .generate_tokens(&spec)
        .unwrap_or_else(|err| panic!("progenitor cannot generate a client: {err}"));
    let file: syn::File = syn::parse2(tokens)
        .unwrap_or_else(|err| panic!("progenitor's output does not parse as Rust: {err}"));

    let out = Path::new(&env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("client.rs");
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}
