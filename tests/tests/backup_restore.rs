//! Backup and restore end to end, with the operator's tools: write, back up a live member
//! (`carbonctl cluster backup`), verify the file (`carbon-node check FILE`), wipe EVERY member,
//! restore each (`carbon-node restore`), start: same chain head and state, and the cluster takes
//! writes again. Also: a restore into a new cluster on other addresses (`--new-membership`), a
//! replacement member restored from a backup, and the refusals (a damaged file, a used
//! directory, an unsigned request).

use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, GetHoldingsRequest, ReadConsistency,
    Role, SignedTx, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::path::Path;
use std::time::Duration;

const ENT: &str = "ZJ-BK-A";
const ENT2: &str = "ZJ-BK-B";

fn reg(op: Operation) -> SignedTx {
    sign(&body(&[REG], op), &[&demo_key(REG)])
}

fn cea() -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: 2025,
        project_id: String::new(),
    }
}

fn transfer(q: u64) -> SignedTx {
    let op = Operation::Transfer(Transfer {
        from_account: ENT.into(),
        to_account: ENT2.into(),
        unit_class: Some(cea()),
        quantity: q,
    });
    sign(&body(&[ENT], op), &[&test_key(ENT)])
}

/// Accounts, a vintage, an allocation and some transfers.
async fn write_some(cluster: &Cluster, leader: usize) {
    let mut c = cluster.client(leader).await;
    for (id, role) in [(ENT, Role::Enterprise), (ENT2, Role::Enterprise)] {
        assert_eq!(
            submit(&mut c, reg(open_account_op(id, role))).await.code(),
            ErrorCode::Ok
        );
    }
    let ops = [
        Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1_000_000,
        }),
        Operation::Allocate(Allocate {
            enterprise_id: ENT.into(),
            vintage: 2025,
            quantity: 50_000,
        }),
    ];
    for op in ops {
        assert_eq!(submit(&mut c, reg(op)).await.code(), ErrorCode::Ok);
    }
    for q in 1..=10 {
        assert_eq!(submit(&mut c, transfer(q)).await.code(), ErrorCode::Ok);
    }
}

/// ENT2's balance as node `i` holds it (a local read, signed by ENT2; after convergence).
async fn balance(cluster: &Cluster, i: usize) -> u64 {
    let mut c = cluster.client(i).await;
    let mut req = GetHoldingsRequest {
        account_id: ENT2.into(),
        consistency: ReadConsistency::Local as i32,
        ..Default::default()
    };
    carbon_proto::read_auth::sign(&mut req, CHAIN, ENT2, &test_key(ENT2), now_ms() + 60_000);
    let r = c.get_holdings(req).await.expect("holdings").into_inner();
    r.balances.iter().map(|b| b.available).sum()
}

fn admin_key() -> String {
    repo_root()
        .join("seeds/keys/cluster-admin.json")
        .display()
        .to_string()
}

fn backup(endpoint: &str, out: &Path) {
    let out = out.display().to_string();
    let (code, stdout, stderr) = ctl(
        &[endpoint.to_string()],
        &["--key", &admin_key(), "cluster", "backup", "--out", &out],
    );
    assert_eq!(code, 0, "backup: {stdout}{stderr}");
    assert!(stdout.contains("backup of log index"), "{stdout}");
}

/// `carbon-node check FILE`: returns the chain head it reports.
fn check(path: &Path) -> String {
    let p = path.display().to_string();
    let (code, stdout, stderr) = node_tool(&["check", &p, "--genesis", "seeds/genesis.toml"]);
    assert_eq!(code, 0, "check {p}: {stdout}{stderr}");
    head_of(&stdout)
}

fn head_of(text: &str) -> String {
    text.split_whitespace()
        .skip_while(|w| *w != "head")
        .nth(1)
        .unwrap_or_else(|| panic!("no head in {text:?}"))
        .to_string()
}

fn restore(cluster: &Cluster, i: usize, file: &Path, extra: &[&str]) -> String {
    let (f, cfg) = (
        file.display().to_string(),
        cluster.nodes[i].config.display().to_string(),
    );
    let mut args = vec!["restore", "--backup", &f, "--config", &cfg];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = node_tool(&args);
    assert_eq!(code, 0, "restore into node {i}: {stdout}{stderr}");
    head_of(&stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_wipe_every_member_restore_same_head_and_state() {
    let mut cluster = Cluster::start(3, 10_000);
    let first = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    // A leader change first, so that the backup's entries are of a later term than 1 (a
    // restored member once started with no vote, elected itself in term 1 and stopped).
    cluster.stop(first);
    let others: Vec<usize> = (0..3).filter(|&i| i != first).collect();
    let leader = cluster
        .wait_for_leader(&others, Duration::from_secs(20))
        .await;
    cluster.spawn(first);
    write_some(&cluster, leader).await;
    let (sequence, head) = cluster
        .wait_converged(&[0, 1, 2], 14, Duration::from_secs(20))
        .await;
    let balance_before = balance(&cluster, leader).await;
    assert_eq!(balance_before, 55);

    // Back up a follower (a live member; any member will do) and verify the file offline.
    let follower = (leader + 1) % 3;
    let file = cluster.dir.path().join("registry.backup");
    backup(&cluster.nodes[follower].client_addr, &file);
    assert_eq!(check(&file), hex::encode(&head), "the backup's chain head");

    // A backup needs the cluster admin key, and is never written over an existing file.
    let (code, _, stderr) = ctl(
        &[cluster.nodes[follower].client_addr.clone()],
        &[
            "--key",
            &admin_key(),
            "cluster",
            "backup",
            "--out",
            &file.display().to_string(),
        ],
    );
    assert_ne!(code, 0, "overwrote a backup: {stderr}");
    let stranger = cluster.dir.path().join("stranger.json");
    let (code, _, _) = ctl(
        &cluster.endpoints(),
        &["keygen", "--out", &stranger.display().to_string()],
    );
    assert_eq!(code, 0);
    let (code, _, stderr) = ctl(
        &[cluster.nodes[follower].client_addr.clone()],
        &[
            "--key",
            &stranger.display().to_string(),
            "cluster",
            "backup",
            "--out",
            &cluster.dir.path().join("x.backup").display().to_string(),
        ],
    );
    assert_ne!(code, 0, "a backup signed by a stranger");
    assert!(stderr.contains("BAD_SIGNATURE"), "{stderr}");

    // Disaster: every member's data is gone.
    cluster.stop_all();
    for i in 0..3 {
        cluster.wipe(i);
    }
    for i in 0..3 {
        assert_eq!(restore(&cluster, i, &file, &[]), hex::encode(&head));
    }
    // Restoring over a used directory is refused.
    let (code, _, stderr) = node_tool(&[
        "restore",
        "--backup",
        &file.display().to_string(),
        "--config",
        &cluster.nodes[0].config.display().to_string(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not empty"), "{stderr}");

    for i in 0..3 {
        cluster.spawn(i);
    }
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    assert_eq!(
        cluster
            .wait_converged(&[0, 1, 2], sequence, Duration::from_secs(30))
            .await,
        (sequence, head.clone()),
        "every restored member has the backup's head"
    );
    assert_eq!(balance(&cluster, leader).await, balance_before);

    // The restored cluster takes writes, and a replacement member restored from the (now older)
    // backup catches up.
    let mut c = cluster.client(leader).await;
    assert_eq!(submit(&mut c, transfer(100)).await.code(), ErrorCode::Ok);
    let replaced = (leader + 2) % 3;
    cluster.stop(replaced);
    cluster.wipe(replaced);
    restore(&cluster, replaced, &file, &[]);
    cluster.spawn(replaced);
    assert_eq!(submit(&mut c, transfer(1)).await.code(), ErrorCode::Ok);
    cluster
        .wait_converged(&[0, 1, 2], sequence + 2, Duration::from_secs(30))
        .await;
    if let Some(status) = cluster.exit_status(replaced) {
        panic!(
            "the replaced member stopped ({status}):\n{}",
            cluster.log_of(replaced)
        );
    }
    assert_eq!(balance(&cluster, replaced).await, balance_before + 101);
    cluster.stop_all();
    for i in 0..3 {
        let (seq, _) = audit_data_dir(&cluster.nodes[i].data_dir);
        assert_eq!(seq, sequence + 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_a_new_cluster_on_other_addresses() {
    let source = Cluster::start(1, 10_000);
    let leader = source.wait_for_leader(&[0], Duration::from_secs(20)).await;
    write_some(&source, leader).await;
    let (sequence, head) = source
        .wait_converged(&[0], 14, Duration::from_secs(20))
        .await;
    let keep = tempfile::tempdir().expect("dir");
    let file = keep.path().join("registry.backup");
    backup(&source.nodes[0].client_addr, &file);
    drop(source);

    // Three members, none of them at the source's address: the membership is the new config's.
    let mut target = Cluster::configure(Spec::new(3));
    for i in 0..3 {
        restore(&target, i, &file, &["--new-membership"]);
    }
    for i in 0..3 {
        target.spawn(i);
    }
    let leader = target
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    assert_eq!(
        target
            .wait_converged(&[0, 1, 2], sequence, Duration::from_secs(30))
            .await,
        (sequence, head)
    );
    let mut c = target.client(leader).await;
    assert_eq!(submit(&mut c, transfer(5)).await.code(), ErrorCode::Ok);
    target
        .wait_converged(&[0, 1, 2], sequence + 1, Duration::from_secs(30))
        .await;
    assert_eq!(balance(&target, leader).await, 60);
    target.stop_all();
}

#[test]
fn a_damaged_backup_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.backup");
    std::fs::write(&file, b"CRSNAP1\nnot a snapshot at all").expect("write");
    let (code, stdout, stderr) = node_tool(&[
        "check",
        &file.display().to_string(),
        "--genesis",
        "seeds/genesis.toml",
    ]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains("bad.backup"), "{stderr}");
}
