//! Consensus: openraft's type configuration for the registry, and the peer network over gRPC.
//!
//! One Raft log entry carries a [`Batch`]: the signed transactions the leader grouped together
//! and the leader's timestamp. Applying it yields one encoded `Outcome` per transaction.

pub mod clock;
pub mod network;
pub mod peer_service;
pub mod read_index;
pub mod watchdog;

use carbon_proto::v1::Outcome;
use serde::{Deserialize, Serialize};
use std::fmt;

pub type NodeId = u64;

/// Where a member listens: Raft traffic and client API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub peer_addr: String,
    pub client_addr: String,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer={} client={}", self.peer_addr, self.client_addr)
    }
}

/// The payload of one log entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The leader's clock when it proposed the entry (Unix ms).
    pub timestamp_ms: u64,
    /// The ledger rules the entry must be applied with (`ledger::VERSION` of the proposer). A
    /// replica that does not know it stops instead of applying it differently.
    pub ledger_version: u32,
    /// Protobuf-encoded `SignedTx`s, each verified by the leader that proposed the entry: the
    /// bytes it received, carried as they are to the WAL, the followers and the state.
    /// (Serialized as byte strings: the same postcard bytes as a `Vec<Vec<u8>>`.)
    pub txs: Vec<bytes::Bytes>,
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch of {} txs at {}",
            self.txs.len(),
            self.timestamp_ms
        )
    }
}

/// What applying an entry returns to the proposer: one `Outcome` per tx, handed over in memory
/// (openraft never sends it over the network; its serde form, protobuf bytes per outcome, exists
/// only because openraft's type bounds ask for one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub outcomes: Vec<Outcome>,
}

impl Serialize for Applied {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use prost::Message;
        let encoded: Vec<bytes::Bytes> = self
            .outcomes
            .iter()
            .map(|o| bytes::Bytes::from(o.encode_to_vec()))
            .collect();
        encoded.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Applied {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use prost::Message;
        let encoded = Vec::<bytes::Bytes>::deserialize(d)?;
        let outcomes = encoded
            .iter()
            .map(|b| Outcome::decode(b.as_ref()).map_err(serde::de::Error::custom))
            .collect::<Result<_, _>>()?;
        Ok(Applied { outcomes })
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Batch,
        R = Applied,
        NodeId = NodeId,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeAddr>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeAddr>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, NodeAddr>;

/// The leader this node may report (status, health, metrics): openraft's, except
/// * a member removed from the voters while it led keeps believing it leads a membership that
///   no longer names it (openraft 0.9 does not step it down, and the others refuse its
///   traffic): it leads nobody, so it reports no leader;
/// * a member that leads in its own view but has not heard from a majority in its term
///   (openraft 0.9 restores a restarted leader from its committed vote, even when the others
///   have since elected another) is only [`Role::Recovering`]: no leader either. A leader
///   elected in this process heard from a majority already: their votes.
pub fn reported_leader(m: &RaftMetrics, live: &watchdog::Liveness) -> Option<NodeId> {
    match role(m, live) {
        Role::Removed | Role::Recovering => None,
        _ => m.current_leader,
    }
}

/// What this node is, as status and health report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    /// Leads in its own view, not yet acknowledged by a majority in its term.
    Recovering,
    Follower,
    Candidate,
    Learner,
    /// Led, then was removed from the voters (it leads nobody).
    Removed,
    Stopped,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Recovering => "recovering",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Removed => "removed",
            Role::Stopped => "stopped",
        }
    }
}

pub fn role(m: &RaftMetrics, live: &watchdog::Liveness) -> Role {
    use openraft::ServerState as S;
    let me = live.me;
    if m.running_state.is_err() {
        return Role::Stopped;
    }
    let voter = m
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == me);
    if m.current_leader == Some(me) && !voter {
        return Role::Removed;
    }
    match m.state {
        S::Leader
            if live.is_restored_leadership(&m.vote) && m.millis_since_quorum_ack.is_none() =>
        {
            Role::Recovering
        }
        S::Leader => Role::Leader,
        S::Candidate => Role::Candidate,
        S::Learner => Role::Learner,
        S::Follower => Role::Follower,
        S::Shutdown => Role::Stopped,
    }
}

/// Serializes a peer message (openraft's own types) for the wire and for the log.
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(v)
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(b)
}
