//! What a stranger finds (issue 15), probed over raw gRPC as an outside attacker with the proto
//! alone would: record ids walked with dry runs and submissions, a binary search over serial
//! numbers, Watch slots, replayed admin requests, small public aggregates, garbage page tokens
//! and the cluster status. Each test fails against the build of the round before (run it with
//! `CARBON_NODE_BIN` pointing at that build).

use carbon_proto::read_auth::{self, PrivateRead};
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    admin_body::Action, tx_body::Operation, Allocate, BackupState, CloseAccount,
    ClusterStatusRequest, DeclareVintage, EnforcePledge, ErrorCode, GetDisclosureRequest,
    GetHistoryRequest, GetMarketStatsRequest, GetReferencePriceRequest, GetStatementRequest, Lend,
    ListEncumbrancesRequest, Pledge, ReadClusterStatus, ReleasePledge, Repo, RepoDefault,
    Repurchase, ReturnLoan, Role, SignedTx, SimulateRequest, TraceSerialRequest, Trade, Transfer,
    UnitClass, UnitKind, UpdateKeys, WatchRequest,
};
use carbon_tests::*;
use ed25519_dalek::SigningKey;
use std::time::Duration;
use tonic::transport::Channel;

const ENT: &str = "ST-ENT-A";
const ENT2: &str = "ST-ENT-B";
const BANK: &str = "ST-BANK";
const STRANGER: &str = "ST-STRANGER";
const VINTAGE: u32 = 2025;

fn cea() -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: VINTAGE,
        project_id: String::new(),
    }
}

fn signed<R: PrivateRead>(who: &str, key: &SigningKey, mut req: R) -> R {
    read_auth::sign(&mut req, CHAIN, who, key, now_ms() + 60_000);
    req
}

fn key_of(who: &str) -> SigningKey {
    if who == REG {
        demo_key(REG)
    } else {
        test_key(who)
    }
}

/// A body valid for 800 days (some tests run the node's clock a year ahead of theirs).
fn long_body(signers: &[&str], op: Operation) -> carbon_proto::v1::TxBody {
    let mut b = body(signers, op);
    b.valid_until_ms = now_ms() + 800 * 24 * 3_600_000;
    b
}

/// Submits `op` signed by `signers` and asserts it took effect; returns the pledge, repo or
/// loan id it made.
async fn ok(c: &mut RegistryClient<Channel>, signers: &[&str], op: Operation) -> u64 {
    let keys: Vec<SigningKey> = signers.iter().map(|s| key_of(s)).collect();
    let refs: Vec<&SigningKey> = keys.iter().collect();
    let o = submit(c, sign(&long_body(signers, op), &refs))
        .await
        .outcome();
    assert_eq!(o.code(), ErrorCode::Ok, "{}", o.message);
    let fx = o.effects.unwrap_or_default();
    fx.encumbrance_id.max(fx.loan_id)
}

/// Opens the accounts and gives `ENT` allowances.
async fn cast(c: &mut RegistryClient<Channel>, allocation: u64) {
    for (id, role) in [
        (ENT, Role::Enterprise),
        (ENT2, Role::Enterprise),
        (BANK, Role::Bank),
        (STRANGER, Role::Enterprise),
    ] {
        ok(c, &[REG], open_account_op(id, role)).await;
    }
    ok(
        c,
        &[REG],
        Operation::DeclareVintage(DeclareVintage {
            vintage: VINTAGE,
            cap: 10_000_000,
        }),
    )
    .await;
    ok(
        c,
        &[REG],
        Operation::Allocate(Allocate {
            enterprise_id: ENT.into(),
            vintage: VINTAGE,
            quantity: allocation,
        }),
    )
    .await;
}

fn pledge_op(q: u64) -> Operation {
    Operation::Pledge(Pledge {
        pledgor: ENT.into(),
        pledgee: BANK.into(),
        unit_class: Some(cea()),
        quantity: q,
        secured_amount_fen: 5_000_000,
        maturity_date: 20991231,
        contract_ref: "质押-ST".into(),
    })
}

fn repo_op(q: u64) -> Operation {
    Operation::Repo(Repo {
        seller: ENT.into(),
        buyer: BANK.into(),
        unit_class: Some(cea()),
        quantity: q,
        sale_price_fen: 8_000,
        repurchase_price_fen: 8_100,
        repurchase_date: 20991231,
        contract_ref: "回购-ST".into(),
    })
}

fn lend_op(q: u64) -> Operation {
    Operation::Lend(Lend {
        lender: ENT.into(),
        borrower: ENT2.into(),
        unit_class: Some(cea()),
        quantity: q,
        fee_fen: 1_000,
        return_date: 20991231,
        contract_ref: "借碳-ST".into(),
    })
}

/// `s` with every number replaced by `#`.
fn without_numbers(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if !ch.is_ascii_digit() {
            out.push(ch);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

/// What the stranger learns from `op`: the dry run's answer (unsigned, with its own read
/// credential) and the submitted one's, as (code, message without numbers).
async fn probe(c: &mut RegistryClient<Channel>, op: Operation) -> Vec<(ErrorCode, String)> {
    let b = body(&[STRANGER], op);
    let unsigned = SignedTx {
        body: prost::Message::encode_to_vec(&b),
        signatures: Vec::new(),
    };
    let dry = c
        .simulate(signed(
            STRANGER,
            &key_of(STRANGER),
            SimulateRequest {
                tx: Some(unsigned),
                auth: None,
            },
        ))
        .await
        .expect("a dry run answers")
        .into_inner()
        .outcome
        .unwrap_or_default();
    let sent = submit(c, sign(&b, &[&key_of(STRANGER)])).await.outcome();
    vec![
        (dry.code(), without_numbers(&dry.message)),
        (sent.code(), without_numbers(&sent.message)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_walking_record_ids_learns_nothing_of_pledges_repos_and_loans() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    cast(&mut c, 10_000).await;
    let pledge = ok(&mut c, &[ENT, BANK], pledge_op(777)).await;
    let repo = ok(&mut c, &[ENT, BANK], repo_op(888)).await;
    let loan = ok(&mut c, &[ENT, ENT2], lend_op(999)).await;
    // A pledge that is closed: its state is private too.
    let closed = ok(&mut c, &[ENT, BANK], pledge_op(5)).await;
    ok(
        &mut c,
        &[BANK],
        Operation::ReleasePledge(ReleasePledge {
            pledge_id: closed,
            quantity: 5,
        }),
    )
    .await;
    let bank_history = history_len(&mut c, BANK).await;
    let ent_history = history_len(&mut c, ENT).await;
    let own_history = history_len(&mut c, STRANGER).await;

    let release = |id| {
        Operation::ReleasePledge(ReleasePledge {
            pledge_id: id,
            quantity: 1,
        })
    };
    let pairs = [
        (release(pledge), release(9_001)),
        (release(closed), release(9_002)),
        (
            Operation::EnforcePledge(EnforcePledge { pledge_id: pledge }),
            Operation::EnforcePledge(EnforcePledge { pledge_id: 9_003 }),
        ),
        (
            Operation::Repurchase(Repurchase { repo_id: repo }),
            Operation::Repurchase(Repurchase { repo_id: 9_004 }),
        ),
        (
            Operation::RepoDefault(RepoDefault { repo_id: repo }),
            Operation::RepoDefault(RepoDefault { repo_id: 9_005 }),
        ),
        (
            Operation::ReturnLoan(ReturnLoan {
                loan_id: loan,
                quantity: 1,
            }),
            Operation::ReturnLoan(ReturnLoan {
                loan_id: 9_006,
                quantity: 1,
            }),
        ),
    ];
    let mut attempts = 0;
    for (real, missing) in pairs {
        let seen = probe(&mut c, real.clone()).await;
        let nothing = probe(&mut c, missing).await;
        attempts += 2;
        assert_eq!(
            seen, nothing,
            "{real:?}: a record the stranger is no party of answers as no record"
        );
        for (_, message) in &seen {
            for private in [ENT, ENT2, BANK, "#"] {
                assert!(
                    !message
                        .replace("pledge #", "")
                        .replace("repo #", "")
                        .replace("loan #", "")
                        .contains(private),
                    "{real:?} tells {private:?}: {message}"
                );
            }
        }
    }
    // The attempts are the stranger's history only: not the parties' of the records.
    assert_eq!(history_len(&mut c, BANK).await, bank_history);
    assert_eq!(history_len(&mut c, ENT).await, ent_history);
    assert_eq!(history_len(&mut c, STRANGER).await, own_history + attempts);
}

async fn history_len(c: &mut RegistryClient<Channel>, who: &str) -> usize {
    let req = GetHistoryRequest {
        account_id: who.into(),
        ..Default::default()
    };
    c.get_history(signed(who, &key_of(who), req))
        .await
        .expect("history")
        .into_inner()
        .transactions
        .len()
}

/// What a `TraceSerial` of `serial` answers, as one comparable value.
async fn trace_answer(
    c: &mut RegistryClient<Channel>,
    class: &UnitClass,
    serial: u64,
    who: Option<&str>,
) -> String {
    let mut req = TraceSerialRequest {
        unit_class: Some(class.clone()),
        serial,
        ..Default::default()
    };
    if let Some(w) = who {
        req = signed(w, &key_of(w), req);
    }
    match c.trace_serial(req).await {
        Ok(r) => format!("{:?}", r.into_inner()),
        Err(s) => format!("{:?}: {}", s.code(), s.message()),
    }
}

/// The largest serial whose answer equals that of serial 1 (a binary search over 1..2^24).
async fn boundary_after_first(
    c: &mut RegistryClient<Channel>,
    class: &UnitClass,
    who: Option<&str>,
    first: &str,
) -> (u64, usize) {
    let (mut lo, mut hi, mut calls) = (1u64, 1u64 << 24, 0);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        calls += 1;
        if trace_answer(c, class, mid, who)
            .await
            .replace(&mid.to_string(), "N")
            == first
        {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    (lo, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_search_over_serials_recovers_no_allocation() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    // ENT's private allocation: serials 1..=73,219; ENT2's: 73,220..=114,219.
    cast(&mut c, 73_219).await;
    ok(
        &mut c,
        &[REG],
        Operation::Allocate(Allocate {
            enterprise_id: ENT2.into(),
            vintage: VINTAGE,
            quantity: 41_000,
        }),
    )
    .await;
    // ENT sells 10 units to the stranger, who now holds serials 1..=10.
    ok(
        &mut c,
        &[ENT],
        Operation::Transfer(Transfer {
            from_account: ENT.into(),
            to_account: STRANGER.into(),
            unit_class: Some(cea()),
            quantity: 10,
        }),
    )
    .await;
    let class = cea();
    for who in [None, Some(STRANGER)] {
        // The search an attacker runs: the first answer's boundary.
        let first = trace_answer(&mut c, &class, 20_000, who).await;
        let first = first.replace("20000", "N");
        let (found, calls) = boundary_after_first(&mut c, &class, who, &first).await;
        assert!(calls >= 20, "the search ran ({calls} calls)");
        assert!(
            found != 73_219 && found != 114_219,
            "{who:?} recovered an allocation boundary: {found}"
        );
        // Every serial answers alike: created or not, one allocation or another.
        for serial in [11u64, 73_219, 73_220, 114_219, 114_220, 9_999_999] {
            let a = trace_answer(&mut c, &class, serial, who).await;
            assert_eq!(
                a.replace(&serial.to_string(), "N"),
                first,
                "serial {serial} answers differently"
            );
        }
    }
    // The stranger holds serial 5: it sees the serial alone, nothing of its allocation.
    let t = c
        .trace_serial(signed(
            STRANGER,
            &key_of(STRANGER),
            TraceSerialRequest {
                unit_class: Some(class.clone()),
                serial: 5,
                ..Default::default()
            },
        ))
        .await
        .expect("the holder traces its serial")
        .into_inner();
    let origin = t.origin.expect("origin");
    let range = origin.range.expect("range");
    assert_eq!((range.first, range.last, origin.sequence), (5, 5, 0));
    assert!(origin.tx_id.is_empty() && t.created_by.is_none());
    // The enterprise it was allocated to sees the allocation whole.
    let t = c
        .trace_serial(signed(
            ENT,
            &key_of(ENT),
            TraceSerialRequest {
                unit_class: Some(class.clone()),
                serial: 5,
                ..Default::default()
            },
        ))
        .await
        .expect("the enterprise traces its allocation")
        .into_inner();
    let range = t.origin.and_then(|o| o.range).expect("range");
    assert_eq!((range.first, range.last), (1, 73_219));
}

/// Opens a Watch stream as `who` (or the public).
async fn watch(
    c: &mut RegistryClient<Channel>,
    who: Option<&str>,
) -> Result<tonic::Streaming<carbon_proto::v1::CommittedTx>, tonic::Status> {
    let mut req = WatchRequest {
        from_sequence: u64::MAX,
        auth: None,
    };
    if let Some(w) = who {
        req = signed(w, &key_of(w), req);
    }
    c.watch(req).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_slots_are_capped_per_account_and_reserved_for_the_regulator() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    // Twelve accounts take every slot the accounts share (4 each: 48); a thirteenth finds none.
    let ids: Vec<String> = (0..13).map(|i| format!("ST-WATCH-{i:02}")).collect();
    for id in &ids {
        ok(&mut c, &[REG], open_account_op(id, Role::Enterprise)).await;
    }
    let mut open = Vec::new();
    for id in &ids[..12] {
        for _ in 0..4 {
            open.push(
                watch(&mut c, Some(id))
                    .await
                    .expect("within the account's share"),
            );
        }
        let e = watch(&mut c, Some(id)).await.expect_err("a fifth stream");
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{}", e.message());
        assert!(
            e.message().contains("WATCH_STREAMS_PER_ACCOUNT_MAX"),
            "{}",
            e.message()
        );
    }
    let e = watch(&mut c, Some(&ids[12]))
        .await
        .expect_err("the shared pool is full");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    // The regulator's slots are its own.
    let _regulator = watch(&mut c, Some(REG))
        .await
        .expect("the regulator still watches");
    let _public = watch(&mut c, None).await.expect("the public still watches");
    drop(open);
}

/// The next item of a stream within 10 s: Some(Ok), Some(Err(status)), or None at its end.
async fn next_item(
    s: &mut tonic::Streaming<carbon_proto::v1::CommittedTx>,
) -> Option<Result<carbon_proto::v1::CommittedTx, tonic::Status>> {
    tokio::time::timeout(Duration::from_secs(10), s.message())
        .await
        .expect("the stream answers within 10 s")
        .transpose()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_ends_when_its_account_changes_keys_or_closes() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    for id in [ENT, ENT2] {
        ok(&mut c, &[REG], open_account_op(id, Role::Enterprise)).await;
    }
    let mut rotated = watch(&mut c, Some(ENT)).await.expect("opens");
    let mut closed = watch(&mut c, Some(ENT2)).await.expect("opens");
    // ENT replaces its key (its old one may be a thief's); the regulator closes ENT2.
    let new_key = test_key("ST-ENT-A-new");
    ok(
        &mut c,
        &[ENT],
        Operation::UpdateKeys(UpdateKeys {
            account_id: ENT.into(),
            public_keys: vec![new_key.verifying_key().to_bytes().to_vec()],
            threshold: 1,
        }),
    )
    .await;
    ok(
        &mut c,
        &[REG],
        Operation::CloseAccount(CloseAccount {
            account_id: ENT2.into(),
        }),
    )
    .await;
    for (s, why) in [
        (&mut rotated, "changed its keys"),
        (&mut closed, "was closed"),
    ] {
        match next_item(s).await {
            Some(Err(e)) => {
                assert_eq!(e.code(), tonic::Code::PermissionDenied, "{}", e.message());
                assert!(e.message().contains(why), "{}", e.message());
            }
            other => panic!("the stream went on ({why}): {other:?}"),
        }
        assert!(next_item(s).await.is_none(), "the stream ended");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_live_five_minutes_at_most_and_are_refused_when_replayed() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let admin = cluster_admin_key();
    let backup = || Action::Backup(BackupState {});
    // Valid for ten years: refused.
    let forever = admin_request(backup(), &admin, 10 * 365 * 24 * 3_600_000);
    let e = c.backup(forever).await.expect_err("ten years");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    assert!(e.message().contains("at most"), "{}", e.message());
    // A minute: accepted once, refused when replayed.
    let once = admin_request(backup(), &admin, 60_000);
    let mut stream = c.backup(once.clone()).await.expect("a backup").into_inner();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        if !chunk.file_blake3.is_empty() {
            break;
        }
    }
    let e = c.backup(once).await.expect_err("a replay");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{}", e.message());
    assert_eq!(
        carbon_proto::status::detail(&e).map(|d| d.code()),
        Some(ErrorCode::Replayed)
    );
    // The same for the detailed cluster status.
    let status = admin_request(Action::ClusterStatus(ReadClusterStatus {}), &admin, 60_000);
    let req = ClusterStatusRequest {
        admin: Some(status),
        ..Default::default()
    };
    assert!(
        c.cluster_status(req.clone())
            .await
            .expect("status")
            .into_inner()
            .detail
    );
    let e = c.cluster_status(req).await.expect_err("a replay");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{}", e.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_repos_and_loans_are_shown_over_three_contracts_at_least() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    cast(&mut c, 100_000).await;
    ok(&mut c, &[ENT, ENT2], lend_op(777)).await;
    ok(&mut c, &[ENT, BANK], repo_op(888)).await;
    let financing = |mut c: RegistryClient<Channel>| async move {
        c.get_disclosure(GetDisclosureRequest::default())
            .await
            .expect("disclosure")
            .into_inner()
            .financing
    };
    let f = financing(c.clone()).await;
    assert_eq!(f.len(), 1);
    assert!(f[0].repos_withheld && f[0].loans_withheld, "{f:?}");
    assert_eq!((f[0].repo_units, f[0].loan_units), (0, 0), "{f:?}");
    // Three of each: the sums are shown.
    for _ in 0..2 {
        ok(&mut c, &[ENT, ENT2], lend_op(100)).await;
        ok(&mut c, &[ENT, BANK], repo_op(100)).await;
    }
    let f = financing(c.clone()).await;
    assert!(!f[0].repos_withheld && !f[0].loans_withheld, "{f:?}");
    assert_eq!((f[0].repo_units, f[0].loan_units), (1_088, 977));
}

/// Restarts the single member with its clock at noon (CST) of `date`; returns the offset of
/// its clock from the test's (ms).
async fn at_noon(cluster: &mut Cluster, date: u32) -> i64 {
    let noon = carbon_proto::dates::start_ms(date) + 12 * 3_600_000;
    let offset = noon as i64 - now_ms() as i64;
    cluster.stop(0);
    cluster.nodes[0].env = vec![("CARBON_CLOCK_OFFSET_MS".into(), offset.to_string())];
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    offset
}

async fn trade(c: &mut RegistryClient<Channel>, q: u64, price_fen: u64) {
    // Valid for 40 days: the node's clock runs ahead of the test's.
    let op = Operation::Trade(Trade {
        seller: ENT.into(),
        buyer: ENT2.into(),
        unit_class: Some(cea()),
        quantity: q,
        price_fen,
        exchange_ref: String::new(),
    });
    ok(c, &[ENT, ENT2], op).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_market_figures_cover_complete_days_of_three_trades_at_least() {
    let mut cluster = Spec::new(1).start();
    at_noon(&mut cluster, 20271201).await;
    let mut c = cluster.client(0).await;
    cast(&mut c, 100_000).await;
    // 1 December: two trades (their prices would be a private figure).
    trade(&mut c, 10, 9_100).await;
    trade(&mut c, 20, 9_400).await;
    let public_days = |mut c: RegistryClient<Channel>| async move {
        c.get_market_stats(GetMarketStatsRequest::default())
            .await
            .expect("stats")
            .into_inner()
            .days
    };
    assert!(
        public_days(c.clone()).await.is_empty(),
        "today's trades are not public while the day runs"
    );
    // 2 December: three trades. On the 3rd the public sees the 2nd only.
    at_noon(&mut cluster, 20271202).await;
    let mut c = cluster.client(0).await;
    for (q, p) in [(1, 9_000), (2, 9_000), (3, 9_600)] {
        trade(&mut c, q, p).await;
    }
    let offset = at_noon(&mut cluster, 20271203).await;
    let c = cluster.client(0).await;
    let days = public_days(c.clone()).await;
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(
        (days[0].date, days[0].trades, days[0].volume),
        (20271202, 3, 6)
    );
    // The regulator sees both days (a credential valid by the node's clock).
    let mut reg = c.clone();
    let mut req = GetMarketStatsRequest::default();
    let until = (now_ms() as i64 + offset + 60_000) as u64;
    read_auth::sign(&mut req, CHAIN, REG, &key_of(REG), until);
    let all = reg
        .get_market_stats(req)
        .await
        .expect("stats")
        .into_inner()
        .days;
    assert_eq!(all.len(), 2);
    // The December window's totals minus the 2nd would give the 1st: they are withheld.
    let preview = |mut c: RegistryClient<Channel>| async move {
        c.get_reference_price(GetReferencePriceRequest {
            deadline_date: 20271231,
            ..Default::default()
        })
        .await
        .expect("preview")
        .into_inner()
    };
    let p = preview(c.clone()).await;
    assert!(p.withheld && p.traded, "{p:?}");
    assert_eq!((p.volume, p.turnover_fen, p.reference_price_fen), (0, 0, 0));
    assert_eq!(p.days.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_page_tokens_are_refused_and_cluster_detail_needs_a_credential() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    cast(&mut c, 1_000).await;
    let mib = vec![0x57; 1 << 20];
    let e = c
        .get_statement(signed(
            ENT,
            &key_of(ENT),
            GetStatementRequest {
                account_id: ENT.into(),
                page_token: mib.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("a 1 MiB token");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    // A token with the list's prefix but no key's length.
    let mut long = b"e".to_vec();
    long.extend_from_slice(&mib);
    let e = c
        .list_encumbrances(signed(
            ENT,
            &key_of(ENT),
            ListEncumbrancesRequest {
                holder: ENT.into(),
                page_token: long,
                ..Default::default()
            },
        ))
        .await
        .expect_err("a 1 MiB token");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());

    // The public sees who leads and the members' ids, not their addresses nor their lag.
    let public = c
        .cluster_status(ClusterStatusRequest::default())
        .await
        .expect("status")
        .into_inner();
    assert!(!public.detail && public.leader_id == 1);
    assert!(public
        .members
        .iter()
        .all(|m| m.client_address.is_empty() && m.peer_address.is_empty()));
    let reg = c
        .cluster_status(signed(REG, &key_of(REG), ClusterStatusRequest::default()))
        .await
        .expect("status")
        .into_inner();
    assert!(reg.detail && !reg.members[0].client_address.is_empty());
    let e = c
        .cluster_status(signed(
            ENT,
            &test_key("not ENT's key"),
            ClusterStatusRequest::default(),
        ))
        .await
        .expect_err("a bad credential");
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    // Health stays everyone's.
    cluster
        .wait_health(
            0,
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            Duration::from_secs(20),
        )
        .await;
}
