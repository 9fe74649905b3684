//! The `key_format` property (fuzz/properties/src/key_format.rs) under libFuzzer. The suite checks
//! it over this target's seed corpus, fuzz/corpus/key_format/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenauth_fuzz_properties::key_format(data));
