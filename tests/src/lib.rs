//! Harness for cluster tests: real `carbon-node` processes on loopback ports with real sled data
//! directories in a temp dir, transactions signed with the demo keys of `seeds/`, and clients
//! over real gRPC.
//!
//! Every process a [`Cluster`] starts is killed when it is dropped, also when a test panics.
//! Every wait is bounded in time.

use carbon_client::keys::Key;
use carbon_proto::signing::sign_body;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    tx_body::Operation, ErrorCode, GetChainHeadRequest, OpenAccount, Outcome, ReadConsistency,
    Role, SignedTx, SubmitRequest, TxBody,
};
use ed25519_dalek::SigningKey;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub mod bench;
pub mod nemesis;
pub mod pki;
pub mod proxy;
pub use pki::pki;

pub const CHAIN: &str = "zj-carbon-demo";
pub const REG: &str = "ZJ-REG";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `carbon-node` binary: `CARBON_NODE_BIN`, or the one the same `cargo nextest run
/// --workspace` (or `cargo test --workspace`) invocation built next to the test binary.
pub fn node_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| located("carbon-node", "CARBON_NODE_BIN"))
        .clone()
}

/// The `carbonctl` binary, located the same way (`CARBONCTL_BIN` overrides).
pub fn ctl_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| located("carbonctl", "CARBONCTL_BIN"))
        .clone()
}

/// Runs `carbonctl` against the given endpoints with the demo keys; returns (exit code, stdout,
/// stderr).
pub fn ctl(endpoints: &[String], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ctl_binary())
        .args(args)
        .env("CARBON_ENDPOINTS", endpoints.join(","))
        .env("CARBON_KEYS_DIR", repo_root().join("seeds/keys"))
        .env("CARBON_CA", pki::ca_file())
        .env_remove("CARBON_ACCOUNT")
        .env_remove("CARBON_KEY")
        .current_dir(repo_root())
        .output()
        .expect("carbonctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a `carbon-node` tool command (`check`, `restore`, ...) from the repository root:
/// (exit code, stdout, stderr).
pub fn node_tool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(node_binary())
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .output()
        .expect("carbon-node runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Finds a binary of the workspace without building anything: a test never runs `cargo build`
/// (it would take minutes and race the build that is running the tests). Cargo builds the
/// binaries of a package whenever it builds that package's integration tests, so `cargo nextest
/// run --workspace` puts both binaries in `target/<profile>/`, next to `deps/` where the test
/// binaries live.
fn located(bin: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} is not a file", p.display());
        return p;
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>  or  target/<profile>/<bin>
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let path = dir.join(bin);
    assert!(
        path.is_file(),
        "{bin} not found at {}: run the suite with `cargo nextest run --workspace` (it builds \
         the binaries before any test runs), or point {env} at a built {bin}",
        path.display()
    );
    path
}

/// A loopback port free now and never handed out before by this process: the kernel may give
/// the same ephemeral port to two quick `bind(:0)`s once the first is closed, and two members
/// of one cluster then collide (seen: one node's metrics port was another's client port).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..1_000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if given.insert(port) {
            return port;
        }
    }
    panic!("no loopback port this process has not handed out already");
}

pub fn demo_key(name: &str) -> SigningKey {
    Key::load(&repo_root().join("seeds/keys").join(format!("{name}.json")))
        .expect("demo key file")
        .signing
}

/// A key derived from a name, for accounts a test opens.
pub fn test_key(name: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(name.as_bytes()).as_bytes())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A body valid for five minutes, with a fresh nonce.
pub fn body(signers: &[&str], op: Operation) -> TxBody {
    TxBody {
        chain_id: CHAIN.into(),
        signers: signers.iter().map(|s| s.to_string()).collect(),
        valid_until_ms: now_ms() + 300_000,
        nonce: NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) ^ (now_ms() << 16),
        memo: String::new(),
        operation: Some(op),
    }
}

/// A fresh nonce (transactions and admin requests).
pub fn rand_nonce() -> u64 {
    NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) ^ (now_ms() << 16)
}

/// The genesis cluster admin key of the demo (`seeds/keys/cluster-admin.json`).
pub fn cluster_admin_key() -> SigningKey {
    demo_key("cluster-admin")
}

/// A request signed by the cluster admin key for `action`, valid for `valid_for_ms`, with a
/// fresh nonce.
pub fn admin_request(
    action: carbon_proto::v1::admin_body::Action,
    key: &SigningKey,
    valid_for_ms: u64,
) -> carbon_proto::v1::AdminRequest {
    use ed25519_dalek::Signer;
    use prost::Message;
    let body = carbon_proto::v1::AdminBody {
        chain_id: CHAIN.into(),
        valid_until_ms: now_ms() + valid_for_ms,
        nonce: rand_nonce(),
        action: Some(action),
    }
    .encode_to_vec();
    let sig = key.sign(&carbon_proto::signing::admin_signing_hash(CHAIN, &body));
    carbon_proto::v1::AdminRequest {
        body,
        signature: sig.to_bytes().to_vec(),
    }
}

pub fn sign(body: &TxBody, keys: &[&SigningKey]) -> SignedTx {
    sign_body(body, keys)
}

pub fn open_account_op(id: &str, role: Role) -> Operation {
    Operation::OpenAccount(OpenAccount {
        account_id: id.into(),
        role: role as i32,
        name: format!("{id} 测试企业"),
        region: "宁波市".into(),
        public_keys: vec![test_key(id).verifying_key().to_bytes().to_vec()],
        threshold: 1,
    })
}

pub struct NodeProc {
    pub id: u64,
    pub client_addr: String,
    /// Prometheus metrics (`http://{metrics_addr}/metrics`).
    pub metrics_addr: String,
    /// Where the node listens for peer traffic.
    pub peer_addr: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    /// Extra environment of the process (e.g. `CARBON_CLOCK_OFFSET_MS`).
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
}

/// What to start: the members, their snapshot settings, optional partition proxies and
/// per-member environment.
#[derive(Debug, Clone)]
pub struct Spec {
    pub members: usize,
    pub snapshot_logs: u64,
    pub logs_to_keep: u64,
    /// Put a partition proxy in front of every member's peer address ([`proxy`]).
    pub partitions: bool,
    /// Member index -> extra environment variables.
    pub env: Vec<(usize, String, String)>,
    /// Member index -> extra top-level lines of its TOML config.
    pub config: Vec<(usize, String)>,
    /// Extra top-level lines of the genesis (`seeds/genesis.toml` otherwise), e.g.
    /// `public_aggregate_min = 1`.
    pub genesis_extra: Option<String>,
}

impl Spec {
    pub fn new(members: usize) -> Spec {
        Spec {
            members,
            snapshot_logs: 10_000,
            logs_to_keep: 1_000,
            partitions: false,
            env: Vec::new(),
            config: Vec::new(),
            genesis_extra: None,
        }
    }

    pub fn start(self) -> Cluster {
        Cluster::start_spec(self)
    }
}

/// A cluster of real node processes. Dropping it kills them all (and stops the proxies).
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    /// The partition proxies, when the cluster was started with them.
    pub net: Option<proxy::Partitions>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.client_addr.clone()).collect()
    }

    /// Writes configs for `n` members (node 1 bootstraps) and starts them.
    pub fn start(n: usize, snapshot_logs: u64) -> Cluster {
        Self::start_with(n, snapshot_logs, 1_000)
    }

    /// As [`Cluster::start`], keeping only `logs_to_keep` entries behind each snapshot.
    pub fn start_with(n: usize, snapshot_logs: u64, logs_to_keep: u64) -> Cluster {
        Spec {
            snapshot_logs,
            logs_to_keep,
            ..Spec::new(n)
        }
        .start()
    }

    /// One node that also serves the public disclosure page; returns it and the page's URL.
    pub fn start_with_page() -> (Cluster, String) {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut spec = Spec::new(1);
        spec.config
            .push((0, format!("disclosure_addr = \"{addr}\"")));
        (spec.start(), format!("http://{addr}/"))
    }

    fn start_spec(spec: Spec) -> Cluster {
        let members = spec.members;
        let mut c = Self::configure(spec);
        // The bootstrapping member (node 1) last, once the others listen: its first election
        // then reaches every member.
        for i in 1..members {
            c.spawn(i);
        }
        for i in 1..members {
            c.wait_listening(i, Duration::from_secs(10));
        }
        c.spawn(0);
        c
    }

    /// Writes configs (and starts the partition proxies) without starting the members: start
    /// them with [`Cluster::spawn`].
    pub fn configure(spec: Spec) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut genesis = repo_root().join("seeds/genesis.toml");
        if let Some(extra) = &spec.genesis_extra {
            let seeds = std::fs::read_to_string(&genesis).expect("seeds/genesis.toml");
            genesis = dir.path().join("genesis.toml");
            std::fs::write(&genesis, format!("{extra}\n{seeds}")).expect("write genesis");
        }
        let ids: Vec<u64> = (1..=spec.members as u64).collect();
        let net = spec.partitions.then(|| proxy::Partitions::start(&ids));
        // (id, advertised peer address, listen peer address, client address)
        let members: Vec<(u64, String, String, String)> = ids
            .iter()
            .map(|&id| {
                let client = format!("127.0.0.1:{}", free_port());
                match &net {
                    Some(p) => (id, p.advertised[&id].clone(), p.listen[&id].clone(), client),
                    None => {
                        let peer = format!("127.0.0.1:{}", free_port());
                        (id, peer.clone(), peer, client)
                    }
                }
            })
            .collect();
        let mut member_toml = String::new();
        for (id, peer, _, client) in &members {
            member_toml.push_str(&format!(
                "[[members]]\nid = {id}\npeer_addr = \"{peer}\"\nclient_addr = \"{client}\"\n\n"
            ));
        }
        let mut nodes = Vec::new();
        for (i, (id, _, listen, client)) in members.iter().enumerate() {
            let data_dir = dir.path().join(format!("n{id}"));
            let config = dir.path().join(format!("n{id}.toml"));
            let metrics_addr = format!("127.0.0.1:{}", free_port());
            let extra: String = spec
                .config
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, line)| format!("{line}\n"))
                .collect();
            let tls = pki().node_files(&dir.path().join("certs"), *id);
            let text = format!(
                "{extra}id = {id}\ndata_dir = \"{}\"\nclient_addr = \"{client}\"\npeer_addr = \"{listen}\"\nmetrics_addr = \"{metrics_addr}\"\ngenesis = \"{}\"\nbootstrap = {}\nsnapshot_logs = {}\nlogs_to_keep = {}\n\n{tls}{member_toml}",
                data_dir.display(),
                genesis.display(),
                *id == 1,
                spec.snapshot_logs,
                spec.logs_to_keep,
            );
            std::fs::write(&config, text).expect("write config");
            let env = spec
                .env
                .iter()
                .filter(|(j, _, _)| *j == i)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect();
            nodes.push(NodeProc {
                id: *id,
                client_addr: client.clone(),
                metrics_addr,
                peer_addr: listen.clone(),
                data_dir,
                log: dir.path().join(format!("n{id}.log")),
                config,
                env,
                child: None,
            });
        }
        Cluster { dir, nodes, net }
    }

    /// Waits (bounded, without failing) until node `i` accepts peer connections.
    fn wait_listening(&self, i: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let Ok(addr) = self.nodes[i].peer_addr.parse::<std::net::SocketAddr>() else {
            return;
        };
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The partition proxies; panics when the cluster was started without them.
    pub fn net(&self) -> &proxy::Partitions {
        self.net
            .as_ref()
            .expect("the cluster was started with Spec::partitions")
    }

    pub fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .expect("log file");
        let child = Command::new(node_binary())
            .args(["run", "--config"])
            .arg(&n.config)
            .env("RUST_LOG", "info,openraft=warn")
            .envs(n.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("carbon-node starts");
        n.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process stays, frozen, with its sockets open.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// SIGHUP: the node reads its certificate again.
    pub fn hangup(&self, i: usize) {
        self.signal(i, "-HUP");
    }

    /// SIGCONT after [`Cluster::pause`].
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
    }

    /// How node `i`'s process ended, if it did (the process is reaped; `None` while it runs).
    pub fn exit_status(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let child = self.nodes[i].child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.nodes[i].child = None;
                Some(status)
            }
            _ => None,
        }
    }

    /// Whether node `i` has a process (running or paused).
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(c) = &self.nodes[i].child {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }

    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            // CONT after TERM: a paused process must run to handle the TERM.
            for sig in ["-TERM", "-CONT"] {
                let _ = Command::new("kill")
                    .args([sig, &c.id().to_string()])
                    .status();
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }

    /// Starts one more node (not a member yet: it joins through the Admin RPC). Returns its index.
    pub fn add_node(&mut self) -> usize {
        assert!(
            self.net.is_none(),
            "add_node does not support partition proxies"
        );
        let id = self.nodes.len() as u64 + 1;
        let (peer, client) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let data_dir = self.dir.path().join(format!("n{id}"));
        let config = self.dir.path().join(format!("n{id}.toml"));
        let genesis = match self.dir.path().join("genesis.toml") {
            own if own.exists() => own,
            _ => repo_root().join("seeds/genesis.toml"),
        };
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let tls = pki().node_files(&self.dir.path().join("certs"), id);
        let text = format!(
            "id = {id}\ndata_dir = \"{}\"\nclient_addr = \"{client}\"\npeer_addr = \"{peer}\"\nmetrics_addr = \"{metrics_addr}\"\ngenesis = \"{}\"\n\n{tls}",
            data_dir.display(),
            genesis.display()
        );
        std::fs::write(&config, text).expect("write config");
        self.nodes.push(NodeProc {
            id,
            client_addr: client,
            metrics_addr,
            peer_addr: peer,
            data_dir,
            log: self.dir.path().join(format!("n{id}.log")),
            config,
            env: Vec::new(),
            child: None,
        });
        let i = self.nodes.len() - 1;
        self.spawn(i);
        i
    }

    /// Scrapes node `i`'s metrics endpoint and parses it.
    pub fn metrics(&self, i: usize) -> Vec<Sample> {
        let (status, body) = http_get(&self.nodes[i].metrics_addr, "/metrics").expect("scrape");
        assert_eq!(status, 200, "{body}");
        parse_metrics(&body)
    }

    /// The health status of `service` ("" for the server) on node `i`, or the error status.
    pub async fn health(
        &self,
        i: usize,
        service: &str,
    ) -> Result<tonic_health::pb::health_check_response::ServingStatus, tonic::Status> {
        use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
        let channel = tokio::time::timeout(
            Duration::from_secs(2),
            tls_channel(&self.nodes[i].client_addr),
        )
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("connect"))?
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let r = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await?;
        Ok(r.into_inner().status())
    }

    /// Waits (bounded) until node `i` answers `want` for "" and for the Registry service.
    pub async fn wait_health(
        &self,
        i: usize,
        want: tonic_health::pb::health_check_response::ServingStatus,
        within: Duration,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let a = self.health(i, "").await;
            let b = self.health(i, "carbon.registry.v1.Registry").await;
            if matches!((&a, &b), (Ok(x), Ok(y)) if *x == want && *y == want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} did not become {want:?} within {within:?}: {a:?} {b:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes a stopped node's data directory.
    pub fn wipe(&mut self, i: usize) {
        let _ = std::fs::remove_dir_all(&self.nodes[i].data_dir);
    }

    pub fn log_of(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    pub async fn client(&self, i: usize) -> RegistryClient<Channel> {
        connect(&self.nodes[i].client_addr).await
    }

    /// Waits until node `i` answers and reports a leader; returns the leader's index.
    pub async fn wait_for_leader(&self, among: &[usize], within: Duration) -> usize {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            for &i in among {
                if let Ok(mut c) = try_connect(&self.nodes[i].client_addr).await {
                    if let Ok(s) = c
                        .cluster_status(carbon_proto::v1::ClusterStatusRequest {
                            local: true,
                            ..Default::default()
                        })
                        .await
                    {
                        let s = s.into_inner();
                        if s.leader_id != 0 {
                            if let Some(l) = self.nodes.iter().position(|n| n.id == s.leader_id) {
                                if among.contains(&l) {
                                    return l;
                                }
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logs: Vec<String> = among
            .iter()
            .map(|&i| {
                format!(
                    "--- node {} ---\n{}",
                    self.nodes[i].id,
                    tail(&self.log_of(i), 30)
                )
            })
            .collect();
        panic!(
            "no leader among {among:?} within {within:?}\n{}",
            logs.join("\n")
        );
    }

    /// Local chain heads (sequence, head) of the given nodes.
    pub async fn heads(&self, among: &[usize]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        for &i in among {
            let mut c = self.client(i).await;
            let h = c
                .get_chain_head(GetChainHeadRequest {
                    consistency: ReadConsistency::Local as i32,
                })
                .await
                .expect("chain head")
                .into_inner();
            out.push((h.sequence, h.chain_head));
        }
        out
    }

    /// Waits (bounded) until the nodes report the same chain head at a sequence >= `at_least`.
    pub async fn wait_converged(
        &self,
        among: &[usize],
        at_least: u64,
        within: Duration,
    ) -> (u64, Vec<u8>) {
        let deadline = Instant::now() + within;
        loop {
            let heads = self.heads(among).await;
            if heads.iter().all(|h| h == &heads[0]) && heads[0].0 >= at_least {
                return heads[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "nodes {among:?} did not converge: {:?}",
                heads.iter().map(|h| h.0).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i); // SIGKILL ends a paused process too
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A TLS channel to a node's client address (the test CA; any gRPC service on it).
pub async fn tls_channel(addr: &str) -> Result<Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(pki().client_tls())?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(20))
        .connect()
        .await
}

pub async fn try_connect(addr: &str) -> Result<RegistryClient<Channel>, tonic::transport::Error> {
    let ch = tls_channel(addr).await?;
    Ok(RegistryClient::new(ch).max_decoding_message_size(64 << 20))
}

/// Connects, retrying for up to 20 s while the node starts.
pub async fn connect(addr: &str) -> RegistryClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match try_connect(addr).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot connect to {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The result of a Submit: the outcome, or the error code and message.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Submitted {
    Outcome(Outcome),
    Error(ErrorCode, String),
}

impl Submitted {
    pub fn code(&self) -> ErrorCode {
        match self {
            Submitted::Outcome(o) => o.code(),
            Submitted::Error(c, _) => *c,
        }
    }

    #[track_caller]
    pub fn outcome(self) -> Outcome {
        match self {
            Submitted::Outcome(o) => o,
            Submitted::Error(c, m) => panic!("expected an outcome, got {c:?}: {m}"),
        }
    }
}

pub async fn submit(c: &mut RegistryClient<Channel>, tx: SignedTx) -> Submitted {
    match c.submit(SubmitRequest { tx: Some(tx) }).await {
        Ok(r) => Submitted::Outcome(r.into_inner().outcome.unwrap_or_default()),
        Err(status) => match carbon_proto::status::detail(&status) {
            Some(d) => match d.outcome {
                Some(o) => Submitted::Outcome(o),
                None => Submitted::Error(d.code(), d.message),
            },
            None => Submitted::Error(ErrorCode::Unavailable, status.message().to_string()),
        },
    }
}

/// A plain HTTP/1.0 GET on loopback (the metrics endpoint, the disclosure page): (status, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// One sample of a Prometheus text exposition: name, labels (as written), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: String,
    pub value: f64,
}

/// Parses the text exposition format strictly enough for tests: every line is a comment, `# EOF`
/// or `name{labels} value`; anything else panics.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (
                n,
                l.strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line:?}")),
            ),
            None => (series, ""),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        out.push(Sample {
            name: name.to_string(),
            labels: labels.to_string(),
            value,
        });
    }
    out
}

/// The value of the first sample named `name` whose labels contain `labels` (e.g. `code="OK"`).
pub fn sample(samples: &[Sample], name: &str, labels: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.contains(labels))
        .map(|s| s.value)
}

/// Checks a stopped node's data dir offline (every invariant, the whole chain); returns the
/// chain (sequence, head).
pub fn audit_data_dir(data_dir: &Path) -> (u64, Vec<u8>) {
    let genesis =
        carbon_node::genesis::load(&repo_root().join("seeds/genesis.toml")).expect("genesis");
    match carbon_node::storage::check::check_data_dir(data_dir, &genesis) {
        Ok(r) => (r.sequence, r.head),
        Err(e) => panic!("data dir {} does not check: {e}", data_dir.display()),
    }
}
