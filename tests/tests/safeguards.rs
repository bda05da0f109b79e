//! Issue 17 through a real node over gRPC and `carbonctl`: rule 15 (a phishing transfer stopped
//! by the holder within the delay, a pending transfer executed by ledger time when its delay
//! ends, trusted accounts, daily limits) and rule 18 (pledge top-up, repo substitution).

use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::*;
use carbon_tests::*;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const REJECTED: i32 = 3;
const ENT: &str = "ZJ-ENT-01";
const ENT2: &str = "ZJ-ENT-02";
const THIEF: &str = "ZJ-ENT-03";
const BANK: &str = "ZJ-BANK-01";

#[track_caller]
fn ok(ep: &[String], args: &[&str]) -> String {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(code, 0, "carbonctl {args:?} failed: {err}{out}");
    out
}

#[track_caller]
fn rejected(ep: &[String], args: &[&str], error_code: &str) -> String {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(
        code, REJECTED,
        "carbonctl {args:?}: expected a rejection, got {code}: {err}{out}"
    );
    assert!(
        err.contains(error_code),
        "carbonctl {args:?}: expected {error_code} in {err:?}"
    );
    err
}

fn signed_as<R: carbon_proto::read_auth::PrivateRead>(who: &str, mut req: R) -> R {
    carbon_proto::read_auth::sign(&mut req, CHAIN, who, &demo_key(who), now_ms() + 60_000);
    req
}

/// (available, pending transfer) of CEA 2025.
async fn balance(c: &mut RegistryClient<Channel>, who: &str) -> (u64, u64) {
    let h = c
        .get_holdings(signed_as(
            who,
            GetHoldingsRequest {
                account_id: who.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("holdings")
        .into_inner();
    h.balances
        .iter()
        .find(|b| b.unit_class.as_ref().is_some_and(|u| u.vintage == 2025))
        .map_or((0, 0), |b| (b.available, b.pending_transfer))
}

/// The pending transfer id `carbonctl transfer` printed.
fn pending_id(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.contains("pending until"))
        .unwrap_or_else(|| panic!("no pending note in {out:?}"));
    line.trim_start_matches("pending transfer ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no id in {line:?}"))
}

/// A node whose genesis enables safeguards with short delays (4 s, 6 s), the usual cast, CEA.
async fn registry() -> (Cluster, Vec<String>, RegistryClient<Channel>) {
    let cluster = Spec {
        genesis_extra: Some(
            "safeguards = { enabled = true, transfer_delay_ms = 4000, trusted_list_delay_ms = 6000 }"
                .into(),
        ),
        ..Spec::new(1)
    }
    .start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    for (id, role) in [
        (ENT, "enterprise"),
        (ENT2, "enterprise"),
        (THIEF, "enterprise"),
        (BANK, "bank"),
    ] {
        let key = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            &ep,
            &[
                "--as",
                REG,
                "account",
                "open",
                id,
                "--role",
                role,
                "--name",
                id,
                "--region",
                "杭州市",
                "--pubkey-file",
                &key.to_string_lossy(),
            ],
        );
    }
    for v in ["2025", "2026"] {
        ok(
            &ep,
            &["--as", REG, "vintage", "declare", v, "--cap", "100000"],
        );
        ok(&ep, &["--as", REG, "allocate", ENT, v, "1000"]);
    }
    let c = connect(&ep[0]).await;
    (cluster, ep, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phishing_transfer_is_cancelled_in_its_delay_and_a_pending_one_executes_by_ledger_time() {
    let (_cluster, ep, mut c) = registry().await;
    // The phished key sends 600 to the thief: pending, encumbered.
    let out = ok(&ep, &["transfer", ENT, THIEF, "CEA:2025", "600"]);
    let phish = pending_id(&out);
    assert_eq!(balance(&mut c, ENT).await, (400, 600));
    assert_eq!(balance(&mut c, THIEF).await, (0, 0));
    let list = ok(&ep, &["--as", ENT, "trusted", "list", ENT]);
    assert!(list.contains("pending") && list.contains(THIEF), "{list}");
    // The recipient may see it, not cancel it.
    rejected(
        &ep,
        &["--as", THIEF, "transfer", "cancel", &phish.to_string()],
        "INSUFFICIENT_SIGNATURES",
    );
    // The holder stops it within the delay.
    let out = ok(
        &ep,
        &["--as", ENT, "transfer", "cancel", &phish.to_string()],
    );
    assert!(out.contains("cancelled"), "{out}");
    assert_eq!(balance(&mut c, ENT).await, (1_000, 0));
    rejected(
        &ep,
        &["--as", ENT, "transfer", "cancel", &phish.to_string()],
        "PENDING_TRANSFER_CLOSED",
    );

    // A transfer the holder lets run executes when its delay ends, with no other traffic: the
    // leader proposes the entry.
    let out = ok(&ep, &["transfer", ENT, ENT2, "CEA:2025", "100"]);
    let id = pending_id(&out);
    let start = Instant::now();
    while balance(&mut c, ENT2).await.0 != 100 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "pending transfer {id} did not execute"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(balance(&mut c, ENT).await, (900, 0));
    let s = c
        .list_safeguards(signed_as(
            ENT2,
            ListSafeguardsRequest {
                account_id: ENT2.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("safeguards")
        .into_inner();
    let p = s.pending.iter().find(|p| p.id == id).expect("listed");
    assert_eq!(p.status(), PendingTransferStatus::Executed);
    // The recipient's statement shows it, as the ledger's own record.
    let st = c
        .get_statement(signed_as(
            ENT2,
            GetStatementRequest {
                account_id: ENT2.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("statement")
        .into_inner();
    let last = st.lines.last().expect("a line");
    assert_eq!(
        (last.operation.as_str(), last.quantity_in),
        ("execute_pending_transfer", 100)
    );
    // Nobody submits an execution.
    let body = TxBody {
        chain_id: CHAIN.into(),
        signers: vec![ENT.into()],
        valid_until_ms: now_ms() + 60_000,
        nonce: 1,
        memo: String::new(),
        operation: Some(Operation::ExecutePendingTransfer(ExecutePendingTransfer {
            pending_transfer_id: id,
        })),
    };
    let tx = carbon_proto::signing::sign_body(&body, &[&demo_key(ENT)]);
    let e = c
        .submit(SubmitRequest { tx: Some(tx) })
        .await
        .expect_err("refused");
    assert_eq!(
        carbon_proto::status::detail(&e).map(|d| d.code()),
        Some(ErrorCode::SystemOperation)
    );

    // A trusted account receives at once once the list delay has passed.
    let out = ok(&ep, &["trusted", "add", ENT, ENT2]);
    assert!(out.contains("trusted from"), "{out}");
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let out = ok(&ep, &["transfer", ENT, ENT2, "CEA:2025", "50"]);
    assert!(!out.contains("pending until"), "{out}");
    assert_eq!(balance(&mut c, ENT2).await.0, 150);
    // Removal is immediate.
    ok(&ep, &["trusted", "remove", ENT, ENT2]);
    let out = ok(&ep, &["transfer", ENT, ENT2, "CEA:2025", "10"]);
    pending_id(&out);
    // A daily limit, lowered at once: 760 were sent today (a cancelled transfer counts).
    ok(&ep, &["limit", ENT, "CEA", "800"]);
    ok(&ep, &["transfer", ENT, ENT2, "CEA:2025", "40"]);
    rejected(
        &ep,
        &["transfer", ENT, ENT2, "CEA:2025", "1"],
        "TRANSFER_LIMIT_EXCEEDED",
    );
    let list = ok(&ep, &["--as", ENT, "trusted", "list", ENT]);
    assert!(list.contains("800"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pledge_is_topped_up_and_a_repo_substituted_with_carbonctl() {
    let (_cluster, ep, mut c) = registry().await;
    ok(
        &ep,
        &[
            "pledge",
            "create",
            ENT,
            BANK,
            "CEA:2025",
            "100",
            "--secured-fen",
            "500000",
            "--maturity",
            "2030-12-31",
        ],
    );
    let pledges = c
        .list_encumbrances(signed_as(
            BANK,
            ListEncumbrancesRequest {
                pledgee: BANK.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("pledges")
        .into_inner()
        .encumbrances;
    let pid = pledges[0].id.to_string();
    ok(
        &ep,
        &[
            "pledge",
            "top-up",
            &pid,
            "50",
            "--pledgor",
            ENT,
            "--pledgee",
            BANK,
        ],
    );
    rejected(
        &ep,
        &[
            "pledge",
            "top-up",
            &pid,
            "5000",
            "--pledgor",
            ENT,
            "--pledgee",
            BANK,
        ],
        "INSUFFICIENT_UNITS",
    );
    let e = c
        .list_encumbrances(signed_as(
            BANK,
            ListEncumbrancesRequest {
                pledgee: BANK.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("pledges")
        .into_inner()
        .encumbrances;
    assert_eq!(
        (e[0].remaining_quantity, e[0].topped_up_quantity),
        (150, 50)
    );

    ok(
        &ep,
        &[
            "repo",
            "create",
            ENT,
            BANK,
            "CEA:2025",
            "200",
            "--sale-price-fen",
            "8000",
            "--repurchase-price-fen",
            "8100",
            "--repurchase-date",
            "2030-12-31",
        ],
    );
    let repos = c
        .list_repos(signed_as(
            ENT,
            ListReposRequest {
                party: ENT.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("repos")
        .into_inner()
        .repos;
    let rid = repos[0].id.to_string();
    let sub = |old: &str, oq: &str, new: &str, nq: &str| {
        vec![
            "repo".to_string(),
            "substitute".into(),
            rid.clone(),
            old.into(),
            oq.into(),
            new.into(),
            nq.into(),
            "--seller".into(),
            ENT.into(),
            "--buyer".into(),
            BANK.into(),
        ]
    };
    let args = sub("CEA:2025", "80", "CEA:2026", "90");
    ok(&ep, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let args = sub("CEA:2025", "1", "CEA:2025", "1");
    rejected(
        &ep,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "SUBSTITUTION_SAME_CLASS",
    );
    let args = sub("CEA:2025", "121", "CEA:2026", "1");
    rejected(
        &ep,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "EXCEEDS_COLLATERAL",
    );
    // 1,000 - 150 pledged - 200 sold + 80 back = 730 available.
    assert_eq!(balance(&mut c, ENT).await.0, 730);
    ok(&ep, &["--as", BANK, "repo", "repurchase", &rid]);
    assert_eq!(balance(&mut c, ENT).await.0, 850);
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
    let v2026 = h
        .balances
        .iter()
        .find(|b| b.unit_class.as_ref().is_some_and(|u| u.vintage == 2026))
        .map_or(0, |b| b.available);
    assert_eq!(v2026, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_a_genesis_with_safeguards_stops_a_phishing_transfer() {
    // As seeds/demo/genesis.toml: safeguards on with the default delays.
    let cluster = Spec {
        genesis_extra: Some("safeguards = { enabled = true }".into()),
        ..Spec::new(1)
    }
    .start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let out = ok(&ep, &["demo"]);
    assert!(out.contains("is pending until"), "{out}");
    assert!(out.contains("cancelled it within the delay"), "{out}");
    assert!(out.contains("ZJ-ENT-11 received nothing"), "{out}");
    let demo_genesis = carbon_proto::genesis::load(&repo_root().join("seeds/demo/genesis.toml"))
        .expect("the demo genesis loads");
    assert!(demo_genesis.safeguards.is_some_and(|s| s.enabled));
}

const FAST: &str =
    "safeguards = { enabled = true, transfer_delay_ms = 3000, trusted_list_delay_ms = 6000 }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_transfer_outlives_its_leader_and_every_replica_executes_it_alike() {
    let mut cluster = Spec {
        genesis_extra: Some(FAST.into()),
        ..Spec::new(3)
    }
    .start();
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let ep = cluster.endpoints();
    for id in [ENT, ENT2] {
        let key = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            &ep,
            &[
                "--as",
                REG,
                "account",
                "open",
                id,
                "--role",
                "enterprise",
                "--name",
                id,
                "--pubkey-file",
                &key.to_string_lossy(),
            ],
        );
    }
    ok(
        &ep,
        &["--as", REG, "vintage", "declare", "2025", "--cap", "100000"],
    );
    ok(&ep, &["--as", REG, "allocate", ENT, "2025", "1000"]);
    let out = ok(&ep, &["transfer", ENT, ENT2, "CEA:2025", "300"]);
    pending_id(&out);
    let (seq, _) = cluster
        .wait_converged(&[0, 1, 2], 4, Duration::from_secs(20))
        .await;
    // The leader that recorded it goes away before it is due.
    cluster.kill(leader);
    let rest: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new_leader = cluster
        .wait_for_leader(&rest, Duration::from_secs(30))
        .await;
    // The new leader has not heard the dead voter's version; it still proposes version 3, the
    // newest committed (`Liveness::ledger_version`), and executes the transfer without it.
    let mut c = cluster.client(new_leader).await;
    let start = Instant::now();
    while balance(&mut c, ENT2).await.0 != 300 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the new leader did not execute the pending transfer"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    cluster.spawn(leader);
    // Every replica: same chain head, the execution in it.
    cluster
        .wait_converged(&[0, 1, 2], seq + 1, Duration::from_secs(30))
        .await;
    cluster.stop_all();
    let text = std::fs::read_to_string(repo_root().join("seeds/genesis.toml")).expect("genesis");
    let genesis = carbon_proto::genesis::parse_toml(&format!("{FAST}\n{text}")).expect("parses");
    let mut heads = Vec::new();
    for i in 0..3 {
        let r = carbon_node::storage::check::check_data_dir(&cluster.nodes[i].data_dir, &genesis)
            .unwrap_or_else(|e| panic!("data dir of node {i} does not check: {e}"));
        heads.push((r.sequence, r.head));
    }
    assert!(heads.iter().all(|h| h == &heads[0]), "{heads:?}");
}
