//! Three real node processes on loopback: forwarding, convergence, failover under concurrent
//! load with SIGKILL of the leader, a follower killed and restarted, and a follower whose data
//! directory was wiped rejoining by snapshot. After each scenario every replica's data directory
//! is audited offline for the invariants of the registry's rules.

use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, GetAccountRequest,
    GetTransactionRequest, Outcome, ReadConsistency, Role, SignedTx, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const SINK: &str = "ZJ-SINK";

fn cea() -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: 2025,
        project_id: String::new(),
    }
}

fn reg(op: Operation) -> SignedTx {
    sign(&body(&[REG], op), &[&demo_key(REG)])
}

fn transfer_one(from: &str) -> SignedTx {
    let op = Operation::Transfer(Transfer {
        from_account: from.into(),
        to_account: SINK.into(),
        unit_class: Some(cea()),
        quantity: 1,
    });
    sign(&body(&[from], op), &[&test_key(from)])
}

/// Opens `n` senders with 100,000 CEA each and a sink; returns the number of txs submitted.
async fn setup(c: &mut RegistryClient<Channel>, senders: &[String]) -> u64 {
    let mut txs = vec![
        reg(open_account_op(SINK, Role::Enterprise)),
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 100_000_000,
        })),
    ];
    for s in senders {
        txs.push(reg(open_account_op(s, Role::Enterprise)));
        txs.push(reg(Operation::Allocate(Allocate {
            enterprise_id: s.clone(),
            vintage: 2025,
            quantity: 100_000,
        })));
    }
    let n = txs.len() as u64;
    for t in txs {
        assert_eq!(submit(c, t).await.code(), ErrorCode::Ok);
    }
    n
}

/// Submits the same signed bytes to nodes in turn until an outcome comes back (bounded).
async fn submit_until_acked(addrs: &[String], start: usize, tx: &SignedTx) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = start;
    loop {
        if let Ok(mut c) = try_connect(&addrs[i % addrs.len()]).await {
            if let Submitted::Outcome(o) = submit(&mut c, tx.clone()).await {
                return o;
            }
        }
        assert!(Instant::now() < deadline, "a tx found no leader for 60 s");
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_a_follower_is_forwarded_and_all_replicas_converge() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let follower = (leader + 1) % 3;
    let mut c = cluster.client(follower).await;
    let n = setup(&mut c, &["ZJ-S-1".to_string()]).await;
    let o = submit(&mut c, transfer_one("ZJ-S-1")).await.outcome();
    assert_eq!(o.code(), ErrorCode::Ok);
    // A linearizable read on the follower sees the write at once (forwarded to the leader).
    let a = c
        .get_account(GetAccountRequest {
            account_id: SINK.into(),
            consistency: ReadConsistency::Linearizable as i32,
        })
        .await;
    assert!(a.is_ok());
    let (seq, _) = cluster
        .wait_converged(&[0, 1, 2], n + 1, Duration::from_secs(20))
        .await;
    assert_eq!(seq, n + 1);

    // Through the follower: a half-signed trade is refused before the log (the leader checks
    // thresholds), and a tx signed with keys replaced one step earlier is accepted.
    let trade = body(
        &["ZJ-S-1", SINK],
        Operation::Trade(carbon_proto::v1::Trade {
            seller: "ZJ-S-1".into(),
            buyer: SINK.into(),
            unit_class: Some(cea()),
            quantity: 1,
            price_fen: 9_000,
            exchange_ref: String::new(),
        }),
    );
    let half = sign(&trade, &[&test_key("ZJ-S-1")]);
    assert_eq!(
        submit(&mut c, half).await.code(),
        ErrorCode::InsufficientSignatures
    );
    let rotated = test_key("ZJ-S-1 rotated");
    let update = Operation::UpdateKeys(carbon_proto::v1::UpdateKeys {
        account_id: "ZJ-S-1".into(),
        public_keys: vec![rotated.verifying_key().to_bytes().to_vec()],
        threshold: 1,
    });
    let t = sign(&body(&["ZJ-S-1"], update), &[&test_key("ZJ-S-1")]);
    assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    let op = Operation::Transfer(Transfer {
        from_account: "ZJ-S-1".into(),
        to_account: SINK.into(),
        unit_class: Some(cea()),
        quantity: 1,
    });
    let t = sign(&body(&["ZJ-S-1"], op), &[&rotated]);
    assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    cluster
        .wait_converged(&[0, 1, 2], n + 3, Duration::from_secs(20))
        .await;
    cluster.stop_all();
    let audited: Vec<_> = (0..3)
        .map(|i| audit_data_dir(&cluster.nodes[i].data_dir))
        .collect();
    assert!(
        audited.iter().all(|a| a == &audited[0]),
        "replicas differ: {audited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let senders: Vec<String> = (0..4).map(|i| format!("ZJ-S-{i}")).collect();
    let mut c = cluster.client(leader).await;
    let setup_count = setup(&mut c, &senders).await;
    let addrs: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| n.client_addr.clone())
        .collect();

    // Four clients, 400 transfers each, every tx retried with the same bytes until acknowledged.
    let per_client = 400;
    let mut tasks = Vec::new();
    for (k, s) in senders.iter().enumerate() {
        let s = s.clone();
        let addrs = addrs.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for j in 0..per_client {
                let tx = transfer_one(&s);
                let o = submit_until_acked(&addrs, k + j, &tx).await;
                acked.push((tx, o, Instant::now()));
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    cluster.kill(leader);
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = cluster
        .wait_for_leader(&survivors, Duration::from_secs(30))
        .await;
    let elected_after = killed_at.elapsed();
    let mut all: Vec<(SignedTx, Outcome, Instant)> = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let first_ack_after_kill = all
        .iter()
        .filter(|(_, _, at)| *at > killed_at)
        .map(|(_, _, at)| at.duration_since(killed_at))
        .min();
    eprintln!(
        "failover: new leader node {} after {elected_after:?}; first acknowledgement after the kill {first_ack_after_kill:?}",
        cluster.nodes[new_leader].id
    );
    let before_kill = all.iter().filter(|(_, _, at)| *at < killed_at).count();
    assert!(
        before_kill > 0 && first_ack_after_kill.is_some(),
        "the kill must fall inside the load: {before_kill} acknowledged before it, {} after",
        all.len() - before_kill
    );

    // Every acknowledged tx succeeded and has a distinct chain position.
    let mut by_seq = BTreeMap::new();
    for (_, o, _) in &all {
        assert_eq!(o.code(), ErrorCode::Ok, "{}", o.message);
        assert!(
            by_seq.insert(o.sequence, o.tx_id.clone()).is_none(),
            "two txs at one sequence"
        );
    }
    let total = setup_count + (senders.len() * per_client) as u64;

    // A client that retries an acknowledged tx gets the same outcome; nothing is applied twice.
    let mut c = cluster.client(new_leader).await;
    for (tx, o, _) in all.iter().step_by(37) {
        let again = submit(&mut c, tx.clone()).await.outcome();
        assert_eq!(&again, o);
    }

    // The killed node comes back and catches up; all replicas agree.
    cluster.spawn(leader);
    let (seq, _) = cluster
        .wait_converged(&[0, 1, 2], total, Duration::from_secs(60))
        .await;
    assert_eq!(
        seq, total,
        "exactly the acknowledged transactions are in the chain"
    );
    for (_, o, _) in all.iter().step_by(11) {
        let mut req = GetTransactionRequest {
            tx_id: o.tx_id.clone(),
            consistency: ReadConsistency::Linearizable as i32,
            auth: None,
        };
        carbon_proto::read_auth::sign(&mut req, CHAIN, REG, &demo_key(REG), now_ms() + 60_000);
        let t = c
            .get_transaction(req)
            .await
            .expect("acknowledged tx is committed")
            .into_inner();
        assert_eq!(t.transaction.and_then(|t| t.outcome).as_ref(), Some(o));
    }
    cluster.stop_all();
    let audited: Vec<_> = (0..3)
        .map(|i| audit_data_dir(&cluster.nodes[i].data_dir))
        .collect();
    assert!(audited.iter().all(|a| a == &audited[0]), "replicas differ");
    assert_eq!(audited[0].0, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_follower_catches_up_and_a_wiped_one_rejoins_by_snapshot() {
    // Snapshot every 20 entries, keep only 5 behind it: a wiped follower cannot catch up from
    // the log and must receive a snapshot.
    let mut cluster = Cluster::start_with(3, 20, 5);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    let senders = vec!["ZJ-S-A".to_string()];
    let mut total = setup(&mut c, &senders).await;
    // Followers other than node 1 (which bootstraps on start).
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let restarted = followers[0];
    let wiped = *followers
        .iter()
        .find(|&&i| cluster.nodes[i].id != 1)
        .unwrap_or(&followers[1]);
    let restarted = if restarted == wiped {
        followers[1]
    } else {
        restarted
    };

    cluster.kill(restarted);
    for _ in 0..40 {
        assert_eq!(
            submit(&mut c, transfer_one("ZJ-S-A")).await.code(),
            ErrorCode::Ok
        );
        total += 1;
    }
    cluster.spawn(restarted);
    cluster
        .wait_converged(&[0, 1, 2], total, Duration::from_secs(60))
        .await;

    cluster.kill(wiped);
    cluster.wipe(wiped);
    for _ in 0..60 {
        assert_eq!(
            submit(&mut c, transfer_one("ZJ-S-A")).await.code(),
            ErrorCode::Ok
        );
        total += 1;
    }
    let started = Instant::now();
    cluster.spawn(wiped);
    cluster
        .wait_converged(&[0, 1, 2], total, Duration::from_secs(60))
        .await;
    eprintln!(
        "snapshot catch-up of a wiped follower: {:?}",
        started.elapsed()
    );
    assert!(
        cluster.log_of(wiped).contains("installed snapshot"),
        "the wiped follower caught up without a snapshot:\n{}",
        cluster.log_of(wiped)
    );
    cluster.stop_all();
    let audited: Vec<_> = (0..3)
        .map(|i| audit_data_dir(&cluster.nodes[i].data_dir))
        .collect();
    assert!(audited.iter().all(|a| a == &audited[0]), "replicas differ");
}
