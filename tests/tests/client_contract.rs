//! The write contract, tried with raw gRPC as an outside client would (no SDK): every Submit and
//! SubmitBatch answer is an outcome or an error status whose detail says the transaction's fate;
//! a committed tx id returns its first outcome on any node, however long after its expiry; an
//! expired transaction that was never committed is NOT_APPLIED and changes nothing; answers of
//! unknown fate while the leader is killed all settle by resubmitting the same bytes.

use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    submit_result, tx_body::Operation, Allocate, DeclareVintage, ErrorCode, ErrorDetail, Fate,
    Outcome, Role, SignedTx, SubmitBatchRequest, SubmitRequest, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic_types::StatusExt;

const ENT: &str = "ZJ-ENT-C1";
const ENT2: &str = "ZJ-ENT-C2";

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

/// A transfer of `q` from ENT, valid for `valid_ms` from now.
fn transfer(q: u64, valid_ms: u64) -> SignedTx {
    let mut b = body(
        &[ENT],
        Operation::Transfer(Transfer {
            from_account: ENT.into(),
            to_account: ENT2.into(),
            unit_class: Some(cea()),
            quantity: q,
        }),
    );
    b.valid_until_ms = now_ms() + valid_ms;
    sign(&b, &[&test_key(ENT)])
}

/// One Submit answer, checked against the contract: OK carries an outcome; an error carries our
/// detail with a fate, and a committed rejection its outcome.
async fn answer(c: &mut RegistryClient<Channel>, tx: SignedTx) -> Result<Outcome, ErrorDetail> {
    match c.submit(SubmitRequest { tx: Some(tx) }).await {
        Ok(r) => Ok(r
            .into_inner()
            .outcome
            .expect("an OK status always carries an outcome")),
        Err(status) => {
            assert!(
                !status.details().is_empty(),
                "every error status carries our detail: {status:?}"
            );
            let d = carbon_proto::status::detail(&status).expect("the detail decodes");
            // Any gRPC library reads the same status the standard way.
            let info = status
                .get_details_error_info()
                .expect("a google.rpc.ErrorInfo");
            assert_eq!(info.reason, d.code().as_str_name());
            assert_eq!(info.domain, carbon_proto::status::DOMAIN);
            assert_eq!(info.metadata["fate"], d.fate().as_str_name());
            assert_ne!(
                d.fate(),
                Fate::Unspecified,
                "every error says its fate: {d:?}"
            );
            if d.fate() == Fate::Committed {
                assert!(
                    d.outcome.is_some(),
                    "a committed rejection carries its outcome"
                );
            }
            Err(d)
        }
    }
}

async fn setup(c: &mut RegistryClient<Channel>) {
    let txs = vec![
        reg(open_account_op(ENT, Role::Enterprise)),
        reg(open_account_op(ENT2, Role::Enterprise)),
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 10_000_000,
        })),
        reg(Operation::Allocate(Allocate {
            enterprise_id: ENT.into(),
            vintage: 2025,
            quantity: 1_000_000,
        })),
    ];
    for t in txs {
        assert!(answer(c, t).await.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_tx_returns_its_first_outcome_on_every_node_after_its_expiry() {
    let cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    setup(&mut c).await;
    let short = transfer(5, 1_500);
    let first = answer(&mut c, short.clone()).await.expect("committed");
    let rejected = transfer(10_000_000, 1_500); // overdraft: committed as a rejection
    let first_rejection = answer(&mut c, rejected.clone())
        .await
        .expect_err("a rejection");
    assert_eq!(first_rejection.code(), ErrorCode::InsufficientUnits);
    assert_eq!(first_rejection.fate(), Fate::Committed);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    cluster
        .wait_converged(
            &[0, 1, 2],
            first_rejection.outcome.as_ref().map_or(0, |o| o.sequence),
            Duration::from_secs(20),
        )
        .await;
    for i in 0..3 {
        let mut ci = cluster.client(i).await;
        let again = answer(&mut ci, short.clone()).await;
        assert_eq!(
            again,
            Ok(first.clone()),
            "node {i}: the first outcome, not EXPIRED"
        );
        let again = answer(&mut ci, rejected.clone())
            .await
            .expect_err("rejection");
        assert_eq!(again.outcome, first_rejection.outcome, "node {i}");
        assert_eq!(again.fate(), Fate::Committed);
    }
    // And in a batch, next to a fresh transaction and an expired one never committed.
    let never = transfer(1, 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fresh = transfer(1, 60_000);
    let head = cluster.heads(&[leader]).await;
    let r = c
        .submit_batch(SubmitBatchRequest {
            txs: vec![short.clone(), never.clone(), fresh],
        })
        .await
        .expect("batch")
        .into_inner();
    assert_eq!(r.results.len(), 3);
    match &r.results[0].result {
        Some(submit_result::Result::Outcome(o)) => assert_eq!(o, &first),
        other => panic!("expected the first outcome, got {other:?}"),
    }
    match &r.results[1].result {
        Some(submit_result::Result::Error(d)) => {
            assert_eq!((d.code(), d.fate()), (ErrorCode::Expired, Fate::NotApplied));
        }
        other => panic!("expected EXPIRED, got {other:?}"),
    }
    match &r.results[2].result {
        Some(submit_result::Result::Outcome(o)) => {
            assert_eq!(o.code(), ErrorCode::Ok);
            assert_eq!(
                o.sequence,
                head[0].0 + 1,
                "only the fresh one reached the chain"
            );
        }
        other => panic!("expected an outcome, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_says_its_fate_and_an_expired_tx_changes_nothing() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    setup(&mut c).await;
    let head = cluster.heads(&[0]).await;

    let mut bad_sig = transfer(1, 60_000);
    bad_sig.signatures[0].signature[0] ^= 1;
    let d = answer(&mut c, bad_sig).await.expect_err("bad signature");
    assert_eq!(
        (d.code(), d.fate()),
        (ErrorCode::BadSignature, Fate::NotApplied)
    );

    let d = answer(
        &mut c,
        SignedTx {
            body: vec![0xff; 10],
            signatures: vec![],
        },
    )
    .await
    .expect_err("malformed");
    assert_eq!(
        (d.code(), d.fate()),
        (ErrorCode::Malformed, Fate::NotApplied)
    );

    // Expired before it ever reached a leader: settled against the ledger's time.
    let expired = transfer(1, 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let d = answer(&mut c, expired.clone()).await.expect_err("expired");
    assert_eq!((d.code(), d.fate()), (ErrorCode::Expired, Fate::NotApplied));
    let d = answer(&mut c, expired).await.expect_err("still expired");
    assert_eq!(d.fate(), Fate::NotApplied);

    // A missing co-signer is refused at once, before the log (fate NOT_APPLIED: these bytes are
    // in no entry), naming who is missing; the same body with more signatures still commits.
    let mut trade = body(
        &[ENT, ENT2],
        Operation::Trade(carbon_proto::v1::Trade {
            seller: ENT.into(),
            buyer: ENT2.into(),
            unit_class: Some(cea()),
            quantity: 1,
            price_fen: 8_000,
            exchange_ref: String::new(),
        }),
    );
    trade.valid_until_ms = now_ms() + 60_000;
    let d = answer(&mut c, sign(&trade, &[&test_key(ENT)]))
        .await
        .expect_err("missing co-signer");
    assert_eq!(
        (d.code(), d.fate()),
        (ErrorCode::InsufficientSignatures, Fate::NotApplied)
    );
    assert!(
        d.message.contains(&format!("missing: {ENT2}")),
        "{}",
        d.message
    );
    assert_eq!(
        cluster.heads(&[0]).await,
        head,
        "no refusal moved the chain"
    );
    let o = answer(&mut c, sign(&trade, &[&test_key(ENT), &test_key(ENT2)]))
        .await
        .expect("both signed");
    assert_eq!(o.sequence, head[0].0 + 1);
}

/// Submits a stream of fresh transfers to one follower while the leader is killed and comes
/// back; every answer must follow the contract, and every answer of unknown fate must settle to
/// committed or not-applied by resubmitting the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_during_a_leader_change_follow_the_contract_and_unknown_ones_settle() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    setup(&mut c).await;
    drop(c);
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let mut cf = cluster.client(follower).await;
    let mut sent: Vec<(SignedTx, Result<Outcome, ErrorDetail>)> = Vec::new();
    let killed_at = Instant::now() + Duration::from_millis(500);
    let mut killed = false;
    let end = Instant::now() + Duration::from_secs(6);
    while Instant::now() < end {
        if !killed && Instant::now() >= killed_at {
            cluster.kill(leader);
            killed = true;
        }
        let tx = transfer(1, 3_000);
        let a = answer(&mut cf, tx.clone()).await;
        sent.push((tx, a));
    }
    cluster.spawn(leader);
    let now_leader = cluster
        .wait_for_leader(&[follower, other], Duration::from_secs(30))
        .await;
    let unknown: Vec<_> = sent
        .iter()
        .filter(|(_, a)| matches!(a, Err(d) if d.fate() == Fate::Unknown))
        .collect();
    let acked = sent.iter().filter(|(_, a)| a.is_ok()).count();
    assert!(acked > 0, "some transfers were acknowledged");
    // Settle every unknown one: after its expiry the answer is definite.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut cl = cluster.client(now_leader).await;
    let mut committed = acked as u64;
    for (tx, _) in &unknown {
        match answer(&mut cl, tx.clone()).await {
            Ok(_) => committed += 1,
            // Committed as a rejection (stamped after its expiry by a leader): it took a place.
            Err(d) if d.fate() == Fate::Committed => committed += 1,
            Err(d) => assert_eq!(
                (d.code(), d.fate()),
                (ErrorCode::Expired, Fate::NotApplied),
                "an unknown answer settles as committed or expired"
            ),
        }
    }
    cluster
        .wait_converged(&[0, 1, 2], 4 + committed, Duration::from_secs(30))
        .await;
    drop(cl);
    cluster.stop_all();
    eprintln!(
        "sent {} transfers through a leader kill: {acked} acknowledged, {} of unknown fate, {} committed in all",
        sent.len(),
        unknown.len(),
        committed
    );
    // Each committed transfer holds exactly one place in the chain on every replica.
    for i in 0..3 {
        let (seq, _) = audit_data_dir(&cluster.nodes[i].data_dir);
        assert_eq!(seq, 4 + committed, "node {i}");
    }
}
