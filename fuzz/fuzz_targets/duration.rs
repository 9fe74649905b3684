//! The `duration` property (fuzz/properties/src/duration.rs) under libFuzzer. The suite checks
//! it over this target's seed corpus, fuzz/corpus/duration/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenauth_fuzz_properties::duration(data));
