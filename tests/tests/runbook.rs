//! Every procedure of docs/OPERATIONS.md, done as the runbook says — with `carbonctl` and
//! `carbon-node` on real node processes: start and stop a member, add one, remove one (which,
//! left running, does not disturb the others), replace one, rotate the cluster admin key, a
//! rolling restart, and `cluster health` / `cluster status` as the operator reads them.
//! (Backup and restore: tests/tests/backup_restore.rs.)

use carbon_proto::v1::{ErrorCode, GetChainHeadRequest, ReadConsistency, Role};
use carbon_tests::*;
use std::time::{Duration, Instant};
use tonic_health::pb::health_check_response::ServingStatus;

fn admin_key() -> String {
    repo_root()
        .join("seeds/keys/cluster-admin.json")
        .display()
        .to_string()
}

/// carbonctl with the cluster admin key (or another key file).
fn as_admin(cluster: &Cluster, key: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--key", key];
    all.extend_from_slice(args);
    ctl(&cluster.endpoints(), &all)
}

async fn open_account(cluster: &Cluster, id: &str) {
    let leader = cluster
        .wait_for_leader(
            &(0..cluster.nodes.len())
                .filter(|i| cluster.is_up(*i))
                .collect::<Vec<_>>(),
            Duration::from_secs(30),
        )
        .await;
    let mut c = cluster.client(leader).await;
    let tx = sign(
        &body(&[REG], open_account_op(id, Role::Enterprise)),
        &[&demo_key(REG)],
    );
    assert_eq!(submit(&mut c, tx).await.code(), ErrorCode::Ok, "open {id}");
}

async fn term_of(cluster: &Cluster, i: usize) -> u64 {
    let mut c = cluster.client(i).await;
    c.cluster_status(carbon_proto::v1::ClusterStatusRequest {
        local: true,
        ..Default::default()
    })
    .await
    .expect("status")
    .into_inner()
    .term
}

fn status_json(cluster: &Cluster) -> serde_json::Value {
    let (code, out, err) = ctl(
        &cluster.endpoints(),
        &["--as", REG, "--output", "json", "cluster", "status"],
    );
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("status JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_stop_and_health_as_an_operator_sees_them() {
    let mut cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    for i in 0..3 {
        cluster
            .wait_health(i, ServingStatus::Serving, Duration::from_secs(20))
            .await;
    }
    let (code, out, err) = ctl(
        &cluster.endpoints(),
        &["--as", REG, "cluster", "health", "--cluster"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("is healthy: SERVING").count(), 3, "{out}");

    // Stop (SIGTERM) one member: a clean exit; the health check names it and fails.
    cluster.stop(2);
    assert!(
        cluster.log_of(2).contains("stopped"),
        "{}",
        cluster.log_of(2)
    );
    let (code, out, _) = ctl(
        &cluster.endpoints(),
        &["--as", REG, "cluster", "health", "--cluster"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{} is unhealthy", cluster.nodes[2].client_addr)),
        "{out}"
    );
    let (code, out, _) = ctl(
        &cluster.endpoints(),
        &[
            "--as",
            REG,
            "--output",
            "csv",
            "cluster",
            "health",
            "--cluster",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        out.starts_with("endpoint,healthy,status,took ms,error"),
        "{out}"
    );

    // Start it again: it rejoins and serves.
    cluster.spawn(2);
    cluster
        .wait_health(2, ServingStatus::Serving, Duration::from_secs(30))
        .await;
    let status = status_json(&cluster);
    let members = status["members"].as_array().expect("members");
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| m["health"] == "SERVING"), "{status}");
    assert!(members.iter().any(|m| m["leader"] == true), "{status}");

    // A dead endpoint answers quickly, not after the old 30 s.
    let dead = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, _, err) = ctl(
        std::slice::from_ref(&dead),
        &["--timeout", "1", "cluster", "status"],
    );
    assert_ne!(code, 0);
    assert!(err.contains(&dead), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // And an endpoint that is no address is refused before anything is sent.
    let (code, _, err) = ctl(&["localhost".to_string()], &["cluster", "status"]);
    assert_eq!(code, 1);
    assert!(err.contains("no port"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_and_replace_a_member() {
    let mut cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    open_account(&cluster, "ZJ-RB-1").await;

    // A mistyped address: the learner is never reached. add-learner says it has not caught up,
    // and `voters` refuses to make it a voter (the cluster would lose its fault tolerance).
    let (code, out, err) = as_admin(
        &cluster,
        &admin_key(),
        &["cluster", "add-learner", "9", "127.0.0.1:1", "127.0.0.1:1"],
    );
    assert_eq!(code, 3, "add-learner of nobody: {out}{err}");
    assert!(err.contains("MEMBER_NOT_CAUGHT_UP"), "{err}");
    let (code, out, err) = as_admin(&cluster, &admin_key(), &["cluster", "voters", "1,2,3,9"]);
    assert_eq!(code, 3, "voters with nobody: {out}{err}");
    assert!(err.contains("MEMBER_NOT_CAUGHT_UP"), "{err}");

    // Add: start the new member empty, add it as a learner (waits until it caught up), then
    // make it a voter.
    let four = cluster.add_node();
    let (id, peer, client) = (
        cluster.nodes[four].id.to_string(),
        cluster.nodes[four].peer_addr.clone(),
        cluster.nodes[four].client_addr.clone(),
    );
    let (code, out, err) = as_admin(
        &cluster,
        &admin_key(),
        &["cluster", "add-learner", &id, &peer, &client],
    );
    assert_eq!(code, 0, "add-learner: {out}{err}");
    let (code, out, err) = as_admin(&cluster, &admin_key(), &["cluster", "voters", "1,2,3,4"]);
    assert_eq!(code, 0, "voters: {out}{err}");
    let status = status_json(&cluster);
    let voters = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["voter"] == true)
        .count();
    assert_eq!(voters, 4, "{status}");
    cluster
        .wait_converged(&[0, 1, 2, four], 1, Duration::from_secs(30))
        .await;

    // Remove node 4 from the voters; left running, it must not disturb the others' term.
    let (code, out, err) = as_admin(&cluster, &admin_key(), &["cluster", "voters", "1,2,3"]);
    assert_eq!(code, 0, "voters: {out}{err}");
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    let term = term_of(&cluster, leader).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    open_account(&cluster, "ZJ-RB-2").await;
    assert_eq!(
        term_of(&cluster, leader).await,
        term,
        "a removed member left running changed the cluster's term"
    );
    cluster.stop(four);

    // Replace node 3 by a new member (id 5): add the new one, swap the voters, stop the old.
    let five = cluster.add_node();
    let (id, peer, client) = (
        cluster.nodes[five].id.to_string(),
        cluster.nodes[five].peer_addr.clone(),
        cluster.nodes[five].client_addr.clone(),
    );
    let (code, out, err) = as_admin(
        &cluster,
        &admin_key(),
        &["cluster", "add-learner", &id, &peer, &client],
    );
    assert_eq!(code, 0, "add-learner: {out}{err}");
    let voters = format!("1,2,{id}");
    let (code, out, err) = as_admin(&cluster, &admin_key(), &["cluster", "voters", &voters]);
    assert_eq!(code, 0, "voters: {out}{err}");
    cluster.stop(2);
    open_account(&cluster, "ZJ-RB-3").await;
    let (seq, _) = cluster
        .wait_converged(&[0, 1, five], 3, Duration::from_secs(30))
        .await;
    let status = status_json(&cluster);
    let ids: Vec<u64> = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["nodeId"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(ids, vec![1, 2, 5], "{status}");
    cluster.stop_all();
    for i in [0, 1, five] {
        assert_eq!(audit_data_dir(&cluster.nodes[i].data_dir).0, seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_the_cluster_admin_key() {
    let mut cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    let new_key = cluster.dir.path().join("new-admin.json");
    let new_key = new_key.display().to_string();
    let (code, out, err) = ctl(&cluster.endpoints(), &["keygen", "--out", &new_key]);
    assert_eq!(code, 0, "{out}{err}");
    let new_pub = carbon_client::keys::Key::load(std::path::Path::new(&new_key))
        .expect("key")
        .public_bytes();

    // A stranger cannot rotate it (found by the dry run: nothing recorded).
    let (code, _, err) = as_admin(
        &cluster,
        &new_key,
        &["cluster", "rotate-admin-key", "--new-key", &new_key],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("INSUFFICIENT_SIGNATURES"), "{err}");

    // The current key rotates it to the new one, through the log.
    let (code, out, err) = as_admin(
        &cluster,
        &admin_key(),
        &["cluster", "rotate-admin-key", "--new-key", &new_key],
    );
    assert_eq!(code, 0, "rotate: {out}{err}");
    assert!(out.contains("committed"), "{out}");
    let seq = cluster
        .wait_converged(&[0, 1, 2], 1, Duration::from_secs(20))
        .await
        .0;
    let status = status_json(&cluster);
    assert_eq!(status["clusterAdminKey"], hex::encode(new_pub), "{status}");

    // The old key no longer changes membership or takes backups; the new one does.
    let (code, _, err) = as_admin(&cluster, &admin_key(), &["cluster", "voters", "1,2,3"]);
    assert_ne!(code, 0);
    assert!(err.contains("BAD_SIGNATURE"), "{err}");
    let (code, out, err) = as_admin(&cluster, &new_key, &["cluster", "voters", "1,2,3"]);
    assert_eq!(code, 0, "{out}{err}");
    let file = cluster.dir.path().join("after-rotation.backup");
    let f = file.display().to_string();
    let (code, _, err) = as_admin(&cluster, &admin_key(), &["cluster", "backup", "--out", &f]);
    assert_ne!(code, 0);
    assert!(err.contains("BAD_SIGNATURE"), "{err}");
    let (code, out, err) = as_admin(&cluster, &new_key, &["cluster", "backup", "--out", &f]);
    assert_eq!(code, 0, "{out}{err}");

    // Every member switched at the same log index: same chain, invariants hold.
    cluster.stop_all();
    for i in 0..3 {
        assert_eq!(audit_data_dir(&cluster.nodes[i].data_dir).0, seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_a_members_certificate() {
    let mut cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    // The operator's CA directory (here: the test CA), where `carbon-node certs` issues.
    let ca_dir = tempfile::tempdir().expect("dir");
    for f in ["ca.pem", "ca.key"] {
        std::fs::copy(repo_root().join("tests/pki").join(f), ca_dir.path().join(f)).expect("copy");
    }
    let d = ca_dir.path().display().to_string();
    let (code, out, err) = node_tool(&[
        "certs",
        "--dir",
        &d,
        "--nodes",
        "2",
        "--host",
        "127.0.0.1,localhost",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Member 2 takes the new certificate and key at a restart; the others keep theirs.
    let certs = cluster.dir.path().join("certs");
    let old = std::fs::read(certs.join("node-2.pem")).expect("old cert");
    cluster.stop(1);
    for f in ["node-2.pem", "node-2.key"] {
        std::fs::copy(ca_dir.path().join(f), certs.join(f)).expect("install");
    }
    assert_ne!(
        std::fs::read(certs.join("node-2.pem")).expect("new cert"),
        old
    );
    cluster.spawn(1);
    cluster
        .wait_health(1, ServingStatus::Serving, Duration::from_secs(30))
        .await;
    open_account(&cluster, "ZJ-CERT-1").await;
    cluster
        .wait_converged(&[0, 1, 2], 1, Duration::from_secs(20))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_one_member_at_a_time() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    // Followers first, the leader last; the cluster takes writes throughout.
    let mut order: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    order.push(leader);
    for (n, i) in order.into_iter().enumerate() {
        cluster.stop(i);
        open_account(&cluster, &format!("ZJ-ROLL-{n}")).await;
        cluster.spawn(i);
        cluster
            .wait_health(i, ServingStatus::Serving, Duration::from_secs(30))
            .await;
        // Caught up: the leader shows no lag for it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = status_json(&cluster);
            let lagging = status["members"]
                .as_array()
                .expect("members")
                .iter()
                .any(|m| m["lagEntries"].as_u64() != Some(0));
            if !lagging {
                break;
            }
            assert!(Instant::now() < deadline, "still lagging: {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (seq, head) = cluster
        .wait_converged(&[0, 1, 2], 3, Duration::from_secs(20))
        .await;
    let mut c = cluster.client(0).await;
    let h = c
        .get_chain_head(GetChainHeadRequest {
            consistency: ReadConsistency::Linearizable as i32,
        })
        .await
        .expect("head")
        .into_inner();
    assert_eq!((h.sequence, h.chain_head), (seq, head));
}
