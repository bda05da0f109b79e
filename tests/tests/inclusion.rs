//! Issue 18 (rule 16, carbon inclusion) through a real node over gRPC and `carbonctl`: a
//! platform opens personal accounts in bulk from a CSV (resumed after a stop, safe to re-run),
//! records reductions (a row over the daily cap named at its CSV line, the run resumed after
//! the CSV is fixed), a person's points and statement under the private-read rules, the
//! conversion into PHCER, and the public totals.

use carbon_proto::v1::*;
use carbon_tests::*;
use std::path::Path;
use std::time::Duration;

const REJECTED: i32 = 3;
const PLAT: &str = "ZJ-PLAT-LS";
const BUS: &str = "ZJ-PH-BUS-V01";

#[track_caller]
fn ok(ep: &[String], args: &[&str]) -> String {
    let (code, out, err) = ctl(ep, args);
    assert_eq!(code, 0, "carbonctl {args:?} failed: {err}{out}");
    out
}

#[track_caller]
fn fails(ep: &[String], args: &[&str], code: i32, text: &str) -> String {
    let (c, out, err) = ctl(ep, args);
    assert_eq!(
        c, code,
        "carbonctl {args:?}: expected exit {code}, got {c}: {err}{out}"
    );
    assert!(
        err.contains(text) || out.contains(text),
        "carbonctl {args:?}: expected {text:?} in {err}{out}"
    );
    err
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn num(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// The report's rows: line -> (result, sequence, message).
fn report(path: &Path) -> std::collections::BTreeMap<u64, (String, String, String)> {
    let text = std::fs::read_to_string(path).expect("report");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, ',').collect();
            let get = |i: usize| f.get(i).unwrap_or(&"").trim_matches('"').to_string();
            (get(0).parse().expect("line"), (get(3), get(4), get(5)))
        })
        .collect()
}

fn person(i: usize) -> String {
    format!("LS-P-{i:06}")
}

/// The regulator opens the platform `PLAT` with its demo key.
fn open_platform(ep: &[String]) {
    let key = repo_root().join(format!("seeds/keys/{PLAT}.json"));
    let key = key.to_string_lossy().to_string();
    let open = [
        "--as",
        REG,
        "account",
        "open",
        PLAT,
        "--role",
        "platform",
        "--name",
        "丽水市碳普惠平台",
        "--region",
        "丽水市",
        "--pubkey-file",
        &key,
    ];
    ok(ep, &open);
}

/// [`open_platform`], then allowed to open personal accounts.
fn open_allowed_platform(ep: &[String]) {
    open_platform(ep);
    ok(ep, &["--as", REG, "platform", "allow", PLAT]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_opens_records_and_converts_through_carbonctl() {
    let page = format!("127.0.0.1:{}", free_port());
    let mut spec = Spec::new(1);
    spec.config
        .push((0, format!("disclosure_addr = \"{page}\"")));
    let cluster = spec.start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    let dir = tempfile::tempdir().expect("tempdir");
    open_platform(&ep);
    let key = repo_root().join(format!("seeds/keys/{PLAT}.json"));
    let key = key.to_string_lossy().to_string();
    let people = dir.path().join("people.csv");
    let mut text = String::from("account_id,name\n");
    for i in 1..=25 {
        text.push_str(&format!("{},居民{i}\n", person(i)));
    }
    std::fs::write(&people, format!("{text},no id\n")).expect("write");
    let people_s = people.to_string_lossy().to_string();
    let open = |extra: &[&str]| {
        let mut a = vec![
            "--as",
            PLAT,
            "platform",
            "open-accounts",
            "--csv",
            &people_s,
        ];
        a.extend_from_slice(extra);
        ctl(&ep, &a)
    };
    // Not allowed yet: the dry run refuses the first transaction; nothing is committed.
    let (code, _, err) = open(&["--rows-per-tx", "10"]);
    assert_eq!(code, REJECTED, "{err}");
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert_eq!(rep[&2].0, "PERSONAL_ACCOUNTS_NOT_ALLOWED");
    ok(&ep, &["--as", REG, "platform", "allow", PLAT]);
    // A first run stopped after one transaction of 10 rows; the bad row is reported.
    let (code, _, err) = open(&["--rows-per-tx", "10", "--stop-after", "1"]);
    assert_eq!(code, REJECTED, "{err}");
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert_eq!(rep[&2].0, "committed");
    let first_seq = rep[&2].1.clone();
    assert_eq!(rep[&12].0, "not submitted");
    assert_eq!(rep[&27].0, "BAD_ROW");
    // Resumed: the journalled first transaction is answered with its first outcome.
    let (code, _, err) = open(&["--rows-per-tx", "10"]);
    assert_eq!(code, REJECTED, "the bad row is still there: {err}");
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert_eq!(rep[&2].0, "committed (earlier run)");
    assert_eq!(rep[&2].1, first_seq);
    assert_eq!(rep[&26].0, "committed");
    // The bad row fixed away: a re-run changes nothing and succeeds.
    std::fs::write(&people, &text).expect("write");
    open(&["--rows-per-tx", "10"]);
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert!(
        rep.values().all(|r| r.0 == "committed (earlier run)"),
        "{rep:?}"
    );
    let a = json(&ok(&ep, &["--json", "account", "show", &person(7)]));
    assert_eq!(a["platformId"], PLAT);
    assert_eq!(a["custodial"], true);

    ok(
        &ep,
        &[
            "--as",
            REG,
            "inclusion",
            "methodology",
            "approve",
            BUS,
            "--behaviour",
            "公交出行",
            "--platforms",
            PLAT,
            "--daily-cap-grams",
            "100000",
        ],
    );
    // 25 persons x 60 kg, but line 14 (person 13) over the 100 kg cap.
    let rides = dir.path().join("rides.csv");
    let rides_text = |over: bool| {
        let mut t = String::from("account_id,grams\n");
        for i in 1..=25 {
            let g = if over && i == 13 { 100_001 } else { 60_000 };
            t.push_str(&format!("{},{g}\n", person(i)));
        }
        t
    };
    std::fs::write(&rides, rides_text(true)).expect("write");
    let rides_s = rides.to_string_lossy().to_string();
    let date = carbon_proto::dates::format_date(carbon_proto::dates::date_of(now_ms()));
    let year = carbon_proto::dates::date_of(now_ms()) / 10_000;
    let record = [
        "--as",
        PLAT,
        "platform",
        "record",
        "--csv",
        &rides_s,
        "--methodology",
        BUS,
        "--date",
        &date,
        "--rows-per-tx",
        "10",
    ];
    let err = fails(&ep, &record, REJECTED, "rows in refused transactions");
    assert!(err.contains("rejected: DAILY_CAP_EXCEEDED"), "{err}");
    let rep = report(&dir.path().join("rides.csv.report.csv"));
    assert_eq!(rep[&2].0, "committed");
    assert_eq!(rep[&14].0, "DAILY_CAP_EXCEEDED", "{rep:?}");
    assert!(rep[&14].2.contains("row 3"), "{:?}", rep[&14]);
    assert_eq!(rep[&13].0, "NOT_APPLIED");
    assert!(rep[&13].2.contains("line 14"));
    assert_eq!(rep[&22].0, "committed");
    // Fixed and re-run: the first transactions are not recorded twice.
    std::fs::write(&rides, rides_text(false)).expect("write");
    ok(&ep, &record);
    let rep = report(&dir.path().join("rides.csv.report.csv"));
    assert_eq!(rep[&2].0, "committed (earlier run)");
    assert_eq!(rep[&14].0, "committed");
    ok(&ep, &record);

    // Points: the platform, and the person (custodial: the platform's key), see them.
    let p = json(&ok(&ep, &["--json", "--as", PLAT, "points", &person(13)]));
    assert_eq!(num(&p["points"][0]["grams"]), 60_000, "{p}");
    let p1 = person(1);
    let own = [
        "--json",
        "--as",
        &p1,
        "--key",
        &key,
        "points",
        &p1,
        "--statement",
    ];
    let s = json(&ok(&ep, &own));
    assert_eq!(s.as_array().map(Vec::len), Some(1), "{s}");
    // Another person of the same platform (same custodial key) may not read them.
    let p2 = person(2);
    let (code, _, err) = ctl(&ep, &["--as", &p2, "--key", &key, "points", &p1]);
    assert_ne!(code, 0);
    assert!(err.contains("may not read"), "{err}");
    let mut c = cluster.client(0).await;
    let denied = c
        .get_points(GetPointsRequest {
            account_id: p1.clone(),
            ..Default::default()
        })
        .await
        .expect_err("points are private");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // 25 x 60 kg = 1.5 t: one PHCER, 0.5 t waits.
    let year_s = year.to_string();
    let convert = [
        "--as",
        REG,
        "inclusion",
        "convert",
        "--platform",
        PLAT,
        "--methodology",
        BUS,
        "--year",
        &year_s,
    ];
    let out = ok(&ep, &convert);
    assert!(out.contains("1000000 g converted into 1 PHCER"), "{out}");
    fails(&ep, &convert, REJECTED, "NOTHING_TO_CONVERT");
    let l = json(&ok(&ep, &["--json", "inclusion", "list"]));
    let t = &l["totals"][0];
    assert_eq!(t["city"], "丽水市");
    assert_eq!(
        (num(&t["recordedGrams"]), num(&t["convertedGrams"])),
        (1_500_000, 1_000_000)
    );
    let d = c
        .get_disclosure(GetDisclosureRequest {
            year,
            ..Default::default()
        })
        .await
        .expect("disclosure")
        .into_inner();
    assert_eq!(d.inclusion.len(), 1);
    assert_eq!(d.inclusion[0].converted_grams, 1_000_000);
    // The public page shows the same totals, in tonnes, and no person.
    for lang in ["zh", "en"] {
        let (status, html) = http_get(&page, &format!("/?year={year}&lang={lang}")).expect("page");
        assert_eq!(status, 200);
        let section = html
            .split("<section id=\"inclusion\">")
            .nth(1)
            .expect("section");
        let section = section.split("</section>").next().unwrap_or_default();
        for text in [BUS, PLAT, "丽水市", "<td>1.500</td>", "<td>1.000</td>"] {
            assert!(section.contains(text), "{lang}: {text} in {section}");
        }
        assert!(!section.contains(&person(1)), "{section}");
    }
    let class = format!("PHCER:{year}:{BUS}");
    let h = json(&ok(&ep, &["--json", "--as", PLAT, "holdings", PLAT]));
    assert_eq!(num(&h["balances"][0]["available"]), 1, "{h} {class}");
}

/// Submits until the answer is not UNAVAILABLE (a leader just elected admits writes after its
/// first watchdog tick), for at most ten seconds.
async fn submit_admitted(
    c: &mut carbon_proto::v1::registry_client::RegistryClient<tonic::transport::Channel>,
    tx: SignedTx,
) -> Submitted {
    for _ in 0..50 {
        let s = submit(c, tx.clone()).await;
        if s.code() != ErrorCode::Unavailable {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    submit(c, tx).await
}

fn persons(platform: &str, from: usize, n: usize) -> SignedTx {
    let op = tx_body::Operation::OpenPersonalAccounts(OpenPersonalAccounts {
        platform_id: platform.into(),
        region: "丽水市".into(),
        accounts: (from..from + n)
            .map(|i| PersonalAccount {
                account_id: format!("PACE-P-{i:06}"),
                name: String::new(),
            })
            .collect(),
    });
    sign(&body(&[platform], op), &[&test_key(platform)])
}

async fn chain_sequence(
    c: &mut carbon_proto::v1::registry_client::RegistryClient<tonic::transport::Channel>,
) -> u64 {
    c.get_chain_head(GetChainHeadRequest::default())
        .await
        .expect("chain head")
        .into_inner()
        .sequence
}

/// The leader paces bulk rows (`write::bulk`). At `bulk_rows_per_second = 100`: 100 rows go at
/// once, 900 more wait for their turn (about a second), and the next bulk transaction, whose
/// turn would come ~10 s later, is refused with RESOURCE_EXHAUSTED and records nothing; a
/// transaction without rows is not paced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_paces_bulk_rows_and_refuses_what_would_wait_too_long() {
    let mut spec = Spec::new(1);
    spec.config.push((0, "bulk_rows_per_second = 100".into()));
    let cluster = spec.start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let reg = demo_key(REG);
    let plat = "PACE-PLAT";
    let open = sign(
        &body(&[REG], open_account_op(plat, Role::Platform)),
        &[&reg],
    );
    assert_eq!(submit_admitted(&mut c, open).await.code(), ErrorCode::Ok);
    let allow = tx_body::Operation::AllowPersonalAccounts(AllowPersonalAccounts {
        platform_id: plat.into(),
        allowed: true,
    });
    let allow = sign(&body(&[REG], allow), &[&reg]);
    assert_eq!(submit(&mut c, allow).await.code(), ErrorCode::Ok);

    assert_eq!(
        submit(&mut c, persons(plat, 0, 100)).await.code(),
        ErrorCode::Ok
    );
    let t0 = std::time::Instant::now();
    assert_eq!(
        submit(&mut c, persons(plat, 100, 900)).await.code(),
        ErrorCode::Ok
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "900 rows right after 100 waited their turn: {:?}",
        t0.elapsed()
    );
    let before = chain_sequence(&mut c).await;
    match submit(&mut c, persons(plat, 1_000, 100)).await {
        Submitted::Error(code, message) => {
            assert_eq!(code, ErrorCode::ResourceExhausted, "{message}");
            assert!(message.contains("bulk_rows_per_second"), "{message}");
        }
        other => panic!("a bulk transaction ~10 s away was answered {other:?}"),
    }
    assert_eq!(chain_sequence(&mut c).await, before, "nothing was recorded");
    let metrics = cluster.metrics(0);
    let count = |name: &str| sample(&metrics, name, "").unwrap_or(0.0);
    assert_eq!(count("carbon_bulk_rows_waited_total"), 900.0);
    assert_eq!(count("carbon_bulk_rows_refused_total"), 100.0);
    // In one request beside a bulk transaction refused for its turn, a transaction without
    // rows is not held or refused with it.
    let other = sign(
        &body(&[REG], open_account_op("PACE-ENT", Role::Enterprise)),
        &[&reg],
    );
    let t1 = std::time::Instant::now();
    let results = c
        .submit_batch(SubmitBatchRequest {
            txs: vec![persons(plat, 2_000, 100), other],
        })
        .await
        .expect("submit batch")
        .into_inner()
        .results;
    assert!(t1.elapsed() < Duration::from_secs(3), "{:?}", t1.elapsed());
    match &results[0].result {
        Some(submit_result::Result::Error(d)) => {
            assert_eq!(d.code(), ErrorCode::ResourceExhausted, "{d:?}");
            assert_eq!(d.fate(), Fate::NotApplied, "{d:?}");
        }
        other => panic!("the bulk transaction was answered {other:?}"),
    }
    match &results[1].result {
        Some(submit_result::Result::Outcome(o)) => assert_eq!(o.code(), ErrorCode::Ok, "{o:?}"),
        other => panic!("the transaction without rows was answered {other:?}"),
    }
}

/// carbonctl's bulk path waits for a pacing leader: at `bulk_rows_per_second = 100`, a second
/// transaction of 500 rows right after the first would wait 5 s on the leader, more than it
/// holds one; it is refused (RESOURCE_EXHAUSTED, not applied) and carbonctl sends the same
/// bytes again after a pause until the leader takes them. Every row is committed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbonctl_waits_for_a_leader_that_paces_bulk_rows() {
    let mut spec = Spec::new(1);
    spec.config.push((0, "bulk_rows_per_second = 100".into()));
    let cluster = spec.start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    open_allowed_platform(&ep);
    let dir = tempfile::tempdir().expect("tempdir");
    let people = dir.path().join("people.csv");
    let mut text = String::from("account_id,name\n");
    for i in 1..=1_000 {
        text.push_str(&format!("{},\n", person(i)));
    }
    std::fs::write(&people, text).expect("write");
    let people_s = people.to_string_lossy().to_string();
    let args = [
        "--as",
        PLAT,
        "platform",
        "open-accounts",
        "--csv",
        &people_s,
        "--rows-per-tx",
        "500",
    ];
    ok(&ep, &args);
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert!(rep.values().all(|r| r.0 == "committed"), "{rep:?}");
    let a = json(&ok(&ep, &["--json", "account", "show", &person(1_000)]));
    assert_eq!(a["platformId"], PLAT);
}

/// `--dry-run` checks a bulk file and sends nothing (no journal either); `--unsigned-out` is
/// refused for the bulk commands (they sign their own transactions), as both are for
/// `allocate --plan`; nothing is recorded by any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_bulk_file_sends_nothing() {
    let cluster = Spec::new(1).start();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    open_allowed_platform(&ep);
    let dir = tempfile::tempdir().expect("tempdir");
    let people = dir.path().join("people.csv");
    std::fs::write(
        &people,
        format!("account_id,name\n{},\n{},\n", person(1), person(2)),
    )
    .expect("write");
    let people_s = people.to_string_lossy().to_string();
    let bulk = ["platform", "open-accounts", "--csv", &people_s];
    let head = ok(&ep, &["--json", "chain", "head"]);
    let dry: Vec<&str> = ["--as", PLAT, "--dry-run"]
        .iter()
        .chain(&bulk)
        .copied()
        .collect();
    ok(&ep, &dry);
    let rep = report(&dir.path().join("people.csv.report.csv"));
    assert!(
        rep.values().all(|r| r.0 == "would commit (dry run)"),
        "{rep:?}"
    );
    assert!(!dir.path().join("people.csv.open.journal").exists());
    let out = dir.path().join("unsigned.json");
    let out_s = out.to_string_lossy().to_string();
    let unsigned: Vec<&str> = ["--as", PLAT, "--unsigned-out", &out_s]
        .iter()
        .chain(&bulk)
        .copied()
        .collect();
    let (code, _, err) = ctl(&ep, &unsigned);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--unsigned-out does not apply"), "{err}");
    // A file's own mistakes are bad rows, named by line, before anything is sent.
    let twice = dir.path().join("twice.csv");
    let text = format!(
        "account_id,name\n{0},\n{0},\n{1},a,b\n",
        person(3),
        person(4)
    );
    std::fs::write(&twice, text).expect("write");
    let twice_s = twice.to_string_lossy().to_string();
    let args = [
        "--as",
        PLAT,
        "--dry-run",
        "platform",
        "open-accounts",
        "--csv",
        &twice_s,
    ];
    fails(&ep, &args, REJECTED, "2 bad rows");
    let rep = report(&dir.path().join("twice.csv.report.csv"));
    assert_eq!(rep[&3].0, "BAD_ROW", "{rep:?}");
    assert!(rep[&3].2.contains("also on line 2"), "{rep:?}");
    assert!(rep[&4].2.contains("3 columns"), "{rep:?}");
    let plan = repo_root().join("seeds/demo/plan-2025.csv");
    let plan = plan.to_string_lossy().to_string();
    let (code, _, err) = ctl(
        &ep,
        &["--as", REG, "--dry-run", "allocate", "--plan", &plan],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("do not apply to allocate --plan"), "{err}");
    assert_eq!(
        ok(&ep, &["--json", "chain", "head"]),
        head,
        "nothing was recorded"
    );
    let (code, _, _) = ctl(&ep, &["--json", "account", "show", &person(1)]);
    assert_ne!(code, 0, "the dry run opened no account");
}
