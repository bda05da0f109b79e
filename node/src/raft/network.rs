//! The client side of peer traffic: openraft's `RaftNetwork` over the gRPC `Peer` service.
//! Each message names its sender and intended receiver (see `peer_service`).

use super::{decode, encode, NodeAddr, NodeId, TypeConfig};
use crate::tls::NodeTls;
use carbon_proto::peer::{peer_client::PeerClient, PeerMessage};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Largest peer message (one append carries at most `max_payload_entries` batches).
pub const MAX_PEER_MESSAGE: usize = 96 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes one [`Peer`] per target; connections are lazy and re-established by tonic.
#[derive(Clone)]
pub struct Network {
    pub self_id: NodeId,
    /// Mutual TLS: the target must present a certificate naming it; we present ours.
    pub tls: NodeTls,
}

/// The peer endpoint of `target`: always TLS, verified to be node `target`.
fn peer_endpoint(
    tls: &NodeTls,
    target: NodeId,
    node: &NodeAddr,
) -> Result<Endpoint, tonic::transport::Error> {
    Endpoint::from_shared(format!("https://{}", node.peer_addr))?
        .tls_config(tls.peer_client(target))
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> Peer {
        let client = peer_endpoint(&self.tls, target, node)
            .map(|e| {
                let channel = e.connect_timeout(CONNECT_TIMEOUT).connect_lazy();
                PeerClient::new(channel)
                    .max_decoding_message_size(MAX_PEER_MESSAGE)
                    .max_encoding_message_size(MAX_PEER_MESSAGE)
            })
            .map_err(|e| e.to_string());
        Peer {
            from: self.self_id,
            target,
            node: node.clone(),
            client,
        }
    }
}

pub struct Peer {
    from: NodeId,
    target: NodeId,
    node: NodeAddr,
    client: Result<PeerClient<Channel>, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

type Rpc<T, E> = Result<T, RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>>;

impl Peer {
    async fn call<Req, Resp, E>(
        &mut self,
        kind: Kind,
        req: &Req,
        option: &RPCOption,
    ) -> Rpc<Resp, E>
    where
        Req: serde::Serialize,
        Resp: for<'de> serde::Deserialize<'de>,
        E: std::error::Error + for<'de> serde::Deserialize<'de>,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(RPCError::Unreachable(Unreachable::new(&Msg(e.clone())))),
        };
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let msg = PeerMessage {
            from_node_id: self.from,
            to_node_id: self.target,
            payload,
        };
        let mut client = client;
        let fut = async move {
            match kind {
                Kind::Append => client.append_entries(msg).await,
                Kind::Vote => client.vote(msg).await,
                Kind::Snapshot => client.install_snapshot(msg).await,
            }
        };
        let resp = match tokio::time::timeout(option.hard_ttl(), fut).await {
            Err(_) => {
                return Err(RPCError::Unreachable(Unreachable::new(&Msg(format!(
                    "node {} did not answer in {:?}",
                    self.target,
                    option.hard_ttl()
                )))))
            }
            Ok(Err(status)) => {
                return Err(RPCError::Unreachable(Unreachable::new(&Msg(format!(
                    "node {} ({}): {}",
                    self.target,
                    self.node.peer_addr,
                    status.message()
                )))))
            }
            Ok(Ok(r)) => r.into_inner(),
        };
        let result: Result<Resp, RaftError<NodeId, E>> =
            decode(&resp.payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Append,
    Vote,
    Snapshot,
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(Kind::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(Kind::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(Kind::Vote, &rpc, &option).await
    }
}
