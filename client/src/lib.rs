//! `carbon-client`: the Rust SDK of the carbon registry.
//!
//! * [`client`]: a failover client over several endpoints that retries the same signed bytes.
//! * [`ops`]: unit classes, who signs what, bodies, signing, read authentication.
//! * [`txfile`]: offline multi-party signing through a JSON transaction file.
//! * [`keys`]: ed25519 key files that never print their secret.
//! * [`error`]: errors with the registry's stable codes.

pub mod client;
pub mod error;
pub mod keys;
pub mod ops;
pub mod txfile;

pub use client::Client;
pub use error::ClientError;
