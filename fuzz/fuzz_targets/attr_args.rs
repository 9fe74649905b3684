//! The `attr_args` property (fuzz/properties/src/attr_args.rs) under libFuzzer. The suite checks
//! it over this target's seed corpus, fuzz/corpus/attr_args/.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tokenauth_fuzz_properties::attr_args(data));
