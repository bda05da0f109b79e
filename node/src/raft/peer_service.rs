//! The server side of peer traffic: the gRPC `Peer` service, on the node's peer address only.
//!
//! The port speaks mutual TLS only (see `tls`): the sender is the node its certificate names,
//! never what the message claims. A message whose claimed sender differs from its certificate,
//! addressed to another node id, or sent by a node outside the current membership, is refused:
//! connecting to the wrong node can lose data (openraft's own warning).

use super::network::{answer_to_wire, probe_from_wire};
use super::watchdog::Liveness;
use super::{decode, encode, NodeId, Raft};
use carbon_proto::peer::{peer_server, PeerMessage, ProbeRequest, ProbeResponse};
use openraft::raft::{AppendEntriesResponse, VoteResponse};
use serde::Serialize;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub use crate::limits::SNAPSHOT_BYTES_MAX;

pub struct PeerService {
    pub raft: Raft,
    pub id: NodeId,
    /// Told when a leader's traffic is accepted; answers probes (`watchdog`).
    pub liveness: Arc<Liveness>,
}

/// The node id the caller's certificate names (the TLS layer verified it against the CA).
fn sender<T>(req: &Request<T>) -> Result<NodeId, Status> {
    let certs = req
        .peer_certs()
        .ok_or_else(|| Status::unauthenticated("peer traffic needs a node certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("peer traffic needs a node certificate"))?;
    crate::tls::node_id_of(leaf)
        .ok_or_else(|| Status::permission_denied("the certificate names no node"))
}

impl PeerService {
    fn check(&self, sender: NodeId, from: NodeId, to: NodeId) -> Result<(), Status> {
        if from != sender {
            return Err(Status::permission_denied(format!(
                "the certificate names node {sender}, the message claims node {from}"
            )));
        }
        if to != self.id {
            return Err(Status::failed_precondition(format!(
                "this is node {}, not node {to}",
                self.id
            )));
        }
        let metrics = self.raft.metrics();
        let known = metrics
            .borrow()
            .membership_config
            .membership()
            .get_node(&sender)
            .is_some();
        // A node not yet initialised accepts its first leader's traffic (it learns membership
        // from it); afterwards only members may speak.
        let initialised = metrics.borrow().membership_config.log_id().is_some();
        if initialised && !known {
            return Err(Status::permission_denied(format!(
                "node {sender} is not a member of this cluster"
            )));
        }
        Ok(())
    }

    fn reply<T: Serialize>(&self, to: NodeId, v: &T) -> Result<Response<PeerMessage>, Status> {
        let payload = encode(v).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(PeerMessage {
            from_node_id: self.id,
            to_node_id: to,
            payload,
        }))
    }
}

impl PeerService {
    /// A refusal of any vote while [`Liveness::refuses_votes`] (this node just started, or
    /// holds a read lease): the candidate sees a vote not granted.
    fn vote_guard(
        &self,
    ) -> Option<Result<VoteResponse<NodeId>, openraft::error::RaftError<NodeId>>> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leading = (m.state == openraft::ServerState::Leader).then_some(&m.vote);
        if !self.liveness.refuses_votes(leading) {
            return None;
        }
        Some(Ok(VoteResponse {
            vote: m.vote,
            vote_granted: false,
            last_log_id: self.raft.data_metrics().borrow().last_log,
        }))
    }

    /// Checks the envelope and decodes its payload; returns the sender and the request.
    fn open<T: for<'de> serde::Deserialize<'de>>(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<(NodeId, T), Status> {
        let from = sender(&req)?;
        let m = req.into_inner();
        self.check(from, m.from_node_id, m.to_node_id)?;
        let rpc = decode(&m.payload)
            .map_err(|e| Status::invalid_argument(format!("malformed peer message: {e}")))?;
        Ok((from, rpc))
    }
}

#[tonic::async_trait]
impl peer_server::Peer for PeerService {
    async fn append_entries(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc): (
            NodeId,
            openraft::raft::AppendEntriesRequest<super::TypeConfig>,
        ) = self.open(req)?;
        let leader_commit = rpc.leader_commit.map_or(0, |l| l.index);
        // From the leader this node follows (or a newer one): it is heard while being written.
        let _arrived =
            (rpc.vote >= self.raft.metrics().borrow().vote).then(|| self.liveness.append_arrived());
        let r = self.raft.append_entries(rpc).await;
        // Accepted from the current leader (anything but a refusal by a higher vote).
        if r.as_ref()
            .is_ok_and(|a| !matches!(a, AppendEntriesResponse::HigherVote(_)))
        {
            self.liveness.leader_contact();
            self.liveness.leader_commit(leader_commit);
        }
        self.reply(from, &r)
    }

    async fn vote(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc): (NodeId, openraft::raft::VoteRequest<NodeId>) = self.open(req)?;
        if let Some(refusal) = self.vote_guard() {
            return self.reply(from, &refusal);
        }
        let r = self.raft.vote(rpc).await;
        if r.as_ref().is_ok_and(|v| v.vote_granted) {
            self.liveness.vote_granted();
        }
        self.reply(from, &r)
    }

    async fn install_snapshot(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc): (
            NodeId,
            openraft::raft::InstallSnapshotRequest<super::TypeConfig>,
        ) = self.open(req)?;
        let end = rpc
            .offset
            .checked_add(rpc.data.len() as u64)
            .filter(|end| *end <= SNAPSHOT_BYTES_MAX);
        if end.is_none() {
            return Err(Status::resource_exhausted(format!(
                "a snapshot may be at most {SNAPSHOT_BYTES_MAX} bytes (SNAPSHOT_BYTES_MAX); this chunk ends past it"
            )));
        }
        let vote = rpc.vote;
        let r = self.raft.install_snapshot(rpc).await;
        if r.as_ref().is_ok_and(|a| a.vote == vote) {
            self.liveness.leader_contact();
        }
        self.reply(from, &r)
    }

    async fn probe(&self, req: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        let sender = sender(&req)?;
        let r = req.into_inner();
        self.check(sender, r.from_node_id, r.to_node_id)?;
        let answer = self.liveness.answer(&self.raft, &probe_from_wire(&r));
        Ok(Response::new(answer_to_wire(&answer, r.from_node_id)))
    }
}
