//! One registry node: opens storage, starts openraft, serves the peer and client gRPC services,
//! initialises a new cluster when it is the bootstrapping member, and shuts down cleanly.

use crate::api::{batcher::Batcher, forward::Forwarder, RegistryService};
use crate::config::Config;
use crate::raft::network::{Network, MAX_PEER_MESSAGE};
use crate::raft::peer_service::PeerService;
use crate::raft::{NodeId, Raft};
use crate::storage::{self, StateStore};
use crate::tls::NodeTls;
use carbon_proto::peer::peer_server::PeerServer;
use carbon_proto::v1::registry_server::RegistryServer;
use carbon_proto::v1::Genesis;
use std::sync::Arc;
use std::time::Duration;

/// What every request handler shares.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub state: StateStore,
    pub genesis: Genesis,
    pub batcher: Batcher,
    pub forwarder: Forwarder,
}

pub fn raft_config(c: &Config) -> openraft::Config {
    openraft::Config {
        cluster_name: "carbon-registry".into(),
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        // Defaults are tight for real data (openraft #1706): allow long snapshot transfers.
        install_snapshot_timeout: 30_000,
        snapshot_max_chunk_size: 1 << 20,
        // With MAX_BATCH_BYTES per entry this bounds one append message (see api::batcher).
        max_payload_entries: 16,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(c.snapshot_logs),
        max_in_snapshot_log_to_keep: c.logs_to_keep,
        // openraft purges only once this many entries are purgeable.
        purge_batch_size: (c.snapshot_logs / 4).clamp(1, 256),
        ..Default::default()
    }
}

/// Starts a node and serves until `shutdown` resolves.
pub async fn run(
    config: Config,
    genesis: Genesis,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    refuse_public_plaintext(&config).await?;
    let tls = NodeTls::load(&config.tls, config.id)?;
    let (log, state) = storage::open(&config.data_dir, &genesis)?;
    let raft_cfg = Arc::new(raft_config(&config).validate()?);
    let raft = Raft::new(
        config.id,
        raft_cfg,
        Network {
            self_id: config.id,
            tls: tls.clone(),
        },
        log,
        state.clone(),
    )
    .await?;
    let node = Arc::new(Node {
        id: config.id,
        raft: raft.clone(),
        state,
        genesis,
        batcher: Batcher::start(raft.clone(), config.max_batch),
        forwarder: Forwarder::new((!config.client_plaintext).then(|| tls.forward_client())),
    });

    let peer_addr = tokio::net::lookup_host(&config.peer_addr)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("peer address {} does not resolve", config.peer_addr))?;
    let client_addr = tokio::net::lookup_host(&config.client_addr)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("client address {} does not resolve", config.client_addr))?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let peer = tonic::transport::Server::builder()
        .tls_config(tls.peer_server())?
        .add_service(
            PeerServer::new(PeerService {
                raft: raft.clone(),
                id: config.id,
            })
            .max_decoding_message_size(MAX_PEER_MESSAGE)
            .max_encoding_message_size(MAX_PEER_MESSAGE),
        )
        .serve_with_shutdown(peer_addr, stopped(stop_rx.clone()));
    let mut client = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(crate::api::limits::REQUESTS_PER_CONNECTION_MAX)
        .load_shed(true)
        .max_concurrent_streams(crate::api::limits::STREAMS_PER_CONNECTION_MAX);
    if !config.client_plaintext {
        client = client.tls_config(tls.client_api_server())?;
    }
    let client = client
        .add_service(
            RegistryServer::new(RegistryService { node: node.clone() })
                .max_decoding_message_size(crate::api::forward::MAX_CLIENT_MESSAGE)
                .max_encoding_message_size(crate::api::forward::MAX_CLIENT_MESSAGE),
        )
        .serve_with_shutdown(client_addr, stopped(stop_rx.clone()));
    let peer = tokio::spawn(peer);
    let client = tokio::spawn(client);
    tracing::info!(
        id = config.id,
        client = %config.client_addr,
        peer = %config.peer_addr,
        chain = %node.genesis.chain_id,
        "node started"
    );

    if config.bootstrap && !raft.is_initialized().await? {
        let members = config.initial_members();
        tracing::info!(?members, "initialising a new cluster");
        if let Err(e) = raft.initialize(members).await {
            tracing::warn!("initialise: {e}");
        }
    }

    tokio::select! {
        _ = shutdown => tracing::info!("shutting down"),
        r = peer_join(peer) => tracing::error!("peer server stopped: {r:?}"),
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), client).await;
    if let Err(e) = raft.shutdown().await {
        tracing::warn!("raft shutdown: {e}");
    }
    node.state.flush()?;
    tracing::info!("stopped");
    Ok(())
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

async fn peer_join(
    h: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) -> anyhow::Result<()> {
    h.await??;
    Ok(())
}
