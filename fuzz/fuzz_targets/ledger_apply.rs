//! Fuzz target: see `carbon_fuzz::ledger_apply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| carbon_fuzz::ledger_apply(data));
