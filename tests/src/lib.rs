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
    tx_body::Operation, ErrorCode, ErrorDetail, GetChainHeadRequest, OpenAccount, Outcome,
    ReadConsistency, Role, SignedTx, SubmitRequest, TxBody,
};
use ed25519_dalek::SigningKey;
use prost::Message;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
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
        let genesis = repo_root().join("seeds/genesis.toml");
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
            let extra: String = spec
                .config
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, line)| format!("{line}\n"))
                .collect();
            let tls = pki().node_files(&dir.path().join("certs"), *id);
            let text = format!(
                "{extra}id = {id}\ndata_dir = \"{}\"\nclient_addr = \"{client}\"\npeer_addr = \"{listen}\"\ngenesis = \"{}\"\nbootstrap = {}\nsnapshot_logs = {}\nlogs_to_keep = {}\n\n{tls}{member_toml}",
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
        let genesis = repo_root().join("seeds/genesis.toml");
        let tls = pki().node_files(&self.dir.path().join("certs"), id);
        let text = format!(
            "id = {id}\ndata_dir = \"{}\"\nclient_addr = \"{client}\"\npeer_addr = \"{peer}\"\ngenesis = \"{}\"\n\n{tls}",
            data_dir.display(),
            genesis.display()
        );
        std::fs::write(&config, text).expect("write config");
        self.nodes.push(NodeProc {
            id,
            client_addr: client,
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
                        .cluster_status(carbon_proto::v1::ClusterStatusRequest {})
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

pub async fn try_connect(addr: &str) -> Result<RegistryClient<Channel>, tonic::transport::Error> {
    let ch = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(pki().client_tls())?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(20))
        .connect()
        .await?;
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
        Err(status) => match ErrorDetail::decode(status.details()) {
            Ok(d) => match d.outcome {
                Some(o) => Submitted::Outcome(o),
                None => Submitted::Error(d.code(), d.message),
            },
            Err(_) => Submitted::Error(ErrorCode::Unavailable, status.message().to_string()),
        },
    }
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
