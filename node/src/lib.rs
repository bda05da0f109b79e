//! The carbon registry node.
//!
//! * [`ledger`]: the registry's rules as a pure, deterministic state machine (no I/O): the
//!   `carbon-ledger` crate, re-exported under this name.
//! * [`storage`]: the Raft log (a WAL), the state machine on sled, snapshots on disk;
//!   [`crash`] names the crash points the recovery test visits.
//! * [`raft`]: openraft's type configuration and the peer network over gRPC.
//! * [`write`]: the write path, from a request to its outcome (ingress checks, the ingress
//!   pool, delivery to the leader, the proposer).
//! * [`api`]: the client gRPC service (a thin adapter over [`write`]; reads, watch, admin);
//!   [`errors`] (error codes as gRPC statuses), [`forward`] (the leader forwarder) and
//!   [`limits`] (every limit of the node crate) sit below both.
//! * [`tls`]: certificates, node identities and TLS settings of the peer and client ports.
//! * [`disclosure_page`]: the public disclosure web page (HTTP, read-only).
//! * [`metrics`]: Prometheus metrics and their HTTP endpoint.
//! * [`backup`]: checking a backup file and restoring a data directory from one.
//! * [`node`]: the context of handles every request handler shares; [`serve`]: assembling
//!   and running one node (its servers, the metrics endpoint); [`config`] (layered settings)
//!   and [`genesis`] load what it needs.
//!
//! See `docs/ARCHITECTURE.md` for the map of the whole node.

pub mod api;
pub mod backup;
pub mod config;
pub mod crash;
pub mod disclosure_page;
pub mod errors;
pub mod forward;
pub mod genesis;
pub use carbon_ledger as ledger;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod serve;
pub mod storage;
pub mod tls;
pub mod write;
