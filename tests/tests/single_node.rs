//! One real node process: submit and read back over gRPC, restart (clean and SIGKILL) with the
//! state intact, and every kind of bad input answered with its stable code, changing nothing.

use carbon_proto::v1::{
    submit_result, tx_body::Operation, Allocate, DeclareVintage, ErrorCode, Fate,
    GetAccountRequest, GetHoldingsRequest, Pledge, ReadConsistency, Role, SignedTx,
    SubmitBatchRequest, SubmitRequest, Trade, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::time::Duration;

const ENT: &str = "ZJ-ENT-A";
const ENT2: &str = "ZJ-ENT-B";
const BANK: &str = "ZJ-BANK-A";

fn cea(v: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: v,
        project_id: String::new(),
    }
}

fn reg(op: Operation) -> SignedTx {
    sign(&body(&[REG], op), &[&demo_key(REG)])
}

fn by(account: &str, op: Operation) -> SignedTx {
    sign(&body(&[account], op), &[&test_key(account)])
}

fn transfer(from: &str, to: &str, q: u64) -> Operation {
    Operation::Transfer(Transfer {
        from_account: from.into(),
        to_account: to.into(),
        unit_class: Some(cea(2025)),
        quantity: q,
    })
}

async fn setup(
    c: &mut carbon_proto::v1::registry_client::RegistryClient<tonic::transport::Channel>,
) {
    for (id, role) in [
        (ENT, Role::Enterprise),
        (ENT2, Role::Enterprise),
        (BANK, Role::Bank),
    ] {
        assert_eq!(
            submit(c, reg(open_account_op(id, role))).await.code(),
            ErrorCode::Ok
        );
    }
    let declare = Operation::DeclareVintage(DeclareVintage {
        vintage: 2025,
        cap: 1_000_000,
    });
    assert_eq!(submit(c, reg(declare)).await.code(), ErrorCode::Ok);
    let alloc = Operation::Allocate(Allocate {
        enterprise_id: ENT.into(),
        vintage: 2025,
        quantity: 5_000,
    });
    let o = submit(c, reg(alloc)).await.outcome();
    assert_eq!(o.code(), ErrorCode::Ok);
    assert_eq!(o.effects.unwrap_or_default().created[0].last, 5_000);
}

async fn account_exists(
    c: &mut carbon_proto::v1::registry_client::RegistryClient<tonic::transport::Channel>,
    id: &str,
) -> bool {
    c.get_account(GetAccountRequest {
        account_id: id.into(),
        consistency: ReadConsistency::Linearizable as i32,
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_read_restart_and_state_survives() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    setup(&mut c).await;
    assert!(account_exists(&mut c, ENT).await);
    let o = submit(&mut c, by(ENT, transfer(ENT, ENT2, 700)))
        .await
        .outcome();
    assert_eq!(o.code(), ErrorCode::Ok);
    let head_before = cluster.heads(&[0]).await;

    // Clean restart.
    cluster.stop(0);
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    assert_eq!(cluster.heads(&[0]).await, head_before);

    // Kill -9 right after an acknowledged write: it must survive.
    let mut c = cluster.client(0).await;
    let acked = submit(&mut c, by(ENT, transfer(ENT, ENT2, 1)))
        .await
        .outcome();
    assert_eq!(acked.code(), ErrorCode::Ok);
    cluster.kill(0);
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let t = c
        .get_transaction(signed_as(
            ENT,
            carbon_proto::v1::GetTransactionRequest {
                tx_id: acked.tx_id.clone(),
                consistency: ReadConsistency::Linearizable as i32,
                auth: None,
            },
        ))
        .await
        .expect("the acknowledged tx is there after kill -9")
        .into_inner();
    assert_eq!(t.transaction.and_then(|t| t.outcome), Some(acked));
    cluster.stop(0);
    let (seq, _) = audit_data_dir(&cluster.nodes[0].data_dir);
    assert_eq!(seq, head_before[0].0 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_code_and_changes_nothing() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    setup(&mut c).await;
    let ok_transfer = by(ENT, transfer(ENT, ENT2, 10));
    assert_eq!(
        submit(&mut c, ok_transfer.clone()).await.code(),
        ErrorCode::Ok
    );
    let head = cluster.heads(&[0]).await;

    // Rejected at ingress: never logged, chain head unchanged.
    let malformed = SignedTx {
        body: vec![0xff; 40],
        signatures: ok_transfer.signatures.clone(),
    };
    assert_eq!(submit(&mut c, malformed).await.code(), ErrorCode::Malformed);
    let mut oversized_body = body(&[ENT], transfer(ENT, ENT2, 1));
    oversized_body.memo = "x".repeat(600_000); // over TX_BYTES_MAX (512 KiB)
    let oversized = sign(&oversized_body, &[&test_key(ENT)]);
    assert_eq!(
        submit(&mut c, oversized).await.code(),
        ErrorCode::MessageTooLarge
    );
    let mut bad_sig = by(ENT, transfer(ENT, ENT2, 1));
    bad_sig.signatures[0].signature[0] ^= 1;
    assert_eq!(
        submit(&mut c, bad_sig).await.code(),
        ErrorCode::BadSignature
    );
    let mut wrong_chain = body(&[ENT], transfer(ENT, ENT2, 1));
    wrong_chain.chain_id = "another-registry".into();
    let wrong_chain = sign(&wrong_chain, &[&test_key(ENT)]);
    assert_eq!(
        submit(&mut c, wrong_chain).await.code(),
        ErrorCode::WrongChain
    );
    let mut expired = body(&[ENT], transfer(ENT, ENT2, 1));
    expired.valid_until_ms = now_ms() - 1_000;
    let expired = sign(&expired, &[&test_key(ENT)]);
    assert_eq!(submit(&mut c, expired).await.code(), ErrorCode::Expired);
    let fresh = by(ENT, transfer(ENT, ENT2, 2));
    let unsigned = SignedTx {
        body: fresh.body.clone(),
        signatures: vec![],
    };
    assert_eq!(
        submit(&mut c, unsigned).await.code(),
        ErrorCode::InsufficientSignatures
    );
    // A committed tx id returns its first outcome, whatever else is wrong with the request.
    let unsigned_copy = SignedTx {
        body: ok_transfer.body.clone(),
        signatures: vec![],
    };
    assert_eq!(
        submit(&mut c, unsigned_copy).await.outcome().chain_head,
        head[0].1
    );
    let empty = c
        .submit(SubmitRequest { tx: None })
        .await
        .expect_err("no tx");
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        cluster.heads(&[0]).await,
        head,
        "ingress rejections reach no log"
    );

    // Replay: the same signed bytes return the first outcome, nothing changes.
    let replay = submit(&mut c, ok_transfer.clone()).await.outcome();
    assert_eq!(replay.sequence, head[0].0);
    assert_eq!(cluster.heads(&[0]).await, head);

    // Rejected by the ledger: committed with its code, balances unchanged.
    let overdraft = submit(&mut c, by(ENT2, transfer(ENT2, ENT, 11))).await;
    assert_eq!(overdraft.code(), ErrorCode::InsufficientUnits);
    let trade_body = body(
        &[ENT, ENT2],
        Operation::Trade(Trade {
            seller: ENT.into(),
            buyer: ENT2.into(),
            unit_class: Some(cea(2025)),
            quantity: 5,
            price_fen: 9_000,
            exchange_ref: String::new(),
        }),
    );
    let missing_cosigner = sign(&trade_body, &[&test_key(ENT)]);
    let before = cluster.heads(&[0]).await;
    assert_eq!(
        submit(&mut c, missing_cosigner).await.code(),
        ErrorCode::InsufficientSignatures
    );
    assert_eq!(
        cluster.heads(&[0]).await,
        before,
        "refused at ingress, nothing logged"
    );
    // Once the buyer signs too, the very same body succeeds: its id was not burnt.
    let both = sign(&trade_body, &[&test_key(ENT), &test_key(ENT2)]);
    assert_eq!(submit(&mut c, both).await.code(), ErrorCode::Ok);
    let pledge = Operation::Pledge(Pledge {
        pledgor: ENT.into(),
        pledgee: BANK.into(),
        unit_class: Some(cea(2025)),
        quantity: 4_985,
        secured_amount_fen: 100_000_000,
        maturity_date: 20271231,
        contract_ref: "质押-001".into(),
    });
    let pledge = sign(
        &body(&[ENT, BANK], pledge),
        &[&test_key(ENT), &test_key(BANK)],
    );
    assert_eq!(submit(&mut c, pledge).await.code(), ErrorCode::Ok);
    let encumbered = submit(&mut c, by(ENT, transfer(ENT, ENT2, 1))).await;
    assert_eq!(encumbered.code(), ErrorCode::UnitsEncumbered);

    // Balances as expected after all that: ENT 4,985 pledged, ENT2 15.
    let h = c
        .get_holdings(signed_as(
            ENT,
            GetHoldingsRequest {
                account_id: ENT.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("holdings")
        .into_inner();
    assert_eq!((h.balances[0].available, h.balances[0].pledged), (0, 4_985));
    // The pledgee sees only the units pledged to it, not the balances.
    let seen = c
        .get_holdings(signed_as(
            BANK,
            GetHoldingsRequest {
                account_id: ENT.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("the pledgee may read pledged units")
        .into_inner();
    assert!(seen.balances.is_empty());
    let pledged: u64 = seen
        .blocks
        .iter()
        .map(|b| b.range.as_ref().map_or(0, |r| r.last - r.first + 1))
        .sum();
    assert_eq!(pledged, 4_985);
    // Another enterprise may not read them.
    let denied = c
        .get_holdings(signed_as(
            ENT2,
            GetHoldingsRequest {
                account_id: ENT.into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("denied");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // A batch mixes outcomes and ingress rejections, one result each.
    let mut bad = by(ENT2, transfer(ENT2, ENT, 1));
    bad.signatures[0].signature[3] ^= 1;
    let batch = c
        .submit_batch(SubmitBatchRequest {
            txs: vec![by(ENT2, transfer(ENT2, ENT, 1)), bad],
        })
        .await
        .expect("batch")
        .into_inner();
    match &batch.results[0].result {
        Some(submit_result::Result::Outcome(o)) => assert_eq!(o.code(), ErrorCode::Ok),
        other => panic!("expected an outcome, got {other:?}"),
    }
    match &batch.results[1].result {
        Some(submit_result::Result::Error(d)) => {
            assert_eq!(d.code(), ErrorCode::BadSignature);
            assert_eq!(d.fate(), Fate::NotApplied);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    drop(c);
    let mut cluster = cluster;
    cluster.stop(0);
    audit_data_dir(&cluster.nodes[0].data_dir);
}

/// `req` with a read credential of `who` (a test account) for exactly that request.
fn signed_as<R: carbon_proto::read_auth::PrivateRead>(who: &str, mut req: R) -> R {
    carbon_proto::read_auth::sign(&mut req, CHAIN, who, &test_key(who), now_ms() + 60_000);
    req
}
