//! Hostile input over real gRPC: random bytes, strangers' signatures, odd read arguments and
//! forged Raft traffic. Each gets an error answer; the node keeps serving and its data keeps every
//! invariant. (Deterministic pseudo-random inputs: a failure reproduces.)

use carbon_proto::peer::{peer_client::PeerClient, PeerMessage};
use carbon_proto::v1::{
    tx_body::Operation, GetChainHeadRequest, GetHistoryRequest, GetTransactionRequest,
    ReadConsistency, Signature, SignedTx, TraceSerialRequest, Transfer, UnitClass,
};
use carbon_tests::*;
use ed25519_dalek::SigningKey;
use std::time::Duration;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_answered_with_errors_and_the_node_keeps_serving() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);

    // Random bodies and signatures: refused at ingress.
    for _ in 0..300 {
        let n = (rng.next() % 400) as usize;
        let sigs = (0..rng.next() % 3)
            .map(|_| {
                let (k, s) = ((rng.next() % 40) as usize, (rng.next() % 70) as usize);
                Signature {
                    public_key: rng.bytes(k),
                    signature: rng.bytes(s),
                }
            })
            .collect();
        let tx = SignedTx {
            body: rng.bytes(n),
            signatures: sigs,
        };
        let r = submit(&mut c, tx).await;
        assert!(
            matches!(r, Submitted::Error(..)),
            "garbage was accepted: {r:?}"
        );
    }
    // Well-formed bodies signed by strangers for random accounts: committed rejections at most.
    for i in 0..50u64 {
        let key = SigningKey::from_bytes(&rng.bytes(32).try_into().unwrap_or([7; 32]));
        let from = format!("X{}", rng.next() % 1000);
        let op = Operation::Transfer(Transfer {
            from_account: from.clone(),
            to_account: "Y".into(),
            unit_class: Some(UnitClass {
                kind: (rng.next() % 6) as i32,
                vintage: (rng.next() % 3000) as u32,
                project_id: String::from_utf8_lossy(&rng.bytes(5)).into_owned(),
            }),
            quantity: rng.next() >> (i % 64),
        });
        let r = submit(&mut c, sign(&body(&[&from], op), &[&key])).await;
        assert_ne!(r.code(), carbon_proto::v1::ErrorCode::Ok);
    }
    // Odd reads.
    assert!(c
        .get_transaction(GetTransactionRequest {
            tx_id: vec![1, 2, 3],
            ..Default::default()
        })
        .await
        .is_err());
    assert!(c
        .get_history(GetHistoryRequest {
            account_id: "ZJ-REG".into(),
            from_sequence: u64::MAX,
            limit: u32::MAX,
            consistency: 0,
            auth: None
        })
        .await
        .is_err());
    assert!(c
        .trace_serial(TraceSerialRequest {
            unit_class: None,
            serial: u64::MAX,
            consistency: 0,
            auth: None
        })
        .await
        .is_err());
    // Forged Raft traffic on the peer port, over mutual TLS with the node's own certificate (the
    // port speaks nothing else; see peer_tls.rs).
    let tls = pki().client_tls_as(&pki().node(1), &carbon_node::tls::node_name(1));
    let peer =
        tonic::transport::Endpoint::from_shared(format!("https://{}", cluster.nodes[0].peer_addr))
            .and_then(|e| e.tls_config(tls))
            .expect("endpoint")
            .connect()
            .await
            .expect("peer port");
    let mut p = PeerClient::new(peer);
    for (to, from) in [(1u64, 1u64), (2, 1), (1, 99)] {
        let msg = PeerMessage {
            from_node_id: from,
            to_node_id: to,
            payload: rng.bytes(64),
        };
        assert!(p.append_entries(msg.clone()).await.is_err());
        assert!(p.vote(msg.clone()).await.is_err());
        assert!(p.install_snapshot(msg).await.is_err());
    }
    // Still serving, and a real write still works.
    let h = c
        .get_chain_head(GetChainHeadRequest {
            consistency: ReadConsistency::Linearizable as i32,
        })
        .await
        .expect("still serving")
        .into_inner();
    let t = sign(
        &body(
            &[REG],
            open_account_op("AFTER-GARBAGE", carbon_proto::v1::Role::Individual),
        ),
        &[&demo_key(REG)],
    );
    let o = submit(&mut c, t).await.outcome();
    assert_eq!(o.sequence, h.sequence + 1);
    cluster.stop_all();
    audit_data_dir(&cluster.nodes[0].data_dir);
}

/// Ingress hygiene over real gRPC: each of these is refused before it reaches the log, so the
/// chain head does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_signers_nul_text_and_empty_operations_never_reach_the_log() {
    use carbon_proto::v1::{ErrorCode, Role};
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let reg = demo_key(REG);
    let ok = sign(
        &body(&[REG], open_account_op("HYGIENE-1", Role::Individual)),
        &[&reg],
    );
    assert_eq!(submit(&mut c, ok).await.code(), ErrorCode::Ok);
    let head = |h: carbon_proto::v1::GetChainHeadResponse| (h.sequence, h.chain_head);
    let before = head(
        c.get_chain_head(GetChainHeadRequest::default())
            .await
            .expect("head")
            .into_inner(),
    );

    let op = || open_account_op("HYGIENE-2", Role::Individual);
    let mut cases: Vec<(&str, carbon_proto::v1::TxBody, ErrorCode)> = Vec::new();
    // 2,000 signers, of accounts that do not exist.
    let many: Vec<String> = (0..2_000).map(|i| format!("NOBODY-{i}")).collect();
    let mut b = body(&[REG], op());
    b.signers = many;
    cases.push(("2,000 signers", b, ErrorCode::Malformed));
    // A NUL in a signer id (it would write into ZJ-ENT-01's history) and in free text.
    let mut b = body(&[REG], op());
    b.signers.push("ZJ-ENT-01\0\0\0\0\0\0\0\x07".into());
    cases.push(("a NUL in a signer", b, ErrorCode::Malformed));
    let mut b = body(&[REG], op());
    b.memo = "note\0hidden".into();
    cases.push(("a NUL in the memo", b, ErrorCode::Malformed));
    let mut b = body(&[REG], op());
    if let Some(Operation::OpenAccount(o)) = b.operation.as_mut() {
        o.name = "示例\0企业".into();
    }
    cases.push(("a NUL in an operation's text", b, ErrorCode::Malformed));
    // The same signer twice, no operation, a signer that is no account.
    let mut b = body(&[REG], op());
    b.signers.push(REG.into());
    cases.push(("a signer named twice", b, ErrorCode::Malformed));
    let mut b = body(&[REG], op());
    b.operation = None;
    cases.push(("no operation", b, ErrorCode::Malformed));
    let mut b = body(&[REG], op());
    b.signers.push("NO-SUCH-ACCOUNT".into());
    cases.push(("an unknown signer", b, ErrorCode::UnknownAccount));
    for (what, b, code) in cases {
        let r = submit(&mut c, sign(&b, &[&reg])).await;
        assert!(
            matches!(r, Submitted::Error(got, _) if got == code),
            "{what}: {r:?}"
        );
    }
    let after = head(
        c.get_chain_head(GetChainHeadRequest::default())
            .await
            .expect("head")
            .into_inner(),
    );
    assert_eq!(after, before, "the chain head moved");
}

/// Watch streams are limited per node: 192 public ones (`WATCH_PUBLIC_STREAMS_MAX`) and 64 with a
/// read credential, so anonymous clients cannot lock the regulator out; a watcher that goes away
/// frees its slot at once, even on a quiet registry where nothing commits (it used to be freed
/// only when the next commit found the stream closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_watch_streams_free_their_slots_without_a_commit() {
    const WATCH_PUBLIC_STREAMS_MAX: usize = 192;
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(30)).await;
    let mut c = cluster.client(0).await;
    let head = |c: &mut carbon_proto::v1::registry_client::RegistryClient<_>| {
        let mut c = c.clone();
        async move {
            c.get_chain_head(GetChainHeadRequest::default())
                .await
                .expect("head")
                .into_inner()
                .sequence
        }
    };
    let before = head(&mut c).await;
    let watch = || carbon_proto::v1::WatchRequest {
        from_sequence: 1,
        ..Default::default()
    };
    let mut open = Vec::new();
    for _ in 0..WATCH_PUBLIC_STREAMS_MAX {
        open.push(c.watch(watch()).await.expect("a watch slot").into_inner());
    }
    let e = c.watch(watch()).await.expect_err("one too many");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    // The regulator still watches.
    let mut regulator = watch();
    carbon_proto::read_auth::sign(
        &mut regulator,
        CHAIN,
        REG,
        &demo_key(REG),
        now_ms() + 60_000,
    );
    let kept = c.watch(regulator).await.expect("the regulator's stream");
    drop(kept);
    drop(open);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match c.watch(watch()).await {
            Ok(_) => break,
            Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "slots still taken 10 s after every watcher left: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(head(&mut c).await, before, "nothing committed meanwhile");
}
