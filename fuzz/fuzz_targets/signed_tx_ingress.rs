//! Fuzz target: see `carbon_fuzz::signed_tx_ingress`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| carbon_fuzz::signed_tx_ingress(data));
