//! `carbonctl` against real nodes: every command family (success and a rejection with its code
//! and exit status), offline multi-party signing, a bulk plan resumed after an interruption, and
//! the whole Zhejiang demo on a three-node cluster with its final compliance table asserted.

use carbon_tests::*;
use std::time::Duration;

/// Exit status of a ledger rejection.
const REJECTED: i32 = 3;

#[track_caller]
fn ok(ep: &[String], args: &[&str]) -> String {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(code, 0, "carbonctl {args:?} failed: {err}{out}");
    out
}

#[track_caller]
fn rejected(ep: &[String], args: &[&str], error_code: &str) {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(
        code, REJECTED,
        "carbonctl {args:?}: expected a rejection, got {code}: {err}{out}"
    );
    assert!(
        err.contains(error_code),
        "carbonctl {args:?}: expected {error_code} in {err:?}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_family_succeeds_and_rejects_with_its_code() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k.json");
    let key_s = key.to_string_lossy().into_owned();

    // keys and accounts
    let pk = ok(&ep, &["keygen", "--out", &key_s, "--label", "CLI-X"]);
    assert_eq!(pk.trim().len(), 64);
    assert_eq!(ok(&ep, &["pubkey", &key_s]).trim(), pk.trim());
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "account",
            "open",
            "CLI-X",
            "--role",
            "enterprise",
            "--name",
            "测试企业",
            "--pubkey-file",
            &key_s,
        ],
    );
    rejected(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "account",
            "open",
            "CLI-X",
            "--role",
            "enterprise",
            "--name",
            "x",
            "--pubkey",
            pk.trim(),
        ],
        "ACCOUNT_EXISTS",
    );
    for (id, role) in [
        ("ZJ-ENT-01", "enterprise"),
        ("ZJ-ENT-02", "enterprise"),
        ("ZJ-BANK-01", "bank"),
        ("ZJ-VER-01", "verifier"),
        ("ZJ-PO-WIND", "project-owner"),
        ("ZJ-PILOT-AJ", "organisation"),
    ] {
        let kf = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            &ep,
            &[
                "--as",
                "ZJ-REG",
                "account",
                "open",
                id,
                "--role",
                role,
                "--name",
                id,
                "--pubkey-file",
                &kf.to_string_lossy(),
            ],
        );
    }
    assert!(ok(&ep, &["account", "show", "CLI-X"]).contains("测试企业"));
    rejected(&ep, &["account", "show", "NOBODY"], "NOT_FOUND");
    ok(
        &ep,
        &[
            "--as", "ZJ-REG", "account", "suspend", "CLI-X", "--reason", "核查",
        ],
    );
    rejected(
        &ep,
        &[
            "--as", "ZJ-REG", "account", "suspend", "CLI-X", "--reason", "again",
        ],
        "ACCOUNT_NOT_OPEN",
    );
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "account",
            "reinstate",
            "CLI-X",
            "--reason",
            "整改完成",
        ],
    );
    ok(
        &ep,
        &[
            "--key",
            &key_s,
            "account",
            "keys",
            "CLI-X",
            "--pubkey-file",
            &key_s,
        ],
    );
    ok(&ep, &["--as", "ZJ-REG", "account", "close", "CLI-X"]);

    // vintages and allocation
    ok(
        &ep,
        &[
            "--as", "ZJ-REG", "vintage", "declare", "2025", "--cap", "1000000",
        ],
    );
    rejected(
        &ep,
        &["--as", "ZJ-REG", "vintage", "declare", "2025", "--cap", "5"],
        "VINTAGE_EXISTS",
    );
    ok(
        &ep,
        &["--as", "ZJ-REG", "allocate", "ZJ-ENT-01", "2025", "10000"],
    );
    rejected(
        &ep,
        &["--as", "ZJ-REG", "allocate", "ZJ-ENT-02", "2025", "2000000"],
        "CAP_EXCEEDED",
    );
    ok(
        &ep,
        &["--as", "ZJ-REG", "true-up", "ZJ-ENT-01", "2025", "12000"],
    );
    rejected(
        &ep,
        &["--as", "ZJ-REG", "true-up", "ZJ-ENT-01", "2025", "1"],
        "ALREADY_TRUED_UP",
    );

    // projects and issuance
    ok(
        &ep,
        &[
            "project",
            "propose",
            "P-W",
            "--owner",
            "ZJ-PO-WIND",
            "--kind",
            "ccer",
            "--name",
            "海上风电",
            "--methodology",
            "CCER-01-001-V01",
            "--start",
            "2021",
            "--end",
            "2030",
        ],
    );
    ok(&ep, &["--as", "ZJ-REG", "project", "approve", "P-W"]);
    ok(&ep, &["--as", "ZJ-REG", "issue", "P-W", "2025", "5000"]);
    rejected(
        &ep,
        &["--as", "ZJ-REG", "issue", "P-W", "2035", "1"],
        "OUTSIDE_CREDITING_PERIOD",
    );
    assert!(ok(&ep, &["project", "show", "P-W"]).contains("5000"));
    assert!(ok(&ep, &["trace", "CCER:2025:P-W", "17"]).contains("issue_credits"));
    rejected(&ep, &["trace", "CCER:2025:P-W", "5001"], "NOT_FOUND");

    // transfer; trade by offline two-party signing
    ok(
        &ep,
        &["transfer", "ZJ-ENT-01", "ZJ-ENT-02", "CEA:2025", "500"],
    );
    rejected(
        &ep,
        &["transfer", "ZJ-ENT-02", "ZJ-ENT-01", "CEA:2025", "501"],
        "INSUFFICIENT_UNITS",
    );
    rejected(
        &ep,
        &["transfer", "ZJ-ENT-01", "ZJ-BANK-01", "CEA:2025", "1"],
        "ROLE_CANNOT_HOLD",
    );
    let tx = dir.path().join("trade.json");
    let tx_s = tx.to_string_lossy().into_owned();
    ok(
        &ep,
        &[
            "--unsigned-out",
            &tx_s,
            "trade",
            "ZJ-ENT-01",
            "ZJ-ENT-02",
            "CEA:2025",
            "100",
            "--price-fen",
            "9100",
        ],
    );
    ok(&ep, &["--as", "ZJ-ENT-01", "tx", "sign", &tx_s]);
    // Submitted with one signature of two: refused at ingress, nothing recorded.
    rejected(&ep, &["tx", "submit", &tx_s], "INSUFFICIENT_SIGNATURES");
    ok(&ep, &["--as", "ZJ-ENT-02", "tx", "sign", &tx_s]);
    let out = ok(&ep, &["--json", "tx", "submit", &tx_s]);
    let tx_id = json(&out)["txId"]
        .as_str()
        .map(str::to_string)
        .expect("tx id");
    // carbonctl's JSON writes ids in hex, and `tx show` takes the full id. A party sees the
    // trade; the public sees only its place in the chain.
    assert_eq!(tx_id.len(), 64);
    assert!(ok(&ep, &["--as", "ZJ-ENT-01", "tx", "show", &tx_id]).contains("trade"));
    let public = ok(&ep, &["tx", "show", &tx_id]);
    assert!(public.contains("private transaction") && !public.contains("ZJ-ENT-02"));
    let stats = json(&ok(
        &ep,
        // The regulator sees today's trades (the public, complete days with enough trades).
        &[
            "--json", "--as", REG, "market", "stats", "--class", "CEA:2025",
        ],
    ));
    assert_eq!(num(&stats[0]["volume"]), 100);

    // pledges and freezes
    let out = ok(
        &ep,
        &[
            "--json",
            "pledge",
            "create",
            "ZJ-ENT-01",
            "ZJ-BANK-01",
            "CEA:2025",
            "1000",
            "--secured-fen",
            "8000000",
            "--maturity",
            "20271231",
        ],
    );
    let pledge_id = num(&json(&out)["effects"]["encumbranceId"]).to_string();
    rejected(
        &ep,
        &["transfer", "ZJ-ENT-01", "ZJ-ENT-02", "CEA:2025", "11000"],
        "UNITS_ENCUMBERED",
    );
    assert!(ok(
        &ep,
        &[
            "--as",
            "ZJ-BANK-01",
            "pledge",
            "list",
            "--pledgee",
            "ZJ-BANK-01"
        ]
    )
    .contains("ZJ-ENT-01"));
    rejected(
        &ep,
        &[
            "--as",
            "ZJ-ENT-02",
            "pledge",
            "list",
            "--pledgee",
            "ZJ-BANK-01",
        ],
        "PERMISSION_DENIED",
    );
    ok(
        &ep,
        &["--as", "ZJ-BANK-01", "pledge", "release", &pledge_id, "400"],
    );
    ok(
        &ep,
        &["--as", "ZJ-BANK-01", "pledge", "enforce", &pledge_id],
    );
    rejected(
        &ep,
        &["--as", "ZJ-BANK-01", "pledge", "enforce", &pledge_id],
        "ENCUMBRANCE_CLOSED",
    );
    let out = ok(
        &ep,
        &[
            "--json",
            "--as",
            "ZJ-REG",
            "freeze",
            "ZJ-ENT-02",
            "CEA:2025",
            "50",
            "--court-order",
            "(2026)浙01执9号",
        ],
    );
    let freeze_id = num(&json(&out)["effects"]["encumbranceId"]).to_string();
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "unfreeze",
            &freeze_id,
            "50",
            "--court-order",
            "(2026)浙01执9号之一",
        ],
    );

    // emissions, surrender, compliance
    rejected(
        &ep,
        &["surrender", "ZJ-ENT-02", "2025", "CEA:2025", "10"],
        "NO_VERIFIED_EMISSIONS",
    );
    ok(
        &ep,
        &[
            "--as",
            "ZJ-VER-01",
            "emissions",
            "report",
            "ZJ-ENT-02",
            "2025",
            "1000",
        ],
    );
    ok(
        &ep,
        &[
            "--as",
            "ZJ-VER-01",
            "emissions",
            "report",
            "ZJ-ENT-01",
            "2025",
            "9000",
        ],
    );
    ok(&ep, &["surrender", "ZJ-ENT-02", "2025", "CEA:2025", "600"]);
    rejected(
        &ep,
        &["surrender", "ZJ-ENT-02", "2025", "CEA:2025", "401"],
        "EXCEEDS_OBLIGATION",
    );
    let table = ok(&ep, &["compliance", "show", "2025"]);
    assert!(table.contains("ZJ-ENT-02") && table.contains("pending"));
    let csv_path = dir.path().join("compliance.csv");
    ok(
        &ep,
        &[
            "compliance",
            "show",
            "2025",
            "--csv",
            &csv_path.to_string_lossy(),
        ],
    );
    let csv_text = std::fs::read_to_string(&csv_path).expect("compliance csv");
    assert!(
        csv_text.starts_with("enterprise,")
            && csv_text.contains("ZJ-ENT-02,1000,1000,600,0,pending"),
        "{csv_text}"
    );
    let holdings_csv = dir.path().join("holdings.csv");
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "holdings",
            "ZJ-ENT-01",
            "--csv",
            &holdings_csv.to_string_lossy(),
        ],
    );
    assert!(std::fs::read_to_string(&holdings_csv)
        .expect("holdings csv")
        .contains("CEA:2025"));
    let disclosure_csv = dir.path().join("disclosure.csv");
    ok(
        &ep,
        &[
            "disclosure",
            "2025",
            "--csv",
            &disclosure_csv.to_string_lossy(),
        ],
    );
    assert!(std::fs::read_to_string(&disclosure_csv)
        .expect("disclosure csv")
        .contains("ZJ-ENT-02"));
    rejected(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "compliance",
            "close",
            "2025",
            "--deadline",
            "20991231",
        ],
        "DEADLINE_NOT_PASSED",
    );

    // cancellation, reads, disclosure, history, watch, chain, cluster
    ok(
        &ep,
        &[
            "transfer",
            "ZJ-PO-WIND",
            "ZJ-PILOT-AJ",
            "CCER:2025:P-W",
            "100",
        ],
    );
    ok(
        &ep,
        &[
            "cancel",
            "ZJ-PILOT-AJ",
            "CCER:2025:P-W",
            "40",
            "--beneficiary",
            "安吉余村",
            "--purpose",
            "碳中和",
        ],
    );
    rejected(
        &ep,
        &[
            "cancel",
            "ZJ-PILOT-AJ",
            "CCER:2025:P-W",
            "61",
            "--beneficiary",
            "安吉余村",
            "--purpose",
            "碳中和",
        ],
        "INSUFFICIENT_UNITS",
    );
    let h = json(&ok(
        &ep,
        &["--json", "--as", "ZJ-PILOT-AJ", "holdings", "ZJ-PILOT-AJ"],
    ));
    assert_eq!(num(&h["balances"][0]["available"]), 60);
    rejected(
        &ep,
        &["--as", "ZJ-ENT-01", "holdings", "ZJ-PILOT-AJ"],
        "PERMISSION_DENIED",
    );
    assert!(ok(&ep, &["--as", "ZJ-PILOT-AJ", "history", "ZJ-PILOT-AJ"]).contains("cancel"));
    assert!(
        ok(&ep, &["disclosure", "2026"]).contains("安吉余村")
            || ok(&ep, &["disclosure", "2025"]).contains("安吉余村")
    );
    let watched = ok(&ep, &["watch", "--from", "1", "--count", "3"]);
    assert_eq!(watched.lines().count(), 3);
    let export = dir.path().join("history.jsonl");
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "chain",
            "export",
            "--out",
            &export.to_string_lossy(),
        ],
    );
    assert!(ok(&ep, &["chain", "verify", &export.to_string_lossy()]).contains("verify"));
    replaying_an_export_catches_rewritten_outcomes(&ep, &export);
    assert!(ok(&ep, &["cluster", "status"]).contains("voter"));
    cluster.stop_all();
    audit_data_dir(&cluster.nodes[0].data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_plan_resumed_after_an_interruption_applies_each_row_once() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let dir = tempfile::tempdir().expect("tempdir");
    let ents = [
        "ZJ-ENT-01",
        "ZJ-ENT-02",
        "ZJ-ENT-03",
        "ZJ-ENT-04",
        "ZJ-ENT-05",
    ];
    for id in ents {
        let kf = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            &ep,
            &[
                "--as",
                "ZJ-REG",
                "account",
                "open",
                id,
                "--role",
                "enterprise",
                "--name",
                id,
                "--pubkey-file",
                &kf.to_string_lossy(),
            ],
        );
    }
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "vintage",
            "declare",
            "2025",
            "--cap",
            "100000000",
        ],
    );
    let plan = dir.path().join("plan.csv");
    let mut text = String::from("enterprise,vintage,kind,quantity\n");
    for (i, id) in ents.iter().enumerate() {
        text.push_str(&format!("{id},2025,pre,{}\n", (i + 1) * 1000));
        if i == 1 {
            text.push_str("ZJ-ENT-09,2025,pre,lots\n"); // line 4: bad quantity
        }
    }
    text.push_str("ZJ-ENT-99,2025,pre,5\n"); // well-formed, but no such account (a typo)
    std::fs::write(&plan, text).expect("plan");
    let plan_s = plan.to_string_lossy().into_owned();
    // Interrupted after two rows (exit 3: there is a bad row).
    let (code, _, err) = ctl(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "allocate",
            "--plan",
            &plan_s,
            "--stop-after",
            "2",
        ],
    );
    assert_eq!(code, REJECTED, "{err}");
    assert!(
        err.contains("line 4"),
        "bad rows are reported with their line: {err}"
    );
    // Resumed: the first two rows are recognised, the rest applied.
    let (code, _, err) = ctl(&ep, &["--as", "ZJ-REG", "allocate", "--plan", &plan_s]);
    assert_eq!(code, REJECTED);
    assert!(
        err.contains("3 committed now, 2 already committed, 1 rejected"),
        "{err}"
    );
    let report = std::fs::read_to_string(format!("{plan_s}.report.csv")).expect("report");
    assert!(report.contains("committed (earlier run)") && report.contains("BAD_ROW"));
    // The typo was refused by a dry run: never committed as a rejection.
    let typo = report
        .lines()
        .find(|l| l.contains("ZJ-ENT-99"))
        .expect("the typo's row");
    assert!(
        typo.contains("UNKNOWN_ACCOUNT") && typo.contains("found by a dry run"),
        "{typo}"
    );
    let history = ok(&ep, &["--as", "ZJ-REG", "history", "ZJ-REG"]);
    assert!(!history.contains("ZJ-ENT-99"), "{history}");
    for (i, id) in ents.iter().enumerate() {
        let h = json(&ok(&ep, &["--json", "--as", "ZJ-REG", "holdings", id]));
        assert_eq!(
            num(&h["balances"][0]["available"]),
            (i as u64 + 1) * 1000,
            "{id}"
        );
    }
    cluster.stop_all();
    audit_data_dir(&cluster.nodes[0].data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_zhejiang_demo_runs_on_a_three_node_cluster() {
    let mut cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let ep = cluster.endpoints();
    let out = ok(&ep, &["demo"]);
    assert!(out.contains("CREDIT_CAP_EXCEEDED"));
    // Repo, a loan used for surrender and returned, and the December penalty month.
    assert!(out.contains("sold 200,000 CEA to ZJ-BANK-01") && out.contains("the units are back"));
    assert!(out.contains("ZJ-ENT-01 lent 30,000 CEA to ZJ-ENT-07") && out.contains("closed"));
    // Rule 16: Lishui's platform, its 1,000 residents' week of reductions, PHCER cancelled.
    assert!(
        out.contains("opened 1,000 residents' personal accounts"),
        "{out}"
    );
    assert!(out.contains("ZJ-PLAT-LS sold them to ZJ-PILOT-AJ"), "{out}");
    let year = carbon_proto::dates::date_of(now_ms()) / 10_000;
    assert!(
        out.contains(&format!("CEA trades of {year}-12-01 to {year}-12-31")),
        "{out}"
    );
    // Step 12, rule 17: an OIMP authorisation, an export and a use for OIMP, both adjusted.
    assert!(
        out.contains("corresponding adjustments of 60000 t for 2025"),
        "{out}"
    );
    let a = json(&ok(&ep, &["--json", "art6", "--year", "2025"]));
    assert_eq!(
        a["exports"][0]["destinationRegistry"],
        "CH-NATIONAL-REGISTRY"
    );
    assert_eq!(a["adjustments"].as_array().map(Vec::len), Some(2));
    let c = json(&ok(&ep, &["--json", "compliance", "show", "2025"]));
    assert_eq!(c["yearClosed"], serde_json::Value::Bool(true));
    let records = c["records"].as_array().expect("records");
    assert_eq!(records.len(), 12);
    for r in records {
        let id = r["enterpriseId"].as_str().unwrap_or_default();
        if id == "ZJ-ENT-06" {
            assert_eq!(r["status"], "COMPLIANCE_STATUS_NON_COMPLIANT");
            assert_eq!(num(&r["shortfall"]), 100_000);
            assert_eq!(num(&r["penaltyFen"]), 100_000 * 9_000 * 5);
        } else {
            assert_eq!(r["status"], "COMPLIANCE_STATUS_COMPLIANT", "{id}");
            assert_eq!(num(&r["shortfall"]), 0);
        }
    }
    let credits = |id: &str| {
        records
            .iter()
            .find(|r| r["enterpriseId"] == id)
            .map_or(0, |r| num(&r["surrenderedCredits"]))
    };
    assert_eq!(
        (
            credits("ZJ-ENT-01"),
            credits("ZJ-ENT-02"),
            credits("ZJ-ENT-12")
        ),
        (575_000, 495_000, 150_000)
    );
    // The 2026 allocation of the short enterprise was reduced by its shortfall.
    let h = json(&ok(
        &ep,
        &["--json", "--as", "ZJ-REG", "holdings", "ZJ-ENT-06"],
    ));
    let b2026 = h["balances"]
        .as_array()
        .and_then(|b| {
            b.iter()
                .find(|b| num(&b["unitClass"]["vintage"]) == 2026)
                .cloned()
        })
        .expect("2026 balance");
    assert_eq!(num(&b2026["available"]), 434_000 - 100_000);
    let a = json(&ok(&ep, &["--json", "account", "show", "ZJ-ENT-06"]));
    assert_eq!(num(&a["outstandingShortfall"]), 0);
    // The history verifies offline; every replica holds the same chain and keeps the invariants.
    let dir = tempfile::tempdir().expect("tempdir");
    let export = dir.path().join("history.jsonl");
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "chain",
            "export",
            "--out",
            &export.to_string_lossy(),
        ],
    );
    ok(&ep, &["chain", "verify", &export.to_string_lossy()]);
    let head = json(&ok(&ep, &["--json", "chain", "head"]));
    cluster
        .wait_converged(&[0, 1, 2], num(&head["sequence"]), Duration::from_secs(30))
        .await;
    cluster.stop_all();
    let audited: Vec<_> = (0..3)
        .map(|i| audit_data_dir(&cluster.nodes[i].data_dir))
        .collect();
    assert!(audited.iter().all(|a| a == &audited[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_keys_and_account_come_from_the_config_file() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("carbonctl.toml");
    std::fs::write(
        &config,
        format!(
            "endpoints = [\"{}\"]\nkeys_dir = \"{}\"\naccount = \"ZJ-REG\"\nca = \"{}\"\n",
            cluster.nodes[0].client_addr,
            repo_root().join("seeds/keys").display(),
            pki::ca_file().display()
        ),
    )
    .expect("config");
    let run = |args: &[&str]| {
        std::process::Command::new(ctl_binary())
            .args(args)
            .env("CARBONCTL_CONFIG", &config)
            .env_remove("CARBON_ENDPOINTS")
            .env_remove("CARBON_KEYS_DIR")
            .env_remove("CARBON_ACCOUNT")
            .env_remove("CARBON_KEY")
            .output()
            .expect("carbonctl runs")
    };
    // A write signed as the configured account with the configured keys, then a signed read.
    let out = run(&["vintage", "declare", "2030", "--cap", "10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["history", "ZJ-REG"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("declare_vintage"));
    // A broken config file is an error, not silently ignored.
    std::fs::write(&config, "endpoints = 5\n").expect("config");
    assert_eq!(run(&["chain", "head"]).status.code(), Some(1));
}

/// Issue 7: a bulk plan re-run after its transactions expired reports the committed rows as
/// committed (the registry answers their first outcome), and re-signs the rows that never were.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_re_run_after_expiry_reports_committed_rows_as_committed() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let dir = tempfile::tempdir().expect("tempdir");
    let ents = ["ZJ-ENT-01", "ZJ-ENT-02", "ZJ-ENT-03"];
    for id in ents {
        let kf = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            &ep,
            &[
                "--as",
                "ZJ-REG",
                "account",
                "open",
                id,
                "--role",
                "enterprise",
                "--name",
                id,
                "--pubkey-file",
                &kf.to_string_lossy(),
            ],
        );
    }
    ok(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "vintage",
            "declare",
            "2025",
            "--cap",
            "100000000",
        ],
    );
    let plan = dir.path().join("plan.csv");
    let mut text = String::from("enterprise,vintage,kind,quantity\n");
    for (i, id) in ents.iter().enumerate() {
        text.push_str(&format!("{id},2025,pre,{}\n", (i + 1) * 1000));
    }
    std::fs::write(&plan, text).expect("plan");
    let plan_s = plan.to_string_lossy().into_owned();
    // Two rows committed, with transactions valid for 2 s; the third journalled, never sent.
    let (code, _, err) = ctl(
        &ep,
        &[
            "--as",
            "ZJ-REG",
            "--valid-for",
            "2",
            "allocate",
            "--plan",
            &plan_s,
            "--stop-after",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Every journalled transaction has expired: committed rows still report as committed; the
    // third is EXPIRED and never applied, so it leaves the journal.
    let (code, _, err) = ctl(&ep, &["--as", "ZJ-REG", "allocate", "--plan", &plan_s]);
    assert_eq!(code, REJECTED, "{err}");
    assert!(
        err.contains("0 committed now, 2 already committed, 1 rejected"),
        "{err}"
    );
    let report = std::fs::read_to_string(format!("{plan_s}.report.csv")).expect("report");
    assert_eq!(
        report.matches("committed (earlier run)").count(),
        2,
        "{report}"
    );
    assert!(report.contains("EXPIRED"), "{report}");
    // Run again: the expired row is signed anew and committed.
    let (code, _, err) = ctl(&ep, &["--as", "ZJ-REG", "allocate", "--plan", &plan_s]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 committed now, 2 already committed"),
        "{err}"
    );
    for (i, id) in ents.iter().enumerate() {
        let h = json(&ok(&ep, &["--json", "--as", "ZJ-REG", "holdings", id]));
        assert_eq!(
            num(&h["balances"][0]["available"]),
            (i as u64 + 1) * 1000,
            "{id}"
        );
    }
    cluster.stop_all();
    audit_data_dir(&cluster.nodes[0].data_dir);
}

/// Issue 8: `https://` means TLS; against `carbon-node dev`'s plaintext client API it fails with
/// a clear message (exit 1), and `http://` reaches it.
#[test]
fn https_endpoints_need_tls_and_say_so_against_a_plaintext_dev_node() {
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let client = format!("127.0.0.1:{}", free_port());
    let peer = format!("127.0.0.1:{}", free_port());
    let _node = Kill(
        std::process::Command::new(node_binary())
            .args(["dev", "--client-addr", &client, "--peer-addr", &peer])
            .args(["--metrics-addr", "off", "--disclosure-addr", "off"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--genesis")
            .arg(repo_root().join("seeds/genesis.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("carbon-node dev starts"),
    );
    let plain = [format!("http://{client}")];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ctl(&plain, &["chain", "head"]).0 != 0 {
        assert!(std::time::Instant::now() < deadline, "dev never served");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _, err) = ctl(&[format!("https://{client}")], &["chain", "head"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not speak TLS"), "{err}");
}

/// `carbon-node check` on an export replays it through the rules. A history whose outcome was
/// rewritten, with every later head recomputed, still passes `chain verify` (links and
/// signatures), and the replay refuses it; so it does a history whose time goes backwards. A
/// reworded message (free text, outside the chain) does not make a history forged.
fn replaying_an_export_catches_rewritten_outcomes(ep: &[String], export: &std::path::Path) {
    let check = |file: &std::path::Path| {
        let out = std::process::Command::new(node_binary())
            .arg("check")
            .arg(file)
            .arg("--genesis")
            .arg(repo_root().join("seeds/genesis.toml"))
            .output()
            .expect("carbon-node check runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (clean, text) = check(export);
    assert!(
        clean && text.contains("replayed through the rules"),
        "{text}"
    );

    let txs =
        carbon_proto::hex_json::read_export(&std::fs::read_to_string(export).expect("export"))
            .expect("parse");
    let genesis =
        carbon_proto::genesis::load(&repo_root().join("seeds/genesis.toml")).expect("genesis");
    // The history with `edit` applied to outcome `i` and every head from `i` on recomputed.
    let forge = |name: &str, i: usize, edit: &dyn Fn(&mut carbon_proto::v1::Outcome)| {
        let mut txs = txs.clone();
        edit(txs[i].outcome.as_mut().expect("outcome"));
        let mut head = match i {
            0 => carbon_proto::chain::genesis_head(&genesis).to_vec(),
            _ => txs[i - 1]
                .outcome
                .as_ref()
                .expect("outcome")
                .chain_head
                .clone(),
        };
        for t in &mut txs[i..] {
            let o = t.outcome.as_mut().expect("outcome");
            head = carbon_proto::chain::next_head(&head, o).to_vec();
            o.chain_head = head.clone();
        }
        let path = export.with_file_name(name);
        let lines: Vec<String> = txs
            .iter()
            .map(|t| carbon_proto::hex_json::export_line(t).expect("line"))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        assert!(ok(ep, &["chain", "verify", &path.to_string_lossy()]).contains("verify"));
        check(&path)
    };
    let moved = txs
        .iter()
        .position(|t| {
            t.outcome
                .as_ref()
                .and_then(|o| o.effects.as_ref())
                .is_some_and(|e| !e.moved.is_empty())
        })
        .expect("a transaction that moved units");
    let (clean, text) = forge("forged.jsonl", moved, &|o| {
        if let Some(e) = o.effects.as_mut() {
            e.moved[0].first += 1;
        }
    });
    assert!(!clean && text.contains("different outcome"), "{text}");
    let last = txs.len() - 1;
    let (clean, text) = forge("back-in-time.jsonl", last, &|o| {
        o.timestamp_ms -= 86_400_000
    });
    assert!(!clean && text.contains("goes back"), "{text}");
    let (clean, text) = forge("reworded.jsonl", moved, &|o| o.message = "reworded".into());
    assert!(clean, "a reworded message is not a forgery: {text}");
}
