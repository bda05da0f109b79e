//! Private data only to its parties, a pledgee or the regulator, over real gRPC: a stranger's
//! Watch and GetTransaction reveal nothing of a private transfer; the regulator's and the
//! parties' reads show it whole; a read credential made for one request is refused for any
//! other request, method or time.

use carbon_proto::read_auth::{self, PrivateRead};
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    tx_body::Operation, Allocate, ApproveProject, CommittedTx, DeclareVintage, ErrorCode,
    GetHistoryRequest, GetHoldingsRequest, GetTransactionRequest, IssueCredits, ProposeProject,
    Role, Transfer, UnitClass, UnitKind, WatchRequest,
};
use carbon_tests::*;
use ed25519_dalek::SigningKey;
use prost::Message;
use std::time::Duration;
use tonic::transport::Channel;

const A: &str = "PRIV-ENT-A";
const B: &str = "PRIV-ENT-B";
const C: &str = "PRIV-ENT-C";
const PO: &str = "PRIV-PO";

fn signed<R: PrivateRead>(who: &str, key: &SigningKey, mut req: R) -> R {
    read_auth::sign(&mut req, CHAIN, who, key, now_ms() + 60_000);
    req
}

async fn ok(
    c: &mut RegistryClient<Channel>,
    signers: &[&str],
    keys: &[&SigningKey],
    op: Operation,
) {
    let o = submit(c, sign(&body(signers, op), keys)).await.outcome();
    assert_eq!(o.code(), ErrorCode::Ok, "{}", o.message);
}

/// Every item of a Watch from sequence 1 up to `until`.
async fn watch_all(
    c: &mut RegistryClient<Channel>,
    auth: Option<(&str, &SigningKey)>,
    until: u64,
) -> Vec<CommittedTx> {
    let mut req = WatchRequest {
        from_sequence: 1,
        auth: None,
    };
    if let Some((who, key)) = auth {
        req = signed(who, key, req);
    }
    let mut s = c.watch(req).await.expect("watch opens").into_inner();
    let mut out = Vec::new();
    while out.len() < until as usize {
        let t = tokio::time::timeout(Duration::from_secs(10), s.message())
            .await
            .expect("an item in time")
            .expect("stream ok")
            .expect("not ended");
        out.push(t);
    }
    out
}

fn mentions(t: &CommittedTx, who: &str) -> bool {
    let bytes = t.encode_to_vec();
    bytes.windows(who.len()).any(|w| w == who.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_see_no_private_transfer_and_credentials_fit_one_request_only() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let reg = demo_key(REG);
    let (ka, kc, kpo) = (test_key(A), test_key(C), test_key(PO));
    for (id, role) in [
        (A, Role::Enterprise),
        (B, Role::Enterprise),
        (C, Role::Enterprise),
        (PO, Role::ProjectOwner),
    ] {
        ok(&mut c, &[REG], &[&reg], open_account_op(id, role)).await;
    }
    let vintage = 2031;
    ok(
        &mut c,
        &[REG],
        &[&reg],
        Operation::DeclareVintage(DeclareVintage {
            vintage,
            cap: 1_000_000,
        }),
    )
    .await;
    ok(
        &mut c,
        &[REG],
        &[&reg],
        Operation::Allocate(Allocate {
            enterprise_id: A.into(),
            vintage,
            quantity: 500,
        }),
    )
    .await;
    let cea = UnitClass {
        kind: UnitKind::Cea as i32,
        vintage,
        project_id: String::new(),
    };
    let transfer = sign(
        &body(
            &[A],
            Operation::Transfer(Transfer {
                from_account: A.into(),
                to_account: B.into(),
                unit_class: Some(cea.clone()),
                quantity: 123,
            }),
        ),
        &[&ka],
    );
    let transfer = submit(&mut c, transfer).await.outcome();
    assert_eq!(transfer.code(), ErrorCode::Ok);
    // A public event: an issuance of credits.
    ok(
        &mut c,
        &[PO],
        &[&kpo],
        Operation::ProposeProject(ProposeProject {
            project_id: "PRIV-WIND".into(),
            owner_id: PO.into(),
            kind: UnitKind::Ccer as i32,
            name: "海上风电".into(),
            methodology: "CCER-01-001-V01".into(),
            region: "舟山市".into(),
            crediting_start_year: 2025,
            crediting_end_year: 2030,
        }),
    )
    .await;
    ok(
        &mut c,
        &[REG],
        &[&reg],
        Operation::ApproveProject(ApproveProject {
            project_id: "PRIV-WIND".into(),
            buffer_share_bp: 0,
        }),
    )
    .await;
    ok(
        &mut c,
        &[REG],
        &[&reg],
        Operation::IssueCredits(IssueCredits {
            project_id: "PRIV-WIND".into(),
            monitoring_year: 2026,
            quantity: 77,
        }),
    )
    .await;
    let total = transfer.sequence + 3;

    // A stranger's Watch: every item is there, in order, and none names A or B; the transfer
    // is only a place in the chain. The issuance (public disclosure) is whole.
    let public = watch_all(&mut c, None, total).await;
    for (i, t) in public.iter().enumerate() {
        let o = t.outcome.clone().unwrap_or_default();
        assert_eq!(o.sequence, i as u64 + 1);
        assert!(
            !mentions(t, A) && !mentions(t, B),
            "item {} leaks: {t:?}",
            o.sequence
        );
    }
    let seen = &public[transfer.sequence as usize - 1];
    assert!(seen.tx.is_none());
    let o = seen.outcome.clone().unwrap_or_default();
    assert_eq!(
        (o.tx_id.clone(), o.chain_head.clone()),
        (transfer.tx_id.clone(), transfer.chain_head.clone())
    );
    assert!(o.effects.is_none() && o.message.is_empty());
    assert!(
        public.last().and_then(|t| t.tx.as_ref()).is_some(),
        "the issuance is public"
    );

    // A stranger's GetTransaction, and another enterprise's: redacted.
    let get = |auth: Option<(&str, &SigningKey)>| {
        let req = GetTransactionRequest {
            tx_id: transfer.tx_id.clone(),
            ..Default::default()
        };
        match auth {
            Some((who, key)) => signed(who, key, req),
            None => req,
        }
    };
    for auth in [None, Some((C, &kc))] {
        let t = c
            .get_transaction(get(auth))
            .await
            .expect("answered")
            .into_inner()
            .transaction
            .expect("a transaction");
        assert!(
            t.tx.is_none() && !mentions(&t, A) && !mentions(&t, B),
            "{t:?}"
        );
    }
    // A party and the regulator see it whole.
    for (who, key) in [(A, &ka), (REG, &reg)] {
        let t = c
            .get_transaction(get(Some((who, key))))
            .await
            .expect("answered")
            .into_inner()
            .transaction
            .expect("a transaction");
        assert_eq!(t.outcome.as_ref(), Some(&transfer));
        assert!(mentions(&t, B));
    }
    // The regulator's Watch is whole; A's shows its own transfer whole and B's account opening
    // redacted.
    let full = watch_all(&mut c, Some((REG, &reg)), total).await;
    assert!(full.iter().all(|t| t.tx.is_some()));
    assert!(mentions(&full[transfer.sequence as usize - 1], B));
    let mine = watch_all(&mut c, Some((A, &ka)), total).await;
    assert!(mine[transfer.sequence as usize - 1].tx.is_some());
    assert!(
        mine[1].tx.is_none(),
        "B's account opening is not A's business"
    );

    // One credential, one request: the regulator's credential for A's holdings does not read
    // B's holdings, nor A's history; an expired or too long-lived credential is refused.
    let holdings_a = signed(
        REG,
        &reg,
        GetHoldingsRequest {
            account_id: A.into(),
            ..Default::default()
        },
    );
    let h = c
        .get_holdings(holdings_a.clone())
        .await
        .expect("the regulator reads A")
        .into_inner();
    assert_eq!(h.balances[0].available, 500 - 123);
    let mut for_b = holdings_a.clone();
    for_b.account_id = B.into();
    let e = c.get_holdings(for_b).await.expect_err("replayed for B");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert!(e.message().contains("does not verify"), "{}", e.message());
    let history = GetHistoryRequest {
        account_id: A.into(),
        auth: holdings_a.auth().cloned(),
        ..Default::default()
    };
    let e = c
        .get_history(history)
        .await
        .expect_err("replayed for another method");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let mut expired = GetHoldingsRequest {
        account_id: A.into(),
        ..Default::default()
    };
    read_auth::sign(&mut expired, CHAIN, REG, &reg, now_ms() - 1);
    let e = c.get_holdings(expired).await.expect_err("expired");
    assert!(e.message().contains("expired"), "{}", e.message());
    let mut long = GetHoldingsRequest {
        account_id: A.into(),
        ..Default::default()
    };
    read_auth::sign(&mut long, CHAIN, REG, &reg, now_ms() + 3_600_000);
    let e = c.get_holdings(long).await.expect_err("an hour");
    assert!(e.message().contains("at most"), "{}", e.message());
    // No credential: no private read at all.
    let e = c
        .get_holdings(GetHoldingsRequest {
            account_id: A.into(),
            ..Default::default()
        })
        .await
        .expect_err("anonymous");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    // An allowance's serial is traced by its holder, its enterprise and the regulator only (an
    // allocation's size stays private; strangers.rs runs the binary search): the public is
    // refused, the enterprise it was allocated to sees its allocation whole.
    let trace = carbon_proto::v1::TraceSerialRequest {
        unit_class: Some(cea),
        serial: 7,
        ..Default::default()
    };
    let e = c
        .trace_serial(trace.clone())
        .await
        .expect_err("the public traces no allowance");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let t = c
        .trace_serial(signed(A, &ka, trace))
        .await
        .expect("the enterprise traces its own allocation")
        .into_inner();
    assert!(t.created_by.expect("created by").tx.is_some());
}
