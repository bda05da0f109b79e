//! Ledger time is bounded by a majority of clocks (issue 7, item 5). A member's clock is shifted
//! with the test knob `CARBON_CLOCK_OFFSET_MS` (it shifts everything that node takes as "now").
//! A leader whose clock a majority disagrees with refuses writes with UNAVAILABLE and says why;
//! a skewed follower does not stop the cluster; no committed entry carries a skewed time.
//!
//! The transactions are valid for 60 days, so that no node's ingress takes them for expired
//! (a node a month ahead would): what refuses them here is the leader's clock check.

use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, Outcome, Role, SignedTx, Transfer,
    UnitClass, UnitKind,
};
use carbon_tests::*;
use std::time::Duration;

const MONTH_MS: i64 = 30 * 24 * 3_600_000;
/// How far a committed timestamp may be from the test's own clock.
const SANE_MS: u64 = 10_000;

fn skewed(members: usize, offsets: &[(usize, i64)]) -> Cluster {
    Spec {
        env: offsets
            .iter()
            .map(|(i, ms)| (*i, "CARBON_CLOCK_OFFSET_MS".to_string(), ms.to_string()))
            .collect(),
        ..Spec::new(members)
    }
    .start()
}

/// A body valid for 60 days.
fn long_body(signer: &str, op: Operation) -> carbon_proto::v1::TxBody {
    let mut b = body(&[signer], op);
    b.valid_until_ms = now_ms() + 2 * MONTH_MS as u64;
    b
}

fn reg(op: Operation) -> SignedTx {
    sign(&long_body(REG, op), &[&demo_key(REG)])
}

fn writes() -> Vec<SignedTx> {
    let mut txs = vec![
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1_000_000,
        })),
        reg(open_account_op("ZJ-CLOCK-A", Role::Enterprise)),
        reg(open_account_op("ZJ-CLOCK-B", Role::Enterprise)),
        reg(Operation::Allocate(Allocate {
            enterprise_id: "ZJ-CLOCK-A".into(),
            vintage: 2025,
            quantity: 1_000,
        })),
    ];
    for _ in 0..20 {
        let op = Operation::Transfer(Transfer {
            from_account: "ZJ-CLOCK-A".into(),
            to_account: "ZJ-CLOCK-B".into(),
            unit_class: Some(UnitClass {
                kind: UnitKind::Cea as i32,
                vintage: 2025,
                project_id: String::new(),
            }),
            quantity: 1,
        });
        txs.push(sign(
            &long_body("ZJ-CLOCK-A", op),
            &[&test_key("ZJ-CLOCK-A")],
        ));
    }
    txs
}

/// Submits through the given nodes in turn, the same bytes until an outcome comes (bounded).
async fn commit_all(cluster: &Cluster, via: &[usize], txs: Vec<SignedTx>) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (k, tx) in txs.into_iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut i = k;
        loop {
            let mut c = cluster.client(via[i % via.len()]).await;
            match submit(&mut c, tx.clone()).await {
                Submitted::Outcome(o) => {
                    assert_eq!(o.code(), ErrorCode::Ok, "{}", o.message);
                    out.push(o);
                    break;
                }
                Submitted::Error(code, m) => {
                    assert_eq!(code, ErrorCode::Unavailable, "{m}");
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no commit in 60 s: {m}"
                    );
                    i += 1;
                }
            }
        }
    }
    out
}

fn assert_sane_times(outcomes: &[Outcome]) {
    let now = now_ms();
    for o in outcomes {
        assert!(
            o.timestamp_ms.abs_diff(now) < SANE_MS + 120_000,
            "tx at sequence {} carries ledger time {} ms, {} ms from the real time",
            o.sequence,
            o.timestamp_ms,
            o.timestamp_ms as i64 - now as i64
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_a_month_ahead_hands_over_and_never_moves_ledger_time() {
    // Node 1 bootstraps the cluster, so it leads first.
    let cluster = skewed(3, &[(0, MONTH_MS)]);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let outcomes = commit_all(&cluster, &[0, 1, 2], writes()).await;
    assert_sane_times(&outcomes);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(10))
        .await;
    assert_ne!(leader, 0, "the skewed node still leads");
    let log = cluster.log_of(0);
    assert!(
        log.contains("refusing writes") && log.contains("clock_tolerance_ms=3000"),
        "node 1 did not say why it refused:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_of_agreeing_clocks_writes_are_refused_with_the_reason() {
    // Three clocks a month apart: none agrees with a majority.
    let cluster = skewed(3, &[(0, MONTH_MS), (2, -MONTH_MS)]);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    // Node 1 (bootstrap, the leader) is a month ahead, node 3 a month behind.
    for via in 0..3 {
        let mut c = cluster.client(via).await;
        let tx = reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1_000_000,
        }));
        match submit(&mut c, tx).await {
            Submitted::Error(ErrorCode::Unavailable, m) => assert!(
                m.contains("clock") && m.contains("proposed nothing"),
                "node {}: the refusal does not say why: {m}",
                via + 1
            ),
            other => panic!("node {}: a write was not refused: {other:?}", via + 1),
        }
    }
    for (seq, _) in cluster.heads(&[0, 1, 2]).await {
        assert_eq!(seq, 0, "a write was committed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_a_month_ahead_does_not_stop_the_cluster() {
    let cluster = skewed(3, &[(2, MONTH_MS)]);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let outcomes = commit_all(&cluster, &[0, 1, 2], writes()).await;
    assert_sane_times(&outcomes);
    let last = outcomes.last().map_or(0, |o| o.sequence);
    cluster
        .wait_converged(&[0, 1, 2], last, Duration::from_secs(30))
        .await;
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(10))
        .await;
    assert_ne!(leader, 2, "the skewed node leads");
}
