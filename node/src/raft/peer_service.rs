//! The server side of peer traffic: the gRPC `Peer` service, on the node's peer address only.
//!
//! A message addressed to another node id, or sent by a node outside the current membership,
//! is refused: connecting to the wrong node can lose data (openraft's own warning).

use super::network::{answer_to_wire, probe_from_wire};
use super::watchdog::Liveness;
use super::{decode, encode, NodeId, Raft};
use carbon_proto::peer::{peer_server, PeerMessage, ProbeRequest, ProbeResponse};
use openraft::raft::AppendEntriesResponse;
use serde::Serialize;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct PeerService {
    pub raft: Raft,
    pub id: NodeId,
    /// Told when a leader's traffic is accepted; answers probes (`watchdog`).
    pub liveness: Arc<Liveness>,
}

impl PeerService {
    fn check(&self, from: NodeId, to: NodeId) -> Result<(), Status> {
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
            .get_node(&from)
            .is_some();
        // A node not yet initialised accepts its first leader's traffic (it learns membership
        // from it); afterwards only members may speak.
        let initialised = metrics.borrow().membership_config.log_id().is_some();
        if initialised && !known {
            return Err(Status::permission_denied(format!(
                "node {from} is not a member of this cluster"
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
    /// Checks the envelope and decodes its payload; returns the sender and the request.
    fn open<T: for<'de> serde::Deserialize<'de>>(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<(NodeId, T), Status> {
        let m = req.into_inner();
        self.check(m.from_node_id, m.to_node_id)?;
        let rpc = decode(&m.payload)
            .map_err(|e| Status::invalid_argument(format!("malformed peer message: {e}")))?;
        Ok((m.from_node_id, rpc))
    }
}

#[tonic::async_trait]
impl peer_server::Peer for PeerService {
    async fn append_entries(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc) = self.open(req)?;
        let r = self.raft.append_entries(rpc).await;
        // Accepted from the current leader (anything but a refusal by a higher vote).
        if r.as_ref()
            .is_ok_and(|a| !matches!(a, AppendEntriesResponse::HigherVote(_)))
        {
            self.liveness.leader_contact();
        }
        self.reply(from, &r)
    }

    async fn vote(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc) = self.open(req)?;
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
        let vote = rpc.vote;
        let r = self.raft.install_snapshot(rpc).await;
        if r.as_ref().is_ok_and(|a| a.vote == vote) {
            self.liveness.leader_contact();
        }
        self.reply(from, &r)
    }

    async fn probe(&self, req: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        let r = req.into_inner();
        self.check(r.from_node_id, r.to_node_id)?;
        let answer = self.liveness.answer(&self.raft, &probe_from_wire(&r));
        Ok(Response::new(answer_to_wire(&answer, r.from_node_id)))
    }
}
