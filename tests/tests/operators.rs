//! What an operator found (issue 15, item 9), each through the real node and carbonctl: a
//! removed leader left running, a leader that cannot confirm its clock, a restore under an id
//! the backup does not name, the pending file of a settled transaction, and a node certificate
//! replaced without a restart (SIGHUP). Each fails against the build of the round before.

use carbon_proto::v1::{
    admin_body::Action, tx_body::Operation, AddLearner, ChangeMembership, ClusterStatusRequest,
    DeclareVintage, Role,
};
use carbon_tests::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MONTH_MS: i64 = 30 * 24 * 3_600_000;

async fn local_status(cluster: &Cluster, i: usize) -> carbon_proto::v1::ClusterStatusResponse {
    let mut c = cluster.client(i).await;
    c.cluster_status(ClusterStatusRequest {
        local: true,
        ..Default::default()
    })
    .await
    .expect("status")
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_removed_from_the_voters_and_left_running_does_not_report_itself_leader() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    let four = cluster.add_node();
    let add = Action::AddLearner(AddLearner {
        node_id: cluster.nodes[four].id,
        peer_address: cluster.nodes[four].peer_addr.clone(),
        client_address: cluster.nodes[four].client_addr.clone(),
    });
    let admin = cluster_admin_key();
    c.admin(admin_request(add, &admin, 60_000))
        .await
        .expect("add learner");
    let all: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    let voters = |ids: Vec<u64>| Action::ChangeMembership(ChangeMembership { voters: ids });
    c.admin(admin_request(voters(all.clone()), &admin, 60_000))
        .await
        .expect("four voters");
    // The leader is removed; it keeps running.
    let removed = cluster.nodes[leader].id;
    let rest: Vec<u64> = all.into_iter().filter(|id| *id != removed).collect();
    c.admin(admin_request(voters(rest), &admin, 60_000))
        .await
        .expect("the leader removed");
    let others: Vec<usize> = (0..4).filter(|i| *i != leader).collect();
    let new_leader = cluster
        .wait_for_leader(&others, Duration::from_secs(30))
        .await;
    assert_ne!(new_leader, leader);
    // Every answer of the removed member, for a few seconds: never itself as leader.
    for _ in 0..10 {
        let s = local_status(&cluster, leader).await;
        assert_ne!(
            s.leader_id, removed,
            "the removed member reports itself leader"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let samples = cluster.metrics(leader);
    assert_eq!(sample(&samples, "carbon_raft_leader_id", ""), Some(0.0));
    let (code, out, err) = ctl(
        &[cluster.nodes[leader].client_addr.clone()],
        &["cluster", "status"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("leader 0 in term"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_confirm_its_clock_answers_carbonctl_with_the_reason_in_time() {
    // Node 3's clock is a month ahead (it never leads); once the other follower is gone, the
    // leader's clock agrees with itself only, and nobody else's is measured: unconfirmed. The
    // leader keeps its quorum (node 3 acknowledges), so reads and dry runs are answered; writes
    // are refused.
    let mut cluster = Spec {
        env: vec![(2, "CARBON_CLOCK_OFFSET_MS".into(), MONTH_MS.to_string())],
        ..Spec::new(3)
    }
    .start();
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    assert_ne!(leader, 2, "the skewed node leads");
    cluster.kill(1 - leader);
    // Once node 2's last clock sample is too old (5 s), the leader refuses writes: wait until a
    // raw submission says so (those before commit).
    let mut c = cluster.client(leader).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for n in 0.. {
        assert!(
            std::time::Instant::now() < deadline,
            "writes were never refused"
        );
        let mut b = body(
            &[REG],
            open_account_op(&format!("OP-CLOCK-{n}"), Role::Enterprise),
        );
        b.valid_until_ms = now_ms() + 2 * MONTH_MS as u64;
        match submit(&mut c, sign(&b, &[&demo_key(REG)])).await {
            Submitted::Error(_, m) if m.contains("clock") => break,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    // carbonctl's attempt lasts 5 s (its default): the node's answer must come before, with the
    // reason, instead of a timeout. Valid for two months: no node's ingress takes it for expired.
    let (code, out, err) = ctl(
        &[cluster.nodes[leader].client_addr.clone()],
        &[
            "--timeout",
            "5",
            "--valid-for",
            "5184000",
            "--as",
            REG,
            "vintage",
            "declare",
            "2031",
            "--cap",
            "1000",
        ],
    );
    if let Some(file) = err.split_whitespace().find(|w| w.starts_with("pending-")) {
        let _ = std::fs::remove_file(repo_root().join(file.trim_end_matches([';', ','])));
    }
    let log = cluster.log_of(leader);
    let tail: String = log
        .lines()
        .filter(|l| l.contains("watchdog") || l.contains("carbon_node::api"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(code, 4, "{out}{err}\n{tail}");
    assert!(
        err.contains("clock") && err.contains("proposed nothing"),
        "carbonctl did not learn why: {err}\n{tail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_warns_when_the_backups_membership_lacks_this_nodes_id() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let tx = sign(
        &body(&[REG], open_account_op("OP-ENT-1", Role::Enterprise)),
        &[&demo_key(REG)],
    );
    assert_eq!(
        submit(&mut c, tx).await.code(),
        carbon_proto::v1::ErrorCode::Ok
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("backup.snap");
    let admin = repo_root().join("seeds/keys/cluster-admin.json");
    let (code, out, err) = ctl(
        &cluster.endpoints(),
        &[
            "--key",
            &admin.display().to_string(),
            "cluster",
            "backup",
            "--out",
            &file.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    // A member config of node 7, which the backup's membership (node 1) does not name.
    let config = dir.path().join("n7.toml");
    let tls = pki().node_files(&dir.path().join("certs"), 7);
    std::fs::write(
        &config,
        format!(
            "id = 7\ndata_dir = \"{}\"\nclient_addr = \"127.0.0.1:{}\"\npeer_addr = \"127.0.0.1:{}\"\ngenesis = \"{}\"\n\n{tls}",
            dir.path().join("n7").display(),
            free_port(),
            free_port(),
            repo_root().join("seeds/genesis.toml").display()
        ),
    )
    .expect("config");
    let restore = |config: &Path| {
        node_tool(&[
            "restore",
            "--backup",
            &file.display().to_string(),
            "--config",
            &config.display().to_string(),
        ])
    };
    let (code, out, err) = restore(&config);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("warning") && err.contains("does not name this node's id 7"),
        "{err}"
    );
    // Under node 1's own config (a fresh data dir), no warning.
    let own = dir.path().join("n1.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("id = 7", "id = 1")
        .replace(
            &dir.path().join("n7").display().to_string(),
            &dir.path().join("n1").display().to_string(),
        );
    std::fs::write(&own, text).expect("config");
    let (code, out, err) = restore(&own);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_submit_removes_the_pending_file_once_the_transaction_is_settled() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let dir = tempfile::tempdir().expect("dir");
    // A transaction carbonctl saved after sending it with no definite answer looks like this:
    // signed, named pending-<id>.tx.json.
    let draft = dir.path().join("draft.tx.json");
    let (code, out, err) = ctl(
        &ep,
        &[
            "--unsigned-out",
            &draft.display().to_string(),
            "--as",
            REG,
            "vintage",
            "declare",
            "2032",
            "--cap",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctl(
        &ep,
        &["--as", REG, "tx", "sign", &draft.display().to_string()],
    );
    assert_eq!(code, 0, "{out}{err}");
    let pending = dir.path().join("pending-0123456789abcdef.tx.json");
    std::fs::rename(&draft, &pending).expect("rename");
    let (code, out, err) = ctl(&ep, &["tx", "submit", &pending.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !pending.exists(),
        "the settled pending file is still there: {err}"
    );
    // A file of another name is the user's: kept.
    let (code, out, err) = ctl(
        &ep,
        &[
            "--unsigned-out",
            &draft.display().to_string(),
            "--as",
            REG,
            "vintage",
            "declare",
            "2033",
            "--cap",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctl(
        &ep,
        &["--as", REG, "tx", "sign", &draft.display().to_string()],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctl(&ep, &["tx", "submit", &draft.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(draft.exists());
}

/// The certificate a node's client port presents now (DER), over a fresh TLS connection.
async fn served_certificate(addr: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(pki().ca_pem().as_bytes()) {
        let c: rustls::pki_types::CertificateDer = c.expect("CA");
        roots.add(c).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    tls.get_ref().1.peer_certificates().expect("certificates")[0].to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    let c: rustls::pki_types::CertificateDer =
        rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes()).expect("PEM");
    c.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_node_certificate_is_served_after_sighup_without_a_restart() {
    let cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let addr = cluster.nodes[0].client_addr.clone();
    assert_eq!(
        served_certificate(&addr).await,
        der_of(&pki().node(1).cert_pem)
    );
    // The operator puts a new certificate in place and sends SIGHUP.
    let certs = cluster.dir.path().join("certs");
    let fresh = pki().fresh_node(1);
    std::fs::write(
        carbon_node::tls::certs::node_cert_file(&certs, 1),
        &fresh.cert_pem,
    )
    .expect("cert");
    std::fs::write(
        carbon_node::tls::certs::node_key_file(&certs, 1),
        &fresh.key_pem,
    )
    .expect("key");
    cluster.hangup(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while served_certificate(&addr).await != der_of(&fresh.cert_pem) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate is not served 10 s after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cluster.is_up(0), "the node restarted or stopped");
    // Peers still accept it (same CA, same node name), and it still serves writes.
    let mut c = cluster.client(0).await;
    let tx = sign(
        &body(
            &[REG],
            Operation::DeclareVintage(DeclareVintage {
                vintage: 2034,
                cap: 1,
            }),
        ),
        &[&demo_key(REG)],
    );
    assert_eq!(
        submit(&mut c, tx).await.code(),
        carbon_proto::v1::ErrorCode::Ok
    );
    // A certificate naming another node is refused; the good one stays.
    let wrong = pki().fresh_node(2);
    std::fs::write(
        carbon_node::tls::certs::node_cert_file(&certs, 1),
        &wrong.cert_pem,
    )
    .expect("cert");
    std::fs::write(
        carbon_node::tls::certs::node_key_file(&certs, 1),
        &wrong.key_pem,
    )
    .expect("key");
    cluster.hangup(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served_certificate(&addr).await, der_of(&fresh.cert_pem));
    assert!(cluster.log_of(0).contains("was not replaced"));
}
