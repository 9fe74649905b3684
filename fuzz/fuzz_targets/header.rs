//! The `header` property (fuzz/properties/src/header.rs) under libFuzzer. The suite checks
//! it over this target's seed corpus, fuzz/corpus/header/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenauth_fuzz_properties::header(data));
