//! The client side of peer traffic: openraft's `RaftNetwork` over the gRPC `Peer` service.
//! Each message names its sender and intended receiver (see `peer_service`).
//!
//! Outgoing peer connections leave from the IP address the node listens on for peer traffic
//! (`peer_addr` in its config), when that is a specific address: on a multi-homed host the peers
//! then see this node's traffic come from the address they know it by, and firewall rules or
//! the test harness's partition proxy (`tests/src/proxy.rs`) can tell the members apart.

use super::clock::{self, Sample};
use super::watchdog::{Liveness, Probe, ProbeAnswer, PROBE_TIMEOUT};
use super::{decode, encode, LogId, NodeAddr, NodeId, TypeConfig, Vote};
use crate::limits::PEER_MESSAGE_BYTES_MAX;
use crate::tls::NodeTls;
use carbon_proto::peer::{self as pb, peer_client::PeerClient, PeerMessage};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Makes one [`Peer`] per target; connections are lazy and re-established by tonic.
#[derive(Clone)]
pub struct Network {
    pub self_id: NodeId,
    /// The source address of outgoing peer connections (see [`source_ip`]).
    pub local_ip: Option<IpAddr>,
    /// Says when a leader has gone quiet (`watchdog`).
    pub liveness: Arc<Liveness>,
    /// Mutual TLS: the target must present a certificate naming it; we present ours.
    pub tls: NodeTls,
}

/// The IP to send peer traffic from: the one of the peer listen address, unless that is the
/// unspecified address (0.0.0.0 or ::), in which case the operating system chooses.
pub fn source_ip(peer_listen: std::net::SocketAddr) -> Option<IpAddr> {
    let ip = peer_listen.ip();
    (!ip.is_unspecified()).then_some(ip)
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> Peer {
        Peer {
            from: self.self_id,
            target,
            node: node.clone(),
            generation: self.tls.generation(),
            client: peer_client(&self.tls, target, &node.peer_addr, self.local_ip),
            liveness: self.liveness.clone(),
            tls: self.tls.clone(),
            local_ip: self.local_ip,
        }
    }
}

/// A lazily connected client of node `target`'s `Peer` service, sending from `local_ip`: always
/// mutual TLS, and only to a peer whose certificate names `target`.
fn peer_client(
    tls: &NodeTls,
    target: NodeId,
    addr: &str,
    local_ip: Option<IpAddr>,
) -> Result<PeerClient<Channel>, String> {
    Endpoint::from_shared(format!("https://{addr}"))
        .and_then(|e| e.tls_config(tls.peer_client(target)))
        .map(|e| {
            let channel = e
                .connect_timeout(CONNECT_TIMEOUT)
                .local_address(local_ip)
                .connect_lazy();
            PeerClient::new(channel)
                .max_decoding_message_size(PEER_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(PEER_MESSAGE_BYTES_MAX)
        })
        .map_err(|e| e.to_string())
}

pub struct Peer {
    from: NodeId,
    target: NodeId,
    node: NodeAddr,
    /// The certificate generation the client was made with (`NodeTls::generation`).
    generation: u64,
    client: Result<PeerClient<Channel>, String>,
    liveness: Arc<Liveness>,
    tls: NodeTls,
    local_ip: Option<IpAddr>,
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
        // After a certificate reload (SIGHUP), a new channel: its connections present the new
        // certificate.
        if self.generation != self.tls.generation() {
            self.generation = self.tls.generation();
            self.client = peer_client(&self.tls, self.target, &self.node.peer_addr, self.local_ip);
        }
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
            // Slowness, not absence: a busy follower answers late. openraft backs off from an
            // `Unreachable` target for 500 ms; a late answer must not stop replication to a
            // follower that is alive (issue 19), so it is a network error, retried at the next
            // heartbeat or entry.
            Err(_) => {
                return Err(RPCError::Network(NetworkError::new(&Msg(format!(
                    "node {} did not answer in {:?}",
                    self.target,
                    option.hard_ttl()
                )))))
            }
            Ok(Err(status)) => return Err(status_error(self.target, &self.node, &status)),
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

/// A peer's refusal or a transport failure. Only a target that cannot be reached at all
/// (no connection: `UNAVAILABLE`) is `Unreachable`, for which openraft pauses sending to it;
/// anything else it answered is retried at once.
fn status_error<E: std::error::Error>(
    target: NodeId,
    node: &NodeAddr,
    status: &tonic::Status,
) -> RPCError<NodeId, NodeAddr, RaftError<NodeId, E>> {
    let msg = Msg(format!(
        "node {target} ({}): {}",
        node.peer_addr,
        status.message()
    ));
    if status.code() == tonic::Code::Unavailable {
        RPCError::Unreachable(Unreachable::new(&msg))
    } else {
        RPCError::Network(NetworkError::new(&msg))
    }
}

/// What a leader that went quiet (see `watchdog`) gets instead of sending AppendEntries or a
/// snapshot for its vote: to openraft the followers look unreachable, to the followers the leader
/// looks gone.
fn gone_quiet<E: std::error::Error>() -> RPCError<NodeId, NodeAddr, RaftError<NodeId, E>> {
    RPCError::Unreachable(Unreachable::new(&Msg(
        "this leader has gone quiet: it lost its majority or its clock disagrees".into(),
    )))
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
        if self.liveness.is_muted(&rpc.vote) {
            return Err(gone_quiet());
        }
        let (sent, vote) = (Instant::now(), rpc.vote);
        self.liveness.sending(&vote, sent);
        let r = self.call(Kind::Append, &rpc, &option).await;
        if matches!(
            r,
            Ok(AppendEntriesResponse::Success
                | AppendEntriesResponse::PartialSuccess(_)
                | AppendEntriesResponse::Conflict)
        ) {
            self.liveness.acknowledged(self.target, &vote, sent);
        }
        r
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        if self.liveness.is_muted(&rpc.vote) {
            return Err(gone_quiet());
        }
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

/// Probe clients by (node id, peer address, certificate generation): a client verifies the node
/// it was made for, and presents the certificate of its generation.
type ProbeClients = BTreeMap<(NodeId, String, u64), PeerClient<Channel>>;

/// Sends the watchdog's probes (`Peer.Probe`): one client per peer address, reused.
#[derive(Clone)]
pub struct Prober {
    from: NodeId,
    local_ip: Option<IpAddr>,
    tls: NodeTls,
    clients: Arc<Mutex<ProbeClients>>,
}

impl Prober {
    pub fn new(from: NodeId, local_ip: Option<IpAddr>, tls: NodeTls) -> Prober {
        Prober {
            from,
            local_ip,
            tls,
            clients: Arc::default(),
        }
    }

    fn client(&self, to: NodeId, addr: &str) -> Result<PeerClient<Channel>, String> {
        let mut clients = match self.clients.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let generation = self.tls.generation();
        let key = (to, addr.to_string(), generation);
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        clients.retain(|(_, _, g), _| *g == generation);
        let c = peer_client(&self.tls, to, addr, self.local_ip)?;
        clients.insert(key, c.clone());
        Ok(c)
    }

    /// Probes one peer; returns its answer and the clock sample it gives.
    pub async fn probe(
        &self,
        to: NodeId,
        addr: &str,
        campaign: Option<Option<LogId>>,
    ) -> Result<(ProbeAnswer, Sample), String> {
        let mut client = self.client(to, addr)?;
        let req = pb::ProbeRequest {
            from_node_id: self.from,
            to_node_id: to,
            campaign: campaign.is_some(),
            candidate_last_log: campaign.flatten().map(|l| to_wire(&l)),
        };
        let sent_ms = clock::now_ms();
        let sent = Instant::now();
        let r = tokio::time::timeout(PROBE_TIMEOUT, client.probe(req))
            .await
            .map_err(|_| format!("node {to} did not answer a probe in {PROBE_TIMEOUT:?}"))?
            .map_err(|s| format!("node {to}: {}", s.message()))?
            .into_inner();
        if r.from_node_id != to || r.to_node_id != self.from {
            return Err(format!(
                "node {to}'s address answered as node {}",
                r.from_node_id
            ));
        }
        let sample = Sample::measure(sent_ms, sent.elapsed(), r.clock_ms, Instant::now());
        Ok((answer_from_wire(&r), sample))
    }

    /// Probes every peer at once (each bounded by `PROBE_TIMEOUT`), records the answers, and
    /// returns the peers that would vote for this node (campaign probes only), as soon as
    /// `enough` of them would (the remaining probes are dropped).
    pub async fn round(
        &self,
        live: &Liveness,
        peers: &[(NodeId, String)],
        campaign: Option<Option<LogId>>,
        enough: usize,
    ) -> Vec<NodeId> {
        let mut probes = tokio::task::JoinSet::new();
        for (id, addr) in peers {
            let (me, id, addr) = (self.clone(), *id, addr.clone());
            probes.spawn(async move { me.probe(id, &addr, campaign).await });
        }
        let mut granted = Vec::new();
        while let Some(r) = probes.join_next().await {
            match r {
                Ok(Ok((answer, sample))) => {
                    if answer.would_vote {
                        granted.push(answer.node);
                    }
                    live.record(answer, sample);
                    if granted.len() >= enough {
                        break;
                    }
                }
                Ok(Err(e)) => tracing::debug!("probe: {e}"),
                Err(e) => tracing::debug!("probe task: {e}"),
            }
        }
        granted.sort_unstable();
        granted
    }
}

pub fn to_wire(l: &LogId) -> pb::LogId {
    pb::LogId {
        term: l.leader_id.term,
        node_id: l.leader_id.node_id,
        index: l.index,
    }
}

pub fn from_wire(l: &pb::LogId) -> LogId {
    LogId::new(openraft::CommittedLeaderId::new(l.term, l.node_id), l.index)
}

fn answer_from_wire(r: &pb::ProbeResponse) -> ProbeAnswer {
    let mut vote = Vote::new(r.term, r.voted_for);
    if r.vote_committed {
        vote.commit();
    }
    ProbeAnswer {
        node: r.from_node_id,
        clock_ms: r.clock_ms,
        leader_contact_age_ms: r.leader_contact_age_ms,
        vote,
        last_log: r.last_log.as_ref().map(from_wire),
        leader: (r.leader_id != 0).then_some(r.leader_id),
        would_vote: r.would_vote,
        ledger_version_max: r.ledger_version_max.max(1),
    }
}

/// The wire form of an answer (the peer service sends it).
pub fn answer_to_wire(a: &ProbeAnswer, to: NodeId) -> pb::ProbeResponse {
    pb::ProbeResponse {
        from_node_id: a.node,
        to_node_id: to,
        clock_ms: a.clock_ms,
        leader_contact_age_ms: a.leader_contact_age_ms,
        term: a.vote.leader_id.term,
        voted_for: a.vote.leader_id.node_id,
        vote_committed: a.vote.committed,
        last_log: a.last_log.as_ref().map(to_wire),
        leader_id: a.leader.unwrap_or(0),
        would_vote: a.would_vote,
        ledger_version_max: a.ledger_version_max,
    }
}

/// A probe as its sender stated it.
pub fn probe_from_wire(r: &pb::ProbeRequest) -> Probe {
    Probe {
        from: r.from_node_id,
        campaign: r
            .campaign
            .then(|| r.candidate_last_log.as_ref().map(from_wire)),
    }
}
