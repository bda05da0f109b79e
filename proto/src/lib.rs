//! The carbon registry's wire protocol.
//!
//! * [`v1`]: the protobuf messages and the `Registry` gRPC service (generated from
//!   `proto/carbon/registry/v1/registry.proto`).
//! * [`chain`]: the hash chain and its offline verification.
//! * [`codec`]: the gRPC codec (undecodable messages are INVALID_ARGUMENT/MALFORMED).
//! * [`dates`]: yyyymmdd dates in China Standard Time.
//! * [`genesis`]: the genesis file format.
//! * [`read_auth`]: read credentials, each bound to one request (method, request hash, validity).
//! * [`names`]: stable names of operations.
//! * [`status`]: errors as a standard `google.rpc.Status` (ErrorInfo + our `ErrorDetail`).
//! * [`text`]: finding a NUL in any text field of an encoded transaction body.
//! * [`signing`]: the signing rule every client and node shares: transaction id, the
//!   domain-separated hash that signatures cover, strict verification, and M-of-N thresholds.
//!
//! Feature `grpc` (default): the gRPC clients and servers in [`v1`] and [`peer`], [`codec`] and
//! [`status`]. Without it the crate has no tonic: the messages are plain prost types
//! (`carbon-ledger` depends on it so).

pub mod chain;
#[cfg(feature = "grpc")]
pub mod codec;
pub mod dates;
pub mod genesis;
pub mod hex_json;
pub mod names;
pub mod read_auth;
pub mod signing;
#[cfg(feature = "grpc")]
pub mod status;
pub mod text;

/// Generated protobuf types and gRPC stubs for `carbon.registry.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/carbon.registry.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/carbon.registry.v1.serde.rs"));
}

/// Generated types and gRPC stubs for node-to-node Raft traffic (`carbon.peer.v1`).
#[allow(clippy::all, missing_docs)]
pub mod peer {
    include!(concat!(env!("OUT_DIR"), "/carbon.peer.v1.rs"));
}

pub use signing::{SigningError, VerifiedTx};

/// The encoded `FileDescriptorSet` of both packages (served by gRPC server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
