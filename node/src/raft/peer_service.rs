//! The server side of peer traffic: the gRPC `Peer` service, on the node's peer address only.
//!
//! A message addressed to another node id, or sent by a node outside the current membership,
//! is refused: connecting to the wrong node can lose data (openraft's own warning).

use super::{decode, encode, NodeId, Raft};
use carbon_proto::peer::{peer_server, PeerMessage};
use serde::Serialize;
use tonic::{Request, Response, Status};

pub struct PeerService {
    pub raft: Raft,
    pub id: NodeId,
}

impl PeerService {
    fn check(&self, m: &PeerMessage) -> Result<(), Status> {
        if m.to_node_id != self.id {
            return Err(Status::failed_precondition(format!(
                "this is node {}, not node {}",
                self.id, m.to_node_id
            )));
        }
        let metrics = self.raft.metrics();
        let known = metrics
            .borrow()
            .membership_config
            .membership()
            .get_node(&m.from_node_id)
            .is_some();
        // A node not yet initialised accepts its first leader's traffic (it learns membership
        // from it); afterwards only members may speak.
        let initialised = metrics.borrow().membership_config.log_id().is_some();
        if initialised && !known {
            return Err(Status::permission_denied(format!(
                "node {} is not a member of this cluster",
                m.from_node_id
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
        self.check(&m)?;
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
        self.reply(from, &r)
    }

    async fn vote(&self, req: Request<PeerMessage>) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc) = self.open(req)?;
        let r = self.raft.vote(rpc).await;
        self.reply(from, &r)
    }

    async fn install_snapshot(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<Response<PeerMessage>, Status> {
        let (from, rpc) = self.open(req)?;
        let r = self.raft.install_snapshot(rpc).await;
        self.reply(from, &r)
    }
}
