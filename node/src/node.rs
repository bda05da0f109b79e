//! The node as a context of handles: what every request handler shares (Raft, the state
//! machine, the genesis, the write path's proposer and ingress pool, the leader forwarder, the
//! watchdog's view). It knows nothing of the servers: `serve` assembles a `Node` and builds the
//! servers around it; `api`, `write` and `disclosure_page` take it by reference.

use crate::forward::Forwarder;
use crate::raft::watchdog::Liveness;
use crate::raft::{NodeId, Raft};
use crate::storage::StateMachine;
use crate::write::{pool::Pool, proposer::Proposer};
use carbon_proto::v1::Genesis;
use std::sync::Arc;

/// What every request handler shares.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub state: StateMachine,
    pub genesis: Genesis,
    /// The leader's proposer (`write::proposer`).
    pub proposer: Proposer,
    /// The ingress threads: committed lookups and signature checks (`write::pool`).
    pub pool: Pool,
    pub forwarder: Forwarder,
    /// The watchdog's view: quorum, clock admission, leader contact (health reads it).
    pub liveness: Arc<Liveness>,
    /// The leader's pacing of bulk rows (`write::bulk`).
    pub bulk: crate::write::bulk::BulkPacer,
    /// Linearizable reads' leadership confirmations, shared by the reads waiting.
    pub read_index: crate::raft::read_index::ReadIndex,
}
