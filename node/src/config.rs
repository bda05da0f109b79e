//! Node configuration: one set of settings ([`Config`]) from layers, later ones winning —
//! built-in defaults (for `dev`: a whole single-node setup) < a TOML file (`--config`) < the
//! environment (`CARBON_<SETTING>`, e.g. `CARBON_CLIENT_ADDR`) < command-line flags
//! (`--client-addr`). The `figment` crate merges the layers. Every setting is listed in
//! [`SETTINGS`] and documented in docs/CONFIG.md (a test checks that both agree).

use crate::raft::{NodeAddr, NodeId};
use crate::tls::TlsConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: NodeId,
    pub peer_addr: String,
    pub client_addr: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines; colours only when the output is a terminal.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub id: NodeId,
    pub data_dir: PathBuf,
    /// Client API (gRPC `Registry`, health, reflection), e.g. 127.0.0.1:50051.
    pub client_addr: String,
    /// Raft traffic (gRPC `Peer`), e.g. 127.0.0.1:50061.
    pub peer_addr: String,
    /// Path of the genesis TOML (relative paths in a file are relative to that file).
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
    /// Rows of bulk transactions (rule 16's bulk opening and reduction records) the leader
    /// admits per second; 0: unpaced (`write::bulk`).
    #[serde(default = "default_bulk_rows_per_second")]
    pub bulk_rows_per_second: u64,
    /// How far (ms) the leader's clock may be from a majority of the voters' clocks; beyond it
    /// the leader refuses writes (ledger time is the leader's clock). See `raft::clock`.
    #[serde(default = "default_clock_tolerance_ms")]
    pub clock_tolerance_ms: u64,
    /// The public disclosure page (HTTP), e.g. 127.0.0.1:8080; none if unset or `off`.
    #[serde(default)]
    pub disclosure_addr: Option<String>,
    /// Prometheus metrics (HTTP, `GET /metrics`), e.g. 127.0.0.1:9464; none if unset or `off`.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// Which log lines to write (`tracing` filter syntax; `RUST_LOG` overrides it).
    #[serde(default = "default_log_filter")]
    pub log_filter: String,
    /// Certificates: mutual TLS on the peer port, TLS on the client API (`crate::tls`). `dev`
    /// makes them in `<data_dir>/certs` on first start.
    pub tls: TlsConfig,
    /// Serve the client API without TLS (only `carbon-node dev`, only on a loopback address;
    /// not a setting: `dev` without `--client-tls`).
    #[serde(skip)]
    pub client_plaintext: bool,
}

/// Every setting: its key (the TOML key; `CARBON_` + upper case is its environment variable,
/// `--` + dashes its flag) and whether it has a flag. docs/CONFIG.md has one row per setting.
/// `tls` is a table whose keys take variables `CARBON_TLS__<KEY>` ([`TLS_KEYS`]).
pub const SETTINGS: [(&str, bool); 17] = [
    ("id", true),
    ("data_dir", true),
    ("client_addr", true),
    ("peer_addr", true),
    ("genesis", true),
    ("bootstrap", true),
    ("members", false),
    ("snapshot_logs", true),
    ("logs_to_keep", true),
    ("max_batch", true),
    ("bulk_rows_per_second", true),
    ("clock_tolerance_ms", true),
    ("disclosure_addr", true),
    ("metrics_addr", true),
    ("log_format", true),
    ("log_filter", true),
    ("tls", false),
];

/// The keys of the `tls` table (`crate::tls::TlsConfig`).
pub const TLS_KEYS: [&str; 5] = ["ca", "cert", "key", "client_ca", "client_cert_required"];

/// The environment variable of a setting (`tls.ca` -> `CARBON_TLS__CA`); `members` has none.
pub fn env_var(key: &str) -> String {
    format!("CARBON_{}", key.to_uppercase().replace('.', "__"))
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

fn default_bulk_rows_per_second() -> u64 {
    10_000
}

fn default_clock_tolerance_ms() -> u64 {
    3_000
}

fn default_log_format() -> LogFormat {
    LogFormat::Text
}

fn default_log_filter() -> String {
    "info,openraft=warn,sled=warn".into()
}

/// Settings given as flags (the top layer). Unset flags leave the layers below alone.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Flags {
    /// This member's node id (1, 2, 3, ...).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<NodeId>,
    /// Where the node keeps its data.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Client API address (gRPC Registry, health, reflection).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    /// Peer (Raft) address.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_addr: Option<String>,
    /// The genesis file.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// Initialise the cluster with `members` on the first start.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<bool>,
    /// Build a snapshot every this many log entries.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_logs: Option<u64>,
    /// Log entries kept behind a snapshot.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_to_keep: Option<u64>,
    /// Largest number of transactions in one log entry.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<usize>,
    /// Bulk rows (rule 16) the leader admits per second; 0: unpaced.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_rows_per_second: Option<u64>,
    /// How far (ms) the leader's clock may be from a majority's.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_tolerance_ms: Option<u64>,
    /// The public disclosure page (HTTP); `off` for none.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosure_addr: Option<String>,
    /// Prometheus metrics (HTTP, GET /metrics); `off` for none.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
    /// Log lines as `text` or `json`.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Which log lines to write (tracing filter syntax).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_filter: Option<String>,
}

/// The built-in defaults of `carbon-node dev`: one node that initialises itself.
pub fn dev_defaults() -> Config {
    let (client_addr, peer_addr) = ("127.0.0.1:50051".to_string(), "127.0.0.1:50061".to_string());
    Config {
        id: 1,
        data_dir: "data".into(),
        members: vec![Member {
            id: 1,
            peer_addr: peer_addr.clone(),
            client_addr: client_addr.clone(),
        }],
        client_addr,
        peer_addr,
        genesis: "seeds/genesis.toml".into(),
        bootstrap: true,
        snapshot_logs: default_snapshot_logs(),
        logs_to_keep: default_logs_to_keep(),
        max_batch: default_max_batch(),
        bulk_rows_per_second: default_bulk_rows_per_second(),
        clock_tolerance_ms: default_clock_tolerance_ms(),
        disclosure_addr: Some("127.0.0.1:8080".into()),
        metrics_addr: Some("127.0.0.1:9464".into()),
        log_format: default_log_format(),
        log_filter: default_log_filter(),
        tls: TlsConfig::in_dir(Path::new("data/certs"), 1),
        client_plaintext: false,
    }
}

impl Config {
    /// Merges the layers: `dev` defaults (for `carbon-node dev`) or none (a member: `id`,
    /// `data_dir`, `client_addr`, `peer_addr` and `genesis` must then be set), the file, the
    /// environment, the flags.
    pub fn layered(dev: bool, file: Option<&Path>, flags: &Flags) -> anyhow::Result<Config> {
        let mut fig = Figment::new();
        if dev {
            fig = fig.merge(Serialized::defaults(dev_defaults()));
        }
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("cannot read config {}: no such file", path.display());
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let tls_keys: Vec<String> = TLS_KEYS.iter().map(|k| format!("tls.{k}")).collect();
        let keys: Vec<&str> = SETTINGS
            .iter()
            .filter(|(k, _)| !matches!(*k, "members" | "tls"))
            .map(|(k, _)| *k)
            .chain(tls_keys.iter().map(String::as_str))
            .collect();
        fig = fig
            .merge(Env::prefixed("CARBON_").split("__").only(&keys))
            .merge(Serialized::defaults(flags));
        let mut c: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {}", e.to_string().replace('\n', "; ")))?;
        // A relative path written in a file is relative to that file.
        let tls_file = fig.find_metadata("tls.ca").and_then(|m| match &m.source {
            Some(figment::Source::File(f)) => f.parent().map(Path::to_path_buf),
            _ => None,
        });
        if let Some(base) = tls_file {
            c.tls.rebase(&base);
        }
        for (key, path) in [("data_dir", &mut c.data_dir), ("genesis", &mut c.genesis)] {
            let from_file = fig.find_metadata(key).and_then(|m| match &m.source {
                Some(figment::Source::File(f)) => f.parent().map(Path::to_path_buf),
                _ => None,
            });
            if let (Some(base), true) = (from_file, path.is_relative()) {
                *path = base.join(&*path);
            }
        }
        // `dev` is its own only member, at whatever addresses it was given.
        let members_from_file = fig
            .find_metadata("members")
            .is_some_and(|m| matches!(m.source, Some(figment::Source::File(_))));
        // `dev` keeps its certificates in its data directory unless told otherwise.
        let tls_given = fig
            .find_metadata("tls.ca")
            .is_some_and(|m| !matches!(m.source, Some(figment::Source::Code(_))));
        if dev && !tls_given {
            c.tls = TlsConfig::in_dir(&c.data_dir.join("certs"), c.id);
        }
        if dev && !members_from_file {
            c.members = vec![Member {
                id: c.id,
                peer_addr: c.peer_addr.clone(),
                client_addr: c.client_addr.clone(),
            }];
        }
        for addr in [&mut c.disclosure_addr, &mut c.metrics_addr] {
            if addr.as_deref().is_some_and(|a| a.is_empty() || a == "off") {
                *addr = None;
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// A member's TOML file alone (no environment, no flags): what tests and tools use.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Self::layered(false, Some(path), &Flags::default())
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
