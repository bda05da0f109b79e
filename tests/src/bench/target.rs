//! What the bench measures: a local cluster of real node processes it starts from a given
//! `carbon-node` binary (TLS between peers and to clients, as the test harness does), or an
//! existing cluster given by its client endpoints (then no /proc figures).

use crate::{free_port, pki, Cluster, Spec};
use anyhow::{anyhow, bail, Context, Result};
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::ClusterStatusRequest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub type Client = RegistryClient<Channel>;

/// A member the bench can see from outside: its client address, and for a local cluster its
/// process and data directory.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub client_addr: String,
    pub pid: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub metrics_addr: Option<String>,
}

pub struct Target {
    pub members: Vec<Member>,
    tls: ClientTlsConfig,
    /// The processes of a local cluster (killed when dropped).
    cluster: Option<Cluster>,
    /// One lazily connected channel per member for status questions (a TLS handshake per
    /// question would cost more than the question).
    control: Vec<Client>,
}

/// Who leads, in which term, as one member sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    pub leader_id: u64,
    pub term: u64,
}

impl Target {
    /// Starts `members` nodes of `bin` on loopback (node 1 bootstraps, last), waits for a leader.
    pub async fn start_local(bin: &Path, members: usize, snapshot_logs: u64) -> Result<Target> {
        if !bin.is_file() {
            bail!("node binary {} is not a file", bin.display());
        }
        let spec = Spec {
            snapshot_logs,
            ..Spec::new(members)
        };
        let mut cluster = Cluster::configure(spec);
        for i in (1..members).chain([0]) {
            spawn_node(&mut cluster, i, bin)?;
            if i != 0 {
                wait_port(&cluster.nodes[i].peer_addr, Duration::from_secs(15));
            }
        }
        let members = cluster
            .nodes
            .iter()
            .map(|n| Member {
                id: n.id,
                client_addr: n.client_addr.clone(),
                pid: n.child.as_ref().map(|c| c.id()),
                data_dir: Some(n.data_dir.clone()),
                metrics_addr: Some(n.metrics_addr.clone()),
            })
            .collect();
        let mut target = Target {
            members,
            tls: pki().client_tls(),
            cluster: Some(cluster),
            control: Vec::new(),
        };
        target.control = target.control_channels()?;
        target.wait_for_leader(Duration::from_secs(60)).await?;
        Ok(target)
    }

    /// An existing cluster: `endpoints` are client addresses (host:port), `ca` the PEM file of
    /// the CA that signed their certificates.
    pub async fn existing(endpoints: &[String], ca: &Path) -> Result<Target> {
        let pem = std::fs::read_to_string(ca).with_context(|| format!("CA {}", ca.display()))?;
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        let mut target = Target {
            members: endpoints
                .iter()
                .map(|e| Member {
                    id: 0,
                    client_addr: e.clone(),
                    pid: None,
                    data_dir: None,
                    metrics_addr: None,
                })
                .collect(),
            tls,
            cluster: None,
            control: Vec::new(),
        };
        target.control = target.control_channels()?;
        target.wait_for_leader(Duration::from_secs(30)).await?;
        target.learn_ids().await?;
        Ok(target)
    }

    /// Whether /proc figures can be read (a local cluster).
    pub fn is_local(&self) -> bool {
        self.cluster.is_some()
    }

    fn endpoint(&self, i: usize) -> Result<Endpoint> {
        let addr = &self.members[i].client_addr;
        Ok(Endpoint::from_shared(format!("https://{addr}"))?
            .tls_config(self.tls.clone())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true))
    }

    fn client(channel: Channel) -> Client {
        RegistryClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    /// A new connection (its own HTTP/2 connection) to member `i`.
    pub async fn connect(&self, i: usize) -> Result<Client> {
        let addr = &self.members[i].client_addr;
        let channel = self
            .endpoint(i)?
            .connect()
            .await
            .with_context(|| format!("connect to {addr}"))?;
        Ok(Self::client(channel))
    }

    fn control_channels(&self) -> Result<Vec<Client>> {
        (0..self.members.len())
            .map(|i| Ok(Self::client(self.endpoint(i)?.connect_lazy())))
            .collect()
    }

    /// `n` connections to member `i`.
    pub async fn pool(&self, i: usize, n: usize) -> Result<Vec<Client>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            out.push(self.connect(i).await?);
        }
        Ok(out)
    }

    /// The status channel of member `i` (a fresh connection until those exist).
    async fn control_or_connect(&self, i: usize) -> Result<Client> {
        match self.control.get(i) {
            Some(c) => Ok(c.clone()),
            None => self.connect(i).await,
        }
    }

    /// Who leads, asked of every member in turn (local view) until one knows.
    pub async fn leadership(&self) -> Result<Leadership> {
        for i in 0..self.members.len() {
            let Ok(mut c) = self.control_or_connect(i).await else {
                continue;
            };
            let req = ClusterStatusRequest {
                local: true,
                ..Default::default()
            };
            if let Ok(s) = c.cluster_status(req).await {
                let s = s.into_inner();
                if s.leader_id != 0 {
                    return Ok(Leadership {
                        leader_id: s.leader_id,
                        term: s.term,
                    });
                }
            }
        }
        Err(anyhow!("no member knows a leader"))
    }

    /// The index of the leading member in [`Target::members`].
    pub async fn leader_index(&self) -> Result<usize> {
        let l = self.leadership().await?;
        self.index_of(l.leader_id)
            .ok_or_else(|| anyhow!("leader {} is not among the endpoints", l.leader_id))
    }

    pub fn index_of(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    async fn wait_for_leader(&self, within: Duration) -> Result<Leadership> {
        let deadline = Instant::now() + within;
        loop {
            match self.leadership().await {
                Ok(l) => return Ok(l),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("no leader within {within:?}{}", self.logs())))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Names each endpoint by the node id it reports about itself.
    async fn learn_ids(&mut self) -> Result<()> {
        for i in 0..self.members.len() {
            let mut c = self.connect(i).await?;
            let s = c
                .cluster_status(ClusterStatusRequest {
                    local: true,
                    ..Default::default()
                })
                .await?
                .into_inner();
            self.members[i].id = s.node_id;
        }
        Ok(())
    }

    /// Waits (bounded) until every member has applied what the leader's log holds now; returns
    /// whether they did in time. Lets followers finish a phase's work before it is measured.
    pub async fn wait_applied(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let Some(goal) = self.max_last_log_index().await else {
            return false;
        };
        while Instant::now() < deadline {
            if self.min_applied().await.is_some_and(|a| a >= goal) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Each answering member's last snapshot index, by node id.
    pub async fn snapshot_indexes(&self) -> Vec<(u64, u64)> {
        let s = self.statuses().await;
        s.iter().map(|s| (s.node_id, s.snapshot_index)).collect()
    }

    async fn statuses(&self) -> Vec<carbon_proto::v1::ClusterStatusResponse> {
        let mut out = Vec::new();
        for i in 0..self.members.len() {
            if let Ok(mut c) = self.control_or_connect(i).await {
                let req = ClusterStatusRequest {
                    local: true,
                    ..Default::default()
                };
                if let Ok(s) = c.cluster_status(req).await {
                    out.push(s.into_inner());
                }
            }
        }
        out
    }

    async fn max_last_log_index(&self) -> Option<u64> {
        self.statuses().await.iter().map(|s| s.commit_index).max()
    }

    async fn min_applied(&self) -> Option<u64> {
        let s = self.statuses().await;
        (s.len() == self.members.len())
            .then(|| s.iter().map(|s| s.applied_index).min())
            .flatten()
    }

    /// The last lines of every local node's log (for errors).
    pub fn logs(&self) -> String {
        let Some(c) = &self.cluster else {
            return String::new();
        };
        (0..c.nodes.len())
            .map(|i| {
                let log = c.log_of(i);
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("\n--- node {} ---\n{tail}", c.nodes[i].id)
            })
            .collect()
    }

    /// SIGTERM to every local node, bounded wait, then SIGKILL (also on drop).
    pub fn stop(mut self) {
        if let Some(c) = self.cluster.as_mut() {
            c.stop_all();
        }
    }
}

/// Starts member `i` of a configured cluster from `bin` (the harness starts its own build).
fn spawn_node(cluster: &mut Cluster, i: usize, bin: &Path) -> Result<()> {
    let n = &mut cluster.nodes[i];
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&n.log)?;
    let child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&n.config)
        .env("RUST_LOG", "info,openraft=warn")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    n.child = Some(child);
    Ok(())
}

/// Waits (bounded, without failing) until `addr` accepts TCP connections.
fn wait_port(addr: &str, within: Duration) {
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return;
    };
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port for the PostgreSQL baseline (same allocator as the cluster's ports).
pub fn loopback_port() -> u16 {
    free_port()
}
