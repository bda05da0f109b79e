//! The server side of peer traffic: the gRPC `Peer` service, on the node's peer address only.
//!
//! The port speaks mutual TLS only (see `tls`): the sender is the node its certificate names,
//! never what the message claims. A message whose claimed sender differs from its certificate,
//! addressed to another node id, or sent by a node outside the current membership, is refused:
//! connecting to the wrong node can lose data (openraft's own warning).

use super::{decode, encode, NodeId, Raft};
use carbon_proto::peer::{peer_server, PeerMessage};
use serde::Serialize;
use tonic::{Request, Response, Status};

/// Largest snapshot a node accepts from its leader, in bytes (chunks past it are refused before
/// they are written).
pub const SNAPSHOT_BYTES_MAX: u64 = 16 << 30;

pub struct PeerService {
    pub raft: Raft,
    pub id: NodeId,
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
    fn check(&self, sender: NodeId, m: &PeerMessage) -> Result<(), Status> {
        if m.from_node_id != sender {
            return Err(Status::permission_denied(format!(
                "the certificate names node {sender}, the message claims node {}",
                m.from_node_id
            )));
        }
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
    /// Checks the envelope and decodes its payload; returns the sender and the request.
    fn open<T: for<'de> serde::Deserialize<'de>>(
        &self,
        req: Request<PeerMessage>,
    ) -> Result<(NodeId, T), Status> {
        let from = sender(&req)?;
        let m = req.into_inner();
        self.check(from, &m)?;
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
        let r = self.raft.install_snapshot(rpc).await;
        self.reply(from, &r)
    }
}
