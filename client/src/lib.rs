//! `carbon-client`: the Rust SDK of the carbon registry.
//!
//! * [`keys`]: ed25519 key files (generate, save, load) that never print their secret.

pub mod keys;
