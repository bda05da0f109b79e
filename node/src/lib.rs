//! The carbon registry node.
//!
//! * [`ledger`]: the registry's rules as a pure, deterministic state machine (no I/O).
//! * [`storage`]: the Raft log and the state machine on sled, snapshots on disk.
//! * [`raft`]: openraft's type configuration and the peer network over gRPC.
//! * [`api`]: the client gRPC service (writes, reads, watch, admin).
//! * [`tls`]: certificates, node identities and TLS settings of the peer and client ports.
//! * [`node`]: assembling and running one node; [`config`] and [`genesis`] load its settings.
//!
//! See `docs/ARCHITECTURE.md` for the map of the whole node.

pub mod api;
pub mod config;
pub mod genesis;
pub mod ledger;
pub mod node;
pub mod raft;
pub mod storage;
pub mod tls;
