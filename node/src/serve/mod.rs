//! Running one registry node: opens storage, starts openraft, assembles the [`Node`] context,
//! serves the peer and client gRPC services (with health and reflection on the client address;
//! the public disclosure page and the metrics endpoint ([`metrics_http`]) when configured),
//! initialises a new cluster when it is the bootstrapping member, and shuts down cleanly.
//!
//! The top of the node's modules: it builds every server from its service, so nothing else
//! needs to know how they are put together.

pub mod metrics_http;

use crate::api::RegistryService;
use crate::config::Config;
use crate::forward::Forwarder;
use crate::limits::{
    APPEND_ENTRIES_MAX, CATCHING_UP_ENTRIES_MAX, CLIENT_MESSAGE_BYTES_MAX, PEER_MESSAGE_BYTES_MAX,
    REQUESTS_PER_CONNECTION_MAX, SNAPSHOT_CHUNK_BYTES_MAX, STREAMS_PER_CONNECTION_MAX,
};
use crate::node::Node;
use crate::raft::network::{Network, Prober};
use crate::raft::peer_service::PeerService;
use crate::raft::watchdog::{self, Liveness};
use crate::raft::Raft;
use crate::storage::{self, LogStore};
use crate::tls::NodeTls;
use crate::write::{pool::Pool, proposer::Proposer};
use carbon_proto::peer::peer_server::PeerServer;
use carbon_proto::v1::registry_server::RegistryServer;
use carbon_proto::v1::Genesis;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The timeout of one AppendEntries, heartbeat or read-index confirmation (see [`raft_config`]).
pub const RPC_TIMEOUT_MS: u64 = 300;
const _: () =
    assert!(crate::raft::watchdog::HEARTBEAT_INTERVAL.as_millis() as u64 * 2 <= RPC_TIMEOUT_MS);
const _: () = assert!(RPC_TIMEOUT_MS < 400, "below election_timeout_min");

pub fn raft_config(c: &Config) -> openraft::Config {
    openraft::Config {
        cluster_name: "carbon-registry".into(),
        // openraft 0.9 times every AppendEntries, heartbeat and read-index confirmation out at
        // `heartbeat_interval`: this is that timeout, long enough for a busy follower's fsync.
        // Heartbeats go out every `watchdog::HEARTBEAT_INTERVAL` (100 ms), which it triggers.
        heartbeat_interval: RPC_TIMEOUT_MS,
        election_timeout_min: 400,
        election_timeout_max: 800,
        // Elections start from raft::watchdog, after a pre-vote (openraft 0.9 has none).
        enable_elect: false,
        // Defaults are tight for real data (openraft #1706): allow long snapshot transfers.
        install_snapshot_timeout: 30_000,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES_MAX,
        // With ENTRY_BYTES_MAX per entry this bounds one append message (see write::proposer).
        max_payload_entries: APPEND_ENTRIES_MAX,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(c.snapshot_logs),
        max_in_snapshot_log_to_keep: c.logs_to_keep,
        // openraft purges only once this many entries are purgeable.
        purge_batch_size: (c.snapshot_logs / 4).clamp(1, 256),
        // A learner counts as caught up (AddLearner returns) within this many entries of the
        // leader, as health's SERVING does; openraft's default is 5,000, which counted a learner
        // that was never reached as caught up.
        replication_lag_threshold: CATCHING_UP_ENTRIES_MAX,
        ..Default::default()
    }
}

/// Binds a listener, or says which address could not be bound and why.
async fn bind(what: &str, addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{what} address {addr}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{what} address {addr} does not resolve"))?;
    tokio::net::TcpListener::bind(resolved)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on the {what} address {addr}: {e}"))
}

/// Resolves when openraft reports a fatal error (storage failure, panic in its core): the
/// process must stop rather than serve stale reads.
async fn raft_fatal(raft: Raft) -> String {
    let mut metrics = raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow().running_state {
            return fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            return "Raft stopped".to_string();
        }
    }
}

/// Starts a node and serves until `shutdown` resolves. Returns an error — and the process exits
/// non-zero, so that a supervisor restarts it — when a listener cannot be bound, a server stops,
/// or Raft reports a fatal error.
pub async fn run(
    config: Config,
    genesis: Genesis,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    refuse_public_plaintext(&config).await?;
    let tls = NodeTls::load(&config.tls, config.id)?;
    let listeners = bind_all(&config).await?;
    let (node, log) = assemble(&config, genesis, &tls, &listeners.peer).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let servers = start_servers(&config, &tls, &node, log, listeners, &stop_rx).await?;
    tokio::spawn(reload_on_hangup(tls.clone()));
    tracing::info!(
        id = config.id,
        client = %config.client_addr,
        peer = %config.peer_addr,
        chain = %node.genesis.chain_id,
        "node started"
    );
    initialise_if_bootstrapping(&config, &node.raft).await?;
    serve_until_shutdown(&node, servers, &stop_tx, shutdown).await
}

/// Reads the node certificate and key again on every SIGHUP (`tls::reload`); a pair that fails
/// the checks is refused and the old one kept (the log says why).
async fn reload_on_hangup(tls: NodeTls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("no certificate reload on SIGHUP: {e}");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: the node certificate was read again"),
                Err(e) => tracing::error!(
                    "SIGHUP: the node certificate was not replaced, the old one stays: {e:#}"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// The node's listeners: peer and client gRPC, and the optional disclosure page and metrics.
struct Listeners {
    peer: tokio::net::TcpListener,
    client: tokio::net::TcpListener,
    page: Option<tokio::net::TcpListener>,
    metrics: Option<tokio::net::TcpListener>,
}

/// Binds every configured address first: a port in use is a start-up failure, not a node that
/// serves nothing.
async fn bind_all(config: &Config) -> anyhow::Result<Listeners> {
    let peer = bind("peer", &config.peer_addr).await?;
    let client = bind("client", &config.client_addr).await?;
    let page = match &config.disclosure_addr {
        Some(a) => Some(bind("disclosure page", a).await?),
        None => None,
    };
    let metrics = match &config.metrics_addr {
        Some(a) => Some(bind("metrics", a).await?),
        None => None,
    };
    Ok(Listeners {
        peer,
        client,
        page,
        metrics,
    })
}

/// Assembles the Raft node: the clock test knob, storage, openraft with its peer network, the
/// election watchdog, and what every request handler shares. Returns the node and its log (for
/// the metrics endpoint).
async fn assemble(
    config: &Config,
    genesis: Genesis,
    tls: &NodeTls,
    peer_listener: &tokio::net::TcpListener,
) -> anyhow::Result<(Arc<Node>, LogStore)> {
    let offset = crate::raft::clock::init_from_env().map_err(|e| anyhow::anyhow!(e))?;
    if offset != 0 {
        tracing::warn!(
            offset_ms = offset,
            "test knob: this node's clock is shifted"
        );
    }
    let (log, state) = storage::open(&config.data_dir, &genesis)?;
    let raft_cfg = Arc::new(raft_config(config).validate()?);
    let liveness = Liveness::new(
        config.id,
        watchdog::Settings::new(&raft_cfg, config.clock_tolerance_ms)
            .with_ledger_version_max(crate::ledger::VERSION),
    );
    {
        use openraft::storage::RaftLogStorage;
        if let Some(vote) = log.clone().read_vote().await? {
            liveness.restored(vote);
        }
    }
    let local_ip = crate::raft::network::source_ip(peer_listener.local_addr()?);
    let network = Network {
        self_id: config.id,
        local_ip,
        liveness: liveness.clone(),
        tls: tls.clone(),
    };
    let raft = Raft::new(config.id, raft_cfg, network, log.clone(), state.clone()).await?;
    tokio::spawn(watchdog::run(
        raft.clone(),
        liveness.clone(),
        Prober::new(config.id, local_ip, tls.clone()),
    ));
    let pool = Pool::start(ingress_threads(), state.clone(), genesis.chain_id.clone());
    let node = Arc::new(Node {
        id: config.id,
        raft: raft.clone(),
        state,
        genesis,
        proposer: Proposer::start(raft.clone(), config.max_batch, liveness.clone()),
        bulk: crate::write::bulk::BulkPacer::new(config.bulk_rows_per_second),
        pool,
        forwarder: Forwarder::new((!config.client_plaintext).then(|| tls.forward_client())),
        read_index: crate::raft::read_index::ReadIndex::new(raft.clone(), liveness.clone()),
        liveness,
    });
    tokio::spawn(crate::write::due::run(Arc::downgrade(&node)));
    Ok((node, log))
}

/// Threads of the ingress pool: one per core.
fn ingress_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The node's servers, running; each stops when the stop signal turns true.
struct Servers {
    peer: JoinHandle<Result<(), tonic::transport::Error>>,
    client: JoinHandle<Result<(), tonic::transport::Error>>,
    page: JoinHandle<anyhow::Result<()>>,
    metrics: JoinHandle<anyhow::Result<()>>,
}

/// Builds the peer and client gRPC servers and starts them, with the disclosure page and the
/// metrics endpoint when configured (otherwise a task that waits for the stop signal).
async fn start_servers(
    config: &Config,
    tls: &NodeTls,
    node: &Arc<Node>,
    log: LogStore,
    listeners: Listeners,
    stop_rx: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Servers> {
    let peer = peer_server(config, tls, node, listeners.peer, stop_rx)?;
    let client = client_server(config, tls, node, listeners.client, stop_rx).await?;
    let peer = tokio::spawn(peer);
    let client = tokio::spawn(client);
    let (page_node, page_stop, page_listener) =
        (node.clone(), stopped(stop_rx.clone()), listeners.page);
    let page = tokio::spawn(async move {
        match page_listener {
            Some(listener) => crate::disclosure_page::serve(page_node, listener, page_stop).await,
            None => {
                page_stop.await;
                Ok(())
            }
        }
    });
    let (metrics_node, metrics_stop, metrics_listener) =
        (node.clone(), stopped(stop_rx.clone()), listeners.metrics);
    let metrics = tokio::spawn(async move {
        match metrics_listener {
            Some(listener) => metrics_http::serve(metrics_node, log, listener, metrics_stop).await,
            None => {
                metrics_stop.await;
                Ok(())
            }
        }
    });
    Ok(Servers {
        peer,
        client,
        page,
        metrics,
    })
}

/// A server run to its end.
type ServerRun = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>,
>;

/// The peer gRPC server (Raft traffic between members), mutual TLS (the certificate resolved per
/// handshake: `tls::reload`).
fn peer_server(
    config: &Config,
    tls: &NodeTls,
    node: &Node,
    listener: tokio::net::TcpListener,
    stop_rx: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<ServerRun> {
    let incoming = crate::tls::reload::incoming(listener, tls.peer_server()?);
    Ok(Box::pin(
        tonic::transport::Server::builder()
            .add_service(
                PeerServer::new(PeerService {
                    raft: node.raft.clone(),
                    id: config.id,
                    liveness: node.liveness.clone(),
                })
                .max_decoding_message_size(PEER_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(PEER_MESSAGE_BYTES_MAX),
            )
            .serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone())),
    ))
}

/// The client gRPC server: the registry API, health (NOT_SERVING until the health task's first
/// evaluation) and reflection; TLS unless the client API is plaintext (`dev`, loopback only).
async fn client_server(
    config: &Config,
    tls: &NodeTls,
    node: &Arc<Node>,
    listener: tokio::net::TcpListener,
    stop_rx: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<ServerRun> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // NOT_SERVING until the first evaluation says otherwise (the reporter starts "" SERVING).
    for service in crate::api::health::SERVICES {
        health_reporter
            .set_service_status(service, tonic_health::ServingStatus::NotServing)
            .await;
    }
    tokio::spawn(crate::api::health::run(node.clone(), health_reporter));
    let (reflection_v1, reflection_v1alpha) = crate::api::reflection::services()?;
    let router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(REQUESTS_PER_CONNECTION_MAX)
        .load_shed(true)
        .max_concurrent_streams(STREAMS_PER_CONNECTION_MAX)
        .layer(crate::api::rpc_metrics::RpcMetricsLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            RegistryServer::new(RegistryService { node: node.clone() })
                .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(CLIENT_MESSAGE_BYTES_MAX),
        );
    let stop = stopped(stop_rx.clone());
    if config.client_plaintext {
        return Ok(Box::pin(
            router.serve_with_incoming_shutdown(incoming(listener), stop),
        ));
    }
    let incoming = crate::tls::reload::incoming(listener, tls.client_api_server()?);
    Ok(Box::pin(
        router.serve_with_incoming_shutdown(incoming, stop),
    ))
}

/// The bootstrapping member initialises a new cluster once (a failure is logged: another
/// member may have initialised it).
async fn initialise_if_bootstrapping(config: &Config, raft: &Raft) -> anyhow::Result<()> {
    if config.bootstrap && !raft.is_initialized().await? {
        let members = config.initial_members();
        tracing::info!(?members, "initialising a new cluster");
        if let Err(e) = raft.initialize(members).await {
            tracing::warn!("initialise: {e}");
        }
    }
    Ok(())
}

/// Serves until `shutdown` resolves, a server stops or Raft reports a fatal error; then stops
/// the servers (5 s each), shuts Raft down and flushes the state machine.
async fn serve_until_shutdown(
    node: &Node,
    mut servers: Servers,
    stop_tx: &tokio::sync::watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let failure = tokio::select! {
        _ = shutdown => {
            tracing::info!("shutting down");
            None
        }
        r = &mut servers.peer => Some(format!("the peer server stopped: {}", server_end(r))),
        r = &mut servers.client => Some(format!("the client server stopped: {}", server_end(r))),
        r = &mut servers.page => Some(format!("the disclosure page stopped: {}", page_end(r))),
        r = &mut servers.metrics => Some(format!("the metrics server stopped: {}", page_end(r))),
        fatal = raft_fatal(node.raft.clone()) => Some(format!("Raft stopped with a fatal error: {fatal}")),
    };
    if let Some(why) = &failure {
        tracing::error!("{why}; stopping the node");
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut servers.client).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut servers.peer).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut servers.page).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut servers.metrics).await;
    if let Err(e) = node.raft.shutdown().await {
        tracing::warn!("raft shutdown: {e}");
    }
    node.state.flush()?;
    match failure {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(why) => Err(anyhow::anyhow!(why)),
    }
}

/// A client API without TLS only on loopback (`dev`): anything else would send credentials and
/// private records in the clear.
async fn refuse_public_plaintext(config: &Config) -> anyhow::Result<()> {
    if !config.client_plaintext {
        return Ok(());
    }
    for a in tokio::net::lookup_host(&config.client_addr).await? {
        if !a.ip().is_loopback() {
            anyhow::bail!(
                "the client API may be served without TLS on a loopback address only, not {a}: use --client-tls"
            );
        }
    }
    Ok(())
}

fn page_end(r: Result<anyhow::Result<()>, tokio::task::JoinError>) -> String {
    match r {
        Ok(Ok(())) => "it returned".into(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Accepted connections with Nagle's algorithm off: tonic's `tcp_nodelay` applies only to the
/// addresses it binds itself, and with it on a small answer waited ~40 ms for a delayed ACK
/// (measured by a Python grpcio client: 20–60 ms per read on an idle loopback node).
fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

fn server_end(r: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>) -> String {
    match r {
        Ok(Ok(())) => "it returned".into(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}
