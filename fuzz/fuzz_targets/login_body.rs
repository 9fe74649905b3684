//! The `login_body` property (fuzz/properties/src/login_body.rs) under libFuzzer. The suite checks
//! it over this target's seed corpus, fuzz/corpus/login_body/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenauth_fuzz_properties::login_body(data));
