//! A node that cannot do its job ends the process with a non-zero status and a clear log line,
//! so that a supervisor restarts it: a client or peer port already taken, and a fatal Raft error
//! (a storage error injected while applying, through the `apply-fails` fault point).

use carbon_tests::*;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `carbon-node dev` with these addresses and extra environment; waits (bounded) for it to
/// exit and returns its output.
fn dev_node(client: &str, peer: &str, env: &[(&str, &str)], within: Duration) -> Output {
    // Hermetic: no fixed ports (the dev defaults 8080 and 9464).
    let off = ["--disclosure-addr", "off", "--metrics-addr", "off"];
    dev_node_with(client, peer, &off, env, within)
}

fn dev_node_with(
    client: &str,
    peer: &str,
    args: &[&str],
    env: &[(&str, &str)],
    within: Duration,
) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(node_binary());
    cmd.args([
        "dev",
        "--client-addr",
        client,
        "--peer-addr",
        peer,
        "--data-dir",
    ])
    .arg(dir.path().join("data"))
    .arg("--genesis")
    .arg(repo_root().join("seeds/genesis.toml"))
    .args(args)
    .env("RUST_LOG", "info")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("carbon-node starts");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!(
        "carbon-node still running after {within:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_taken_client_port_ends_the_process_with_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = taken.local_addr().expect("addr").to_string();
    let peer = format!("127.0.0.1:{}", free_port());
    let out = dev_node(&client, &peer, &[], Duration::from_secs(20));
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let t = text(&out);
    assert!(
        t.contains(&format!("cannot listen on the client address {client}")),
        "{t}"
    );
    assert!(!t.contains("node started"), "{t}");
}

#[test]
fn a_taken_peer_port_ends_the_process_with_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer = taken.local_addr().expect("addr").to_string();
    let client = format!("127.0.0.1:{}", free_port());
    let out = dev_node(&client, &peer, &[], Duration::from_secs(20));
    assert!(!out.status.success(), "exit status {:?}", out.status);
    assert!(
        text(&out).contains(&format!("cannot listen on the peer address {peer}")),
        "{}",
        text(&out)
    );
}

#[test]
fn a_taken_metrics_port_ends_the_process_with_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let metrics = taken.local_addr().expect("addr").to_string();
    let (client, peer) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let args = ["--disclosure-addr", "off", "--metrics-addr", &metrics];
    let out = dev_node_with(&client, &peer, &args, &[], Duration::from_secs(20));
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let t = text(&out);
    assert!(
        t.contains(&format!("cannot listen on the metrics address {metrics}")),
        "{t}"
    );
    assert!(!t.contains("node started"), "{t}");
}

#[test]
fn a_fatal_raft_error_ends_the_process_with_an_error() {
    let client = format!("127.0.0.1:{}", free_port());
    let peer = format!("127.0.0.1:{}", free_port());
    // The first apply (the cluster's membership) succeeds; the next (the leader's blank entry) fails.
    let out = dev_node(
        &client,
        &peer,
        &[("FAILPOINTS", "apply-fails=1*off->return")],
        Duration::from_secs(30),
    );
    assert!(!out.status.success(), "exit status {:?}", out.status);
    let t = text(&out);
    assert!(t.contains("Raft stopped with a fatal error"), "{t}");
    assert!(t.contains("apply-fails"), "{t}");
}

/// Issue 8: `dev` serves its client API without TLS on a loopback address only; any other
/// address without `--client-tls` is refused at start.
#[test]
fn dev_refuses_a_plaintext_client_api_off_loopback() {
    let client = format!("0.0.0.0:{}", free_port());
    let peer = format!("127.0.0.1:{}", free_port());
    let out = dev_node(&client, &peer, &[], Duration::from_secs(20));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("loopback address only"),
        "{}",
        text(&out)
    );
}
