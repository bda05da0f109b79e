//! What registry users asked for (issue 10), through a real node over gRPC and `carbonctl`: the
//! penalty reference preview, repo and lending, the account statement and the regulator's list
//! reads, safe offline signing, and dry runs that keep typos out of the chain.

use carbon_proto::dates;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::*;
use carbon_tests::*;
use std::time::Duration;
use tonic::transport::Channel;

/// Exit status of a rejection.
const REJECTED: i32 = 3;

#[track_caller]
fn ok(ep: &[String], args: &[&str]) -> String {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(code, 0, "carbonctl {args:?} failed: {err}{out}");
    out
}

/// Runs a command expected to be rejected; returns stderr.
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

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// pbjson prints u64 as strings and omits zero values.
fn num(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// `req` with a read credential of `who` (demo key) for exactly that request.
fn signed_as<R: carbon_proto::read_auth::PrivateRead>(who: &str, mut req: R) -> R {
    carbon_proto::read_auth::sign(&mut req, CHAIN, who, &demo_key(who), now_ms() + 60_000);
    req
}

fn code_of(s: &tonic::Status) -> ErrorCode {
    carbon_proto::status::detail(s).map_or(ErrorCode::Unavailable, |d| d.code())
}

async fn sequence(c: &mut RegistryClient<Channel>) -> u64 {
    c.get_chain_head(GetChainHeadRequest::default())
        .await
        .expect("head")
        .into_inner()
        .sequence
}

/// A node with the regulator's usual cast (demo accounts and keys), vintage 2025 and CEA for two
/// enterprises.
async fn registry() -> (Cluster, Vec<String>, RegistryClient<Channel>) {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    for (id, role) in [
        ("ZJ-ENT-01", "enterprise"),
        ("ZJ-ENT-02", "enterprise"),
        ("ZJ-BANK-01", "bank"),
        ("ZJ-VER-01", "verifier"),
        ("ZJ-PILOT-AJ", "organisation"),
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
    ok(
        &ep,
        &["--as", REG, "vintage", "declare", "2025", "--cap", "100000"],
    );
    ok(
        &ep,
        &["--as", REG, "allocate", "ZJ-ENT-01", "2025", "10000"],
    );
    ok(&ep, &["--as", REG, "allocate", "ZJ-ENT-02", "2025", "5000"]);
    let c = connect(&ep[0]).await;
    (cluster, ep, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_penalty_reference_price_is_previewed_for_the_month_ending_on_a_deadline() {
    let (_cluster, ep, mut c) = registry().await;
    ok(
        &ep,
        &[
            "trade",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            "100",
            "--price-fen",
            "9100",
        ],
    );
    ok(
        &ep,
        &[
            "trade",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            "300",
            "--price-fen",
            "9500",
        ],
    );
    let today = dates::date_of(now_ms());
    // Today's trades: the regulator sees them (the public sees complete days only, see
    // strangers.rs).
    let preview = |deadline: u32| {
        let mut c = c.clone();
        async move {
            let mut req = GetReferencePriceRequest {
                deadline_date: deadline,
                consistency: 0,
                auth: None,
            };
            carbon_proto::read_auth::sign(&mut req, CHAIN, REG, &demo_key(REG), now_ms() + 60_000);
            c.get_reference_price(req)
                .await
                .expect("reference price")
                .into_inner()
        }
    };
    // A deadline today: today's trades count. (100 x 91 + 300 x 95) / 400 = 94.00.
    let p = preview(today).await;
    assert_eq!((p.last_date, p.volume, p.traded), (today, 400, true));
    assert_eq!(p.reference_price_fen, 9_400);
    assert_eq!(p.days.len(), 1);
    assert_eq!(p.days[0].date, today);
    // The first deadline whose one-month window starts after today no longer sees them; the
    // day before it still does.
    let mut d = dates::next_day(today);
    while dates::penalty_window(d).0 <= today {
        d = dates::next_day(d);
    }
    let p = preview(d).await;
    assert_eq!((p.volume, p.traded, p.reference_price_fen), (0, false, 0));
    assert!(p.first_date > today);
    let mut before = today;
    while dates::next_day(before) < d {
        before = dates::next_day(before);
    }
    assert_eq!(preview(before).await.volume, 400);
    // The usual deadline, 31 December: December exactly.
    let year = today / 10_000;
    let dec = preview(year * 10_000 + 1231).await;
    assert_eq!(
        (dec.first_date, dec.last_date),
        (year * 10_000 + 1201, year * 10_000 + 1231)
    );
    // Bad dates are refused with a clear code.
    let e = c
        .get_reference_price(GetReferencePriceRequest {
            deadline_date: 20260230,
            consistency: 0,
            auth: None,
        })
        .await
        .expect_err("invalid date");
    assert_eq!(code_of(&e), ErrorCode::InvalidArgument);

    // carbonctl: both date spellings; the table names the window and the price.
    let iso = dates::format_date(today);
    let out = ok(&ep, &["--as", REG, "compliance", "reference-price", &iso]);
    assert!(out.contains("reference price 94.00 CNY/t"), "{out}");
    let out = ok(
        &ep,
        &[
            "--as",
            REG,
            "compliance",
            "reference-price",
            &today.to_string(),
        ],
    );
    assert!(out.contains("94.00"), "{out}");
    let (code, _, err) = ctl(&ep, &["compliance", "reference-price", "2026-02-30"]);
    assert_eq!(code, 2, "a malformed date is a usage error: {err}");
    assert!(err.contains("not a date"), "{err}");
    // Closing needs the deadline passed, whichever way the date is written.
    for deadline in ["2099-12-31", "20991231"] {
        rejected(
            &ep,
            &[
                "--as",
                REG,
                "compliance",
                "close",
                "2025",
                "--deadline",
                deadline,
            ],
            "DEADLINE_NOT_PASSED",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_and_lending_through_carbonctl_with_statements_and_public_aggregates() {
    let (cluster, ep, mut c) = registry().await;
    let today = dates::date_of(now_ms());
    let soon = dates::format_date(dates::next_day(dates::next_day(today)));
    // A bank's repo with one enterprise.
    let out = ok(
        &ep,
        &[
            "--json",
            "repo",
            "create",
            "ZJ-ENT-01",
            "ZJ-BANK-01",
            "CEA:2025",
            "2000",
            "--sale-price-fen",
            "8000",
            "--repurchase-price-fen",
            "8150",
            "--repurchase-date",
            &soon,
            "--contract",
            "回购协议 2026-HZ-01",
        ],
    );
    let repo_id = num(&json(&out)["effects"]["encumbranceId"]).to_string();
    let h = json(&ok(
        &ep,
        &["--json", "--as", "ZJ-BANK-01", "holdings", "ZJ-BANK-01"],
    ));
    assert_eq!(num(&h["balances"][0]["repo"]), 2000);
    assert_eq!(h["blocks"][0]["state"], "BLOCK_STATE_REPO");
    rejected(
        &ep,
        &["transfer", "ZJ-BANK-01", "ZJ-ENT-02", "CEA:2025", "1"],
        "UNITS_ENCUMBERED",
    );
    rejected(
        &ep,
        &["--as", "ZJ-BANK-01", "repo", "default", &repo_id],
        "REPURCHASE_DATE_NOT_PASSED",
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "repo", "repurchase", &repo_id],
        "INSUFFICIENT_SIGNATURES",
    );
    let listed = ok(&ep, &["--as", "ZJ-ENT-01", "repo", "list", "ZJ-ENT-01"]);
    assert!(
        listed.contains("open") && listed.contains("回购协议"),
        "{listed}"
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-02", "repo", "list", "ZJ-ENT-01"],
        "PERMISSION_DENIED",
    );
    // Public: open repos appear aggregated by unit class, without parties — and one repo is
    // too few to aggregate (public_aggregate_min, 3): its size is withheld.
    let d = json(&ok(&ep, &["--json", "disclosure", "2025"]));
    assert_eq!(d["financing"][0]["reposWithheld"], true, "{d}");
    assert_eq!(num(&d["financing"][0]["repoUnits"]), 0);
    assert!(!d.to_string().contains("ZJ-BANK-01"));
    ok(&ep, &["--as", "ZJ-BANK-01", "repo", "repurchase", &repo_id]);
    rejected(
        &ep,
        &["--as", "ZJ-BANK-01", "repo", "repurchase", &repo_id],
        "REPO_CLOSED",
    );

    // A loan between two enterprises, used for surrender and returned.
    let out = ok(
        &ep,
        &[
            "--json",
            "loan",
            "create",
            "ZJ-ENT-02",
            "ZJ-ENT-01",
            "CEA:2025",
            "3000",
            "--fee-fen",
            "1500000",
            "--return-date",
            &soon,
        ],
    );
    let loan_id = num(&json(&out)["effects"]["loanId"]).to_string();
    ok(
        &ep,
        &[
            "--as",
            "ZJ-VER-01",
            "emissions",
            "report",
            "ZJ-ENT-01",
            "2025",
            "13000",
        ],
    );
    ok(
        &ep,
        &["surrender", "ZJ-ENT-01", "2025", "CEA:2025", "13000"],
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "loan", "return", &loan_id, "3001"],
        "EXCEEDS_LOAN",
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "loan", "return", &loan_id, "1"],
        "INSUFFICIENT_UNITS",
    );
    ok(&ep, &["--as", REG, "true-up", "ZJ-ENT-01", "2025", "13000"]);
    ok(
        &ep,
        &["--as", "ZJ-ENT-01", "loan", "return", &loan_id, "1000"],
    );
    let loans = ok(&ep, &["--as", REG, "loan", "list"]);
    assert!(loans.contains("open") && loans.contains("1000"), "{loans}");
    assert!(!ok(&ep, &["--as", REG, "loan", "list", "--overdue"]).contains("ZJ-ENT-02"));
    ok(
        &ep,
        &["--as", "ZJ-ENT-01", "loan", "return", &loan_id, "2000"],
    );
    assert!(ok(&ep, &["--as", "ZJ-ENT-02", "loan", "list", "ZJ-ENT-02"]).contains("returned"));
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "loan", "list"],
        "PERMISSION_DENIED",
    );
    // Lending is not a trade.
    let stats = json(&ok(&ep, &["--json", "market", "stats"]));
    assert_eq!(stats, serde_json::json!([]));

    // Raw gRPC: the same reads, and who may make them.
    let repos = c
        .list_repos(signed_as(
            "ZJ-BANK-01",
            ListReposRequest {
                party: "ZJ-BANK-01".into(),
                consistency: 0,
                auth: None,
            },
        ))
        .await
        .expect("repos")
        .into_inner()
        .repos;
    assert_eq!(repos[0].status(), RepoStatus::Repurchased);
    let e = c
        .list_loans(signed_as(
            "ZJ-BANK-01",
            ListLoansRequest {
                party: String::new(),
                overdue_only: false,
                consistency: 0,
                auth: None,
            },
        ))
        .await
        .expect_err("only the regulator lists every loan");
    assert_eq!(code_of(&e), ErrorCode::PermissionDenied);

    // ZJ-ENT-01's statement: every movement, full tx ids, balance after; as CSV too.
    let csv = cluster.dir.path().join("statement.csv");
    let iso = dates::format_date(today);
    let out = ok(
        &ep,
        &[
            "--as",
            "ZJ-ENT-01",
            "statement",
            "ZJ-ENT-01",
            "--from",
            &iso,
            "--to",
            &today.to_string(),
            "--csv",
            &csv.to_string_lossy(),
        ],
    );
    for op in [
        "allocate",
        "repo",
        "repurchase",
        "lend",
        "surrender",
        "true_up",
        "return_loan",
    ] {
        assert!(out.contains(op), "{op} missing from {out}");
    }
    let text = std::fs::read_to_string(&csv).expect("csv");
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "date",
            "tx id",
            "operation",
            "counterparty",
            "unit class",
            "serial ranges",
            "in",
            "out",
            "balance after",
            "available after"
        ]
    );
    // allocate +10,000; repo -2,000; repurchase +2,000; lend +3,000; surrender -13,000;
    // true-up +3,000; two returns -1,000 and -2,000.
    let ops: Vec<(&str, &str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[2].as_str(), r[6].as_str(), r[7].as_str(), r[8].as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("allocate", "10000", "0", "10000"),
            ("repo", "0", "2000", "8000"),
            ("repurchase", "2000", "0", "10000"),
            ("lend", "3000", "0", "13000"),
            ("surrender", "0", "13000", "0"),
            ("true_up", "3000", "0", "3000"),
            ("return_loan", "0", "1000", "2000"),
            ("return_loan", "0", "2000", "0"),
        ]
    );
    assert!(rows[1..].iter().all(|r| r[0] == iso && r[1].len() == 64));
    assert_eq!(rows[2][3], "ZJ-BANK-01");
    // Another enterprise may not read it; a page at a time over gRPC gives the same lines.
    rejected(
        &ep,
        &["--as", "ZJ-ENT-02", "statement", "ZJ-ENT-01"],
        "PERMISSION_DENIED",
    );
    let mut token = Vec::new();
    let mut lines = Vec::new();
    loop {
        let page = c
            .get_statement(signed_as(
                "ZJ-REG",
                GetStatementRequest {
                    account_id: "ZJ-ENT-01".into(),
                    page_token: token,
                    limit: 3,
                    auth: None,
                    ..Default::default()
                },
            ))
            .await
            .expect("statement")
            .into_inner();
        assert!(page.lines.len() <= 3);
        lines.extend(page.lines);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(lines.len(), 8);
    // Hostile reads: no authentication, a date that does not exist, a stranger's token.
    let e = c
        .get_statement(GetStatementRequest {
            account_id: "ZJ-ENT-01".into(),
            ..Default::default()
        })
        .await
        .expect_err("unauthenticated");
    assert_eq!(code_of(&e), ErrorCode::PermissionDenied);
    let e = c
        .get_statement(signed_as(
            "ZJ-ENT-01",
            GetStatementRequest {
                account_id: "ZJ-ENT-01".into(),
                from_date: 20261340,
                ..Default::default()
            },
        ))
        .await
        .expect_err("invalid date");
    assert_eq!(code_of(&e), ErrorCode::InvalidArgument);
    let e = c
        .get_statement(signed_as(
            "ZJ-ENT-01",
            GetStatementRequest {
                account_id: "ZJ-ENT-01".into(),
                page_token: vec![0xff; 600],
                limit: u32::MAX,
                ..Default::default()
            },
        ))
        .await
        .expect_err("a token no page gave out");
    assert_eq!(code_of(&e), ErrorCode::InvalidArgument);
    let page = c
        .get_statement(signed_as(
            "ZJ-ENT-01",
            GetStatementRequest {
                account_id: "ZJ-ENT-01".into(),
                page_token: [u64::MAX.to_be_bytes().as_slice(), &[0; 4]].concat(),
                limit: u32::MAX,
                ..Default::default()
            },
        ))
        .await
        .expect("a token past the end is an empty page")
        .into_inner();
    assert!(page.lines.is_empty() && page.next_page_token.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_regulators_list_reads_and_full_transaction_ids() {
    let (_cluster, ep, mut c) = registry().await;
    ok(&ep, &["--as", REG, "true-up", "ZJ-ENT-02", "2025", "4000"]);
    let v = ok(&ep, &["--as", REG, "vintage", "list"]);
    assert!(
        v.contains("100000") && v.contains("14000") && v.contains("86000"),
        "{v}"
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "vintage", "list"],
        "PERMISSION_DENIED",
    );
    let a = json(&ok(
        &ep,
        &["--json", "--as", REG, "allocations", "--vintage", "2025"],
    ));
    let ent2 = a
        .as_array()
        .and_then(|a| a.iter().find(|x| x["enterpriseId"] == "ZJ-ENT-02"))
        .cloned()
        .expect("ZJ-ENT-02's allocation");
    assert_eq!(
        (num(&ent2["granted"]), num(&ent2["withdrawn"])),
        (4000, 1000)
    );
    ok(
        &ep,
        &[
            "--as",
            "ZJ-ENT-01",
            "allocations",
            "--enterprise",
            "ZJ-ENT-01",
        ],
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "allocations"],
        "PERMISSION_DENIED",
    );
    rejected(
        &ep,
        &[
            "--as",
            "ZJ-ENT-01",
            "allocations",
            "--enterprise",
            "ZJ-ENT-02",
        ],
        "PERMISSION_DENIED",
    );
    // Accounts by role, region and status; paged over gRPC.
    let out = ok(
        &ep,
        &["--as", REG, "account", "list", "--role", "enterprise"],
    );
    assert!(out.contains("ZJ-ENT-01") && out.contains("ZJ-ENT-02") && !out.contains("ZJ-BANK-01"));
    let out = ok(
        &ep,
        &["--as", REG, "account", "list", "--role", "organisation"],
    );
    assert!(out.contains("ZJ-PILOT-AJ"), "{out}");
    ok(
        &ep,
        &[
            "--as",
            REG,
            "account",
            "suspend",
            "ZJ-ENT-02",
            "--reason",
            "核查",
        ],
    );
    let out = ok(
        &ep,
        &["--as", REG, "account", "list", "--status", "suspended"],
    );
    assert!(
        out.contains("ZJ-ENT-02") && !out.contains("ZJ-ENT-01"),
        "{out}"
    );
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "account", "list"],
        "PERMISSION_DENIED",
    );
    let mut after = String::new();
    let mut ids = Vec::new();
    loop {
        let page = c
            .list_accounts(signed_as(
                REG,
                ListAccountsRequest {
                    region: "杭州市".into(),
                    after_account_id: after,
                    limit: 2,
                    auth: None,
                    ..Default::default()
                },
            ))
            .await
            .expect("accounts")
            .into_inner();
        assert!(page.accounts.len() <= 2);
        ids.extend(page.accounts.into_iter().map(|a| a.account_id));
        if page.next_after_account_id.is_empty() {
            break;
        }
        after = page.next_after_account_id;
    }
    assert_eq!(
        ids,
        [
            "ZJ-BANK-01",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "ZJ-PILOT-AJ",
            "ZJ-VER-01"
        ]
    );
    // History shows full ids, which `tx show` and `history --from` accept.
    let h = ok(&ep, &["--as", "ZJ-ENT-02", "history", "ZJ-ENT-02"]);
    let full: Vec<&str> = h
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .collect();
    assert_eq!(full.len(), 4, "{h}");
    // A party sees its transaction whole (the public only its place in the chain).
    assert!(ok(&ep, &["--as", "ZJ-ENT-02", "tx", "show", full[2]]).contains("true_up"));
    let from = ok(
        &ep,
        &[
            "--as",
            "ZJ-ENT-02",
            "history",
            "ZJ-ENT-02",
            "--from",
            full[2],
        ],
    );
    assert!(!from.contains(full[1]) && from.contains(full[3]), "{from}");
    let (code, _, err) = ctl(&ep, &["tx", "show", &full[2][..16]]);
    assert_eq!(code, 1);
    assert!(err.contains("64 hex"), "{err}");
    // carbonctl's JSON: ids and keys in hex.
    let t = json(&ok(&ep, &["--json", "tx", "show", full[0]]));
    assert_eq!(t["committed"]["outcome"]["txId"], full[0]);
    let a = json(&ok(&ep, &["--json", "account", "show", "ZJ-ENT-01"]));
    assert_eq!(
        a["publicKeys"][0],
        hex::encode(demo_key("ZJ-ENT-01").verifying_key().to_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_shows_the_body_and_dry_runs_keep_typos_out_of_the_chain() {
    let (cluster, ep, mut c) = registry().await;
    let file = cluster.dir.path().join("trade.json");
    let file_s = file.to_string_lossy().into_owned();
    ok(
        &ep,
        &[
            "--unsigned-out",
            &file_s,
            "trade",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            "100000",
            "--price-fen",
            "9100",
        ],
    );
    // What a signer sees comes from the body.
    let shown = ok(&ep, &["tx", "show", &file_s]);
    assert!(
        shown.contains("trade") && shown.contains("100000") && shown.contains("CEA:2025"),
        "{shown}"
    );
    // A summary edited from 100000 to 1 is refused, and nothing is signed.
    let text = std::fs::read_to_string(&file).expect("tx file");
    let mut v = json(&text);
    v["summary"]["trade"]["quantity"] = serde_json::json!("1");
    std::fs::write(&file, serde_json::to_string_pretty(&v).expect("json")).expect("write");
    for args in [
        vec!["--as", "ZJ-ENT-01", "tx", "sign", &file_s],
        vec!["tx", "show", &file_s],
        vec!["tx", "submit", &file_s],
    ] {
        let (code, _, err) = ctl(&ep, &args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("summary does not match its body"), "{err}");
    }
    assert_eq!(
        json(&std::fs::read_to_string(&file).expect("file"))["signatures"],
        serde_json::json!([])
    );
    std::fs::write(&file, &text).expect("restore");
    let signed = ok(&ep, &["--as", "ZJ-ENT-01", "tx", "sign", &file_s]);
    assert!(signed.contains("100000"), "{signed}");

    // Typos are refused by a dry run and never committed.
    let before = sequence(&mut c).await;
    let err = rejected(
        &ep,
        &["transfer", "ZJ-ENT-01", "ZJ-ENT-99", "CEA:2025", "10"],
        "UNKNOWN_ACCOUNT",
    );
    assert!(
        err.contains("found by a dry run") && err.contains("nothing was recorded"),
        "{err}"
    );
    rejected(
        &ep,
        &["transfer", "ZJ-ENT-01", "ZJ-ENT-02", "CEA:2025", "0"],
        "ZERO_AMOUNT",
    );
    // --dry-run shows what would happen and commits nothing.
    let out = ok(
        &ep,
        &[
            "--dry-run",
            "transfer",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            "10",
        ],
    );
    assert!(
        out.contains("would succeed") && out.contains("1..=10"),
        "{out}"
    );
    assert_eq!(sequence(&mut c).await, before);
    // Dates in either spelling.
    ok(
        &ep,
        &[
            "pledge",
            "create",
            "ZJ-ENT-01",
            "ZJ-BANK-01",
            "CEA:2025",
            "10",
            "--secured-fen",
            "100000",
            "--maturity",
            "2027-06-30",
        ],
    );
    assert_eq!(sequence(&mut c).await, before + 1);

    // Simulate over raw gRPC: unsigned (every signer assumed), signed, and already committed.
    let transfer = Operation::Transfer(Transfer {
        from_account: "ZJ-ENT-01".into(),
        to_account: "ZJ-ENT-02".into(),
        unit_class: Some(UnitClass {
            kind: UnitKind::Cea as i32,
            vintage: 2025,
            project_id: String::new(),
        }),
        quantity: 5,
    });
    let b = body(&["ZJ-ENT-01"], transfer.clone());
    let unsigned = sign(&b, &[]);
    // Unsigned, the outcome would show ZJ-ENT-01's holdings: not to the public, nor to another
    // account, only to a signer (or the regulator).
    let dry_run = |auth_as: Option<&str>| {
        let req = SimulateRequest {
            tx: Some(unsigned.clone()),
            auth: None,
        };
        match auth_as {
            Some(who) => signed_as(who, req),
            None => req,
        }
    };
    for stranger in [None, Some("ZJ-ENT-02")] {
        let e = c
            .simulate(dry_run(stranger))
            .await
            .expect_err("a stranger's unsigned dry run");
        assert_eq!(
            e.code(),
            tonic::Code::PermissionDenied,
            "{stranger:?}: {e:?}"
        );
    }
    // Nor by listing oneself as a second signer of a body that moves another's units.
    let both = sign(&body(&["ZJ-ENT-02", "ZJ-ENT-01"], transfer.clone()), &[]);
    let e = c
        .simulate(signed_as(
            "ZJ-ENT-02",
            SimulateRequest {
                tx: Some(both),
                auth: None,
            },
        ))
        .await
        .expect_err("a co-signer's unsigned dry run of another's transfer");
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let r = c
        .simulate(dry_run(Some(REG)))
        .await
        .expect("the regulator's dry run");
    assert_eq!(
        r.into_inner().outcome.expect("outcome").code(),
        ErrorCode::Ok
    );
    let r = c
        .simulate(dry_run(Some("ZJ-ENT-01")))
        .await
        .expect("simulate")
        .into_inner();
    let o = r.outcome.expect("outcome");
    assert_eq!(
        (o.code(), r.signatures_checked, r.already_committed),
        (ErrorCode::Ok, false, false)
    );
    let moved = o.effects.unwrap_or_default().moved;
    assert_eq!(moved[0].last - moved[0].first + 1, 5);
    let wrong_key = sign(&b, &[&demo_key("ZJ-ENT-02")]);
    let r = c
        .simulate(SimulateRequest {
            tx: Some(wrong_key),
            auth: None,
        })
        .await
        .expect("simulate")
        .into_inner();
    assert_eq!(
        r.outcome.expect("outcome").code(),
        ErrorCode::InsufficientSignatures
    );
    let signed = sign(&b, &[&demo_key("ZJ-ENT-01")]);
    assert_eq!(submit(&mut c, signed.clone()).await.code(), ErrorCode::Ok);
    let r = c
        .simulate(SimulateRequest {
            tx: Some(signed),
            auth: None,
        })
        .await
        .expect("simulate")
        .into_inner();
    assert!(r.already_committed && r.signatures_checked);
    let garbage = SignedTx {
        body: vec![0xff, 0xff, 0xff],
        signatures: vec![],
    };
    let e = c
        .simulate(SimulateRequest {
            tx: Some(garbage),
            auth: None,
        })
        .await
        .expect_err("garbage");
    assert_eq!(code_of(&e), ErrorCode::Malformed);
    assert_eq!(sequence(&mut c).await, before + 2);
}

/// Restarts the node with its clock shifted to noon (CST) of `date` (the harness's test knob).
async fn at_noon(cluster: &mut Cluster, date: u32) {
    let noon = dates::start_ms(date) + 12 * 3_600_000;
    let offset = i128::from(noon) - i128::from(now_ms());
    cluster.stop(0);
    cluster.nodes[0].env = vec![("CARBON_CLOCK_OFFSET_MS".into(), offset.to_string())];
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn december_trades_price_the_penalty_of_a_31_december_deadline() {
    // The window rule, not the public's minimum of trades, is what this test is about: a
    // registry whose public aggregates may cover a single trade.
    let mut cluster = Spec {
        genesis_extra: Some("public_aggregate_min = 1".into()),
        ..Spec::new(1)
    }
    .start();
    at_noon(&mut cluster, 20261130).await;
    let ep = cluster.endpoints();
    // Transactions are signed with the client's clock: valid long enough for the node's.
    let w = |args: &[&str]| {
        let mut all = vec!["--valid-for", "40000000"];
        all.extend_from_slice(args);
        ok(&ep, &all);
    };
    for (id, role) in [("ZJ-ENT-01", "enterprise"), ("ZJ-ENT-02", "enterprise")] {
        let key = repo_root().join(format!("seeds/keys/{id}.json"));
        w(&[
            "--as",
            REG,
            "account",
            "open",
            id,
            "--role",
            role,
            "--name",
            id,
            "--pubkey-file",
            &key.to_string_lossy(),
        ]);
    }
    w(&["--as", REG, "vintage", "declare", "2025", "--cap", "100000"]);
    w(&["--as", REG, "allocate", "ZJ-ENT-01", "2025", "1000"]);
    let trade = |q: &str, price: &str| {
        w(&[
            "trade",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            q,
            "--price-fen",
            price,
        ])
    };
    trade("20", "5000"); // 30 November: before the window
    at_noon(&mut cluster, 20261201).await;
    trade("10", "8000");
    at_noon(&mut cluster, 20261231).await;
    trade("30", "10000");
    // The public sees complete days: the 31st's trade from the next day on.
    at_noon(&mut cluster, 20270101).await;
    let preview = ok(&ep, &["compliance", "reference-price", "2026-12-31"]);
    assert!(
        preview.contains("CEA trades of 2026-12-01 to 2026-12-31")
            && preview.contains("reference price 95.00 CNY/t (volume 40"),
        "{preview}"
    );
    // The old rule's month (November) would have priced it at 50.00.
    let november = ok(&ep, &["compliance", "reference-price", "20261130"]);
    assert!(november.contains("reference price 50.00"), "{november}");
    // After the deadline the close uses exactly that December price.
    at_noon(&mut cluster, 20270105).await;
    w(&[
        "--as",
        REG,
        "emissions",
        "report",
        "ZJ-ENT-02",
        "2025",
        "100",
    ]);
    w(&[
        "--as",
        REG,
        "emissions",
        "report",
        "ZJ-ENT-01",
        "2025",
        "940",
    ]);
    w(&["surrender", "ZJ-ENT-02", "2025", "CEA:2025", "60"]);
    w(&["surrender", "ZJ-ENT-01", "2025", "CEA:2025", "900"]);
    w(&[
        "--as",
        REG,
        "compliance",
        "close",
        "2025",
        "--deadline",
        "2026-12-31",
        "--multiplier",
        "5",
    ]);
    let c = json(&ok(&ep, &["--json", "compliance", "show", "2025"]));
    let rec = |id: &str| {
        c["records"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["enterpriseId"] == id).cloned())
            .expect("record")
    };
    // ZJ-ENT-02 is 40 short: 40 x 95.00 CNY x 5.
    assert_eq!(num(&rec("ZJ-ENT-02")["shortfall"]), 40);
    assert_eq!(num(&rec("ZJ-ENT-02")["penaltyFen"]), 40 * 9_500 * 5);
    assert_eq!(num(&rec("ZJ-ENT-01")["penaltyFen"]), 40 * 9_500 * 5);
}
