//! Fuzz target: see `carbon_fuzz::peer_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| carbon_fuzz::peer_message(data));
