//! deploy/ as shipped: every member config in it loads, and deploy/local-cluster/run.sh starts a
//! cluster that serves, and fails loudly — stopping the other members and exiting non-zero —
//! when a member dies. (The script runs with CARBON_BIN_DIR pointing at the test build, so it
//! builds nothing; it uses its fixed ports 50051-50053, 50061-50063, 9464-9466.)

use carbon_tests::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn every_member_config_in_deploy_loads() {
    let root = repo_root().join("deploy");
    let mut files = Vec::new();
    for dir in ["local-cluster", "compose"] {
        for e in std::fs::read_dir(root.join(dir)).expect("dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 6, "{files:?}");
    for f in &files {
        let c =
            carbon_node::config::Config::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(c.members.len(), 3, "{}", f.display());
        assert!(c.metrics_addr.is_some(), "{}: metrics", f.display());
    }
    // The Kubernetes ConfigMap's member files (indented TOML blocks `node-N.toml: |`).
    let cm = std::fs::read_to_string(root.join("kubernetes/configmap.yaml")).expect("configmap");
    let dir = tempfile::tempdir().expect("dir");
    let mut n = 0;
    for block in cm.split("  node-").skip(1) {
        let (name, rest) = block.split_once(": |\n").expect("a block");
        let toml: String = rest
            .lines()
            .take_while(|l| l.starts_with("    ") || l.is_empty())
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let path = dir.path().join(format!("node-{name}"));
        std::fs::write(&path, toml).expect("write");
        let c = carbon_node::config::Config::load(&path)
            .unwrap_or_else(|e| panic!("configmap node-{name}: {e}"));
        assert_eq!(c.members.len(), 3);
        n += 1;
    }
    assert_eq!(n, 3);
}

fn ports_free() {
    for p in [50051, 50052, 50053, 50061, 50062, 50063, 9464, 9465, 9466] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", p)).is_ok(),
            "port {p} is taken: run.sh needs its fixed ports"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sh_serves_and_fails_loudly_when_a_member_dies() {
    ports_free();
    let data = tempfile::tempdir().expect("dir");
    let bin_dir = node_binary().parent().expect("bin dir").to_path_buf();
    let mut script = Command::new("bash")
        .arg(repo_root().join("deploy/local-cluster/run.sh"))
        .env("CARBON_BIN_DIR", &bin_dir)
        .env("CARBON_CLUSTER_DATA", data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run.sh starts");
    let endpoints: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:5005{i}")).collect();
    let ca = data.path().join("certs/ca.pem").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out, _) = ctl(
            &endpoints,
            &["--ca", &ca, "--as", REG, "cluster", "health", "--cluster"],
        );
        if code == 0 && out.matches("is healthy").count() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not get healthy: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The data and certificates went where the environment said (it overrides the files').
    assert!(data.path().join("n2/FORMAT").is_file());
    assert!(data.path().join("certs/node-2.pem").is_file());

    // Kill member 2: the script stops the others and exits non-zero.
    let pid = Command::new("pgrep")
        .args(["-f", "local-cluster/n2.toml"])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&pid.stdout)
        .lines()
        .next()
        .expect("member 2 runs")
        .trim()
        .to_string();
    let _ = Command::new("kill").args(["-9", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = script.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "run.sh kept running after a member died"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "run.sh exited {status}");
    let mut err = String::new();
    if let Some(mut e) = script.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("a member exited"), "{err}");
    // The other members are gone too: their ports are free again.
    std::thread::sleep(Duration::from_millis(500));
    ports_free();
}
