//! Node configuration: a TOML file for cluster members (`carbon-node run --config node.toml`),
//! or the embedded single-node default (`carbon-node dev`).

use crate::raft::{NodeAddr, NodeId};
use crate::tls::TlsConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: NodeId,
    pub peer_addr: String,
    pub client_addr: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: NodeId,
    pub data_dir: PathBuf,
    /// Client API (gRPC `Registry`), e.g. 127.0.0.1:50051.
    pub client_addr: String,
    /// Raft traffic (gRPC `Peer`), e.g. 127.0.0.1:50061.
    pub peer_addr: String,
    /// Path of the genesis TOML (relative paths are relative to the config file).
    pub genesis: PathBuf,
    /// This node initialises the cluster with `members` on its first start.
    #[serde(default)]
    pub bootstrap: bool,
    /// The initial voters (used only by the bootstrapping node).
    #[serde(default)]
    pub members: Vec<Member>,
    /// Build a snapshot every this many log entries.
    #[serde(default = "default_snapshot_logs")]
    pub snapshot_logs: u64,
    /// Log entries kept behind a snapshot (for followers that lag a little); older ones are purged.
    #[serde(default = "default_logs_to_keep")]
    pub logs_to_keep: u64,
    /// Largest number of transactions in one log entry.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// The public disclosure page (HTTP), e.g. 127.0.0.1:8080; none if unset.
    #[serde(default)]
    pub disclosure_addr: Option<String>,
    /// Certificates: mutual TLS on the peer port, TLS on the client API (see `tls`).
    pub tls: TlsConfig,
    /// Serve the client API without TLS (only `carbon-node dev`, only on a loopback address).
    #[serde(skip)]
    pub client_plaintext: bool,
    /// How far (ms) the leader's clock may be from a majority of the voters' clocks; beyond it
    /// the leader refuses writes (ledger time is the leader's clock). See `raft::clock`.
    #[serde(default = "default_clock_tolerance_ms")]
    pub clock_tolerance_ms: u64,
}

fn default_snapshot_logs() -> u64 {
    10_000
}

fn default_logs_to_keep() -> u64 {
    1_000
}

fn default_max_batch() -> usize {
    4_096
}

fn default_clock_tolerance_ms() -> u64 {
    3_000
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let mut c: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if c.genesis.is_relative() {
            c.genesis = base.join(&c.genesis);
        }
        if c.data_dir.is_relative() {
            c.data_dir = base.join(&c.data_dir);
        }
        c.tls.rebase(base);
        c.validate()?;
        Ok(c)
    }

    /// The embedded default: one node, data in `data_dir`, initialised on first start.
    pub fn dev(
        data_dir: PathBuf,
        genesis: PathBuf,
        client_addr: String,
        peer_addr: String,
        disclosure_addr: Option<String>,
        tls: TlsConfig,
        client_plaintext: bool,
    ) -> Self {
        Config {
            id: 1,
            data_dir,
            members: vec![Member {
                id: 1,
                peer_addr: peer_addr.clone(),
                client_addr: client_addr.clone(),
            }],
            client_addr,
            peer_addr,
            genesis,
            bootstrap: true,
            snapshot_logs: default_snapshot_logs(),
            logs_to_keep: default_logs_to_keep(),
            max_batch: default_max_batch(),
            disclosure_addr,
            clock_tolerance_ms: default_clock_tolerance_ms(),
            tls,
            client_plaintext,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.id == 0 {
            anyhow::bail!("node id 0 is reserved; use 1, 2, 3, ...");
        }
        if self.bootstrap && !self.members.iter().any(|m| m.id == self.id) {
            anyhow::bail!("a bootstrapping node must be one of `members`");
        }
        if self.max_batch == 0 || self.snapshot_logs == 0 {
            anyhow::bail!("max_batch and snapshot_logs must be positive");
        }
        if self.clock_tolerance_ms == 0 {
            anyhow::bail!("clock_tolerance_ms must be positive");
        }
        Ok(())
    }

    pub fn initial_members(&self) -> BTreeMap<NodeId, NodeAddr> {
        self.members
            .iter()
            .map(|m| {
                (
                    m.id,
                    NodeAddr {
                        peer_addr: m.peer_addr.clone(),
                        client_addr: m.client_addr.clone(),
                    },
                )
            })
            .collect()
    }
}
