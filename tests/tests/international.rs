//! Issue 17 item 3 through a real node over gRPC and `carbonctl`: rule 17 (Paris Agreement
//! art. 6): an issuance authorised for OIMP, an export (holder and regulator sign), a
//! cancellation for OIMP, rejections with their codes, the public read paged without a
//! credential, the disclosure page's Article 6 section, and `carbon-node check` replaying it all
//! from the stopped node's data directory.

use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::*;
use carbon_tests::*;
use std::time::Duration;
use tonic::transport::Channel;

const REJECTED: i32 = 3;
const OWNER: &str = "ZJ-PO-WIND";
const ENT: &str = "ZJ-ENT-01";
const PROJECT: &str = "ZJ-ZS-WIND-001";
const CLASS: &str = "CCER:2025:ZJ-ZS-WIND-001";

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

/// The owner and an enterprise, the wind project approved, 1,000 credits issued for 2025.
fn setup(ep: &[String]) {
    for (id, role) in [(OWNER, "project-owner"), (ENT, "enterprise")] {
        let key = repo_root().join(format!("seeds/keys/{id}.json"));
        ok(
            ep,
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
                "--pubkey-file",
                &key.to_string_lossy(),
            ],
        );
    }
    ok(
        ep,
        &[
            "--as",
            OWNER,
            "project",
            "propose",
            PROJECT,
            "--owner",
            OWNER,
            "--kind",
            "ccer",
            "--name",
            "舟山海上风电",
            "--methodology",
            "CCER-01-001-V01",
            "--start",
            "2021",
            "--end",
            "2030",
        ],
    );
    ok(ep, &["--as", REG, "project", "approve", PROJECT]);
    ok(ep, &["--as", REG, "issue", PROJECT, "2025", "1000"]);
}

/// Every page of the public read, without a credential, `page_size` records a page.
async fn all_pages(
    c: &mut RegistryClient<Channel>,
    year: u32,
    page_size: u32,
) -> (ListInternationalTransfersResponse, usize) {
    let mut all = ListInternationalTransfersResponse::default();
    let mut pages = 0;
    loop {
        let r = c
            .list_international_transfers(ListInternationalTransfersRequest {
                year,
                page_size,
                page_token: std::mem::take(&mut all.next_page_token),
                ..Default::default()
            })
            .await
            .expect("a public read")
            .into_inner();
        pages += 1;
        let n = r.authorisations.len() + r.exports.len() + r.adjustments.len();
        assert!(
            n <= page_size as usize,
            "a page holds at most page_size records"
        );
        all.authorisations.extend(r.authorisations);
        all.exports.extend(r.exports);
        all.adjustments.extend(r.adjustments);
        if r.next_page_token.is_empty() {
            return (all, pages);
        }
        all.next_page_token = r.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn art6_authorisation_export_and_oimp_use_through_a_real_node() {
    let (mut cluster, url) = Cluster::start_with_page();
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let ep = cluster.endpoints();
    setup(&ep);
    // Not authorised yet: no export, no cancellation for OIMP.
    let export = [
        "--as",
        REG,
        "export",
        OWNER,
        CLASS,
        "300",
        "--to-registry",
        "CH-NATIONAL-REGISTRY",
        "--to-account",
        "CH-KLIK-0001",
    ];
    rejected(&ep, &export, "UNITS_NOT_AUTHORISED");
    let authorise = [
        "--as",
        REG,
        "units",
        "authorise",
        PROJECT,
        "--year",
        "2025",
        "--purpose",
        "oimp",
        "--reference",
        "LoA-CN-2026-001",
    ];
    let out = ok(&ep, &authorise);
    assert!(out.contains("authorised for OIMP"), "{out}");
    rejected(&ep, &authorise, "ALREADY_AUTHORISED");
    let mut by_owner = authorise;
    by_owner[1] = OWNER;
    rejected(&ep, &by_owner, "ROLE_NOT_PERMITTED");
    // The holder alone cannot export: the regulator signs too.
    let mut alone = export;
    alone[1] = OWNER;
    rejected(&ep, &alone, "ROLE_NOT_PERMITTED");
    let out = ok(&ep, &export);
    assert!(
        out.contains("exported to CH-NATIONAL-REGISTRY for good"),
        "{out}"
    );
    let cancel = |purpose: &'static str, q: &'static str| {
        [
            "--as",
            OWNER,
            "cancel",
            OWNER,
            CLASS,
            q,
            "--beneficiary",
            "某航空公司",
            "--purpose",
            "CORSIA 抵消",
            "--mitigation-purpose",
            purpose,
        ]
    };
    rejected(&ep, &cancel("ndc", "10"), "UNITS_NOT_AUTHORISED");
    let (code, _, err) = ctl(&ep, &cancel("xyz", "10"));
    assert!(code == 1 && err.contains("give ndc"), "{code}: {err}");
    ok(&ep, &cancel("oimp", "100"));
    rejected(&ep, &cancel("oimp", "601"), "INSUFFICIENT_UNITS");
    // Units sent to another account stay authorised; a zero export is refused.
    ok(&ep, &["--as", OWNER, "transfer", OWNER, ENT, CLASS, "50"]);
    let mut zero = export;
    zero[3] = ENT;
    zero[5] = "0";
    rejected(&ep, &zero, "ZERO_AMOUNT");

    // The public read: no credential, paged one record a page.
    let mut c = connect(&ep[0]).await;
    let (r, pages) = all_pages(&mut c, 2025, 1).await;
    assert_eq!(pages, 4, "one authorisation, one export, two adjustments");
    assert_eq!(
        r.authorisations[0].authorisation_reference,
        "LoA-CN-2026-001"
    );
    assert_eq!(r.exports[0].quantity, 300);
    assert_eq!(r.exports[0].destination_account, "CH-KLIK-0001");
    let triggers: Vec<_> = r
        .adjustments
        .iter()
        .map(|a| (a.trigger(), a.quantity))
        .collect();
    assert_eq!(
        triggers,
        vec![
            (AdjustmentTrigger::FirstTransfer, 300),
            (AdjustmentTrigger::OimpUse, 100)
        ]
    );
    let (other, _) = all_pages(&mut c, 2024, 10).await;
    assert!(other.exports.is_empty() && other.authorisations.is_empty());
    let bad = c
        .list_international_transfers(ListInternationalTransfersRequest {
            year: 2025,
            page_token: vec![9, 9, 9],
            ..Default::default()
        })
        .await
        .expect_err("a token no page gave out");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    // Exported units are counted out of the holder's balance for good.
    let out = ok(&ep, &["--as", OWNER, "holdings", OWNER]);
    assert!(
        out.contains("550"),
        "1,000 - 300 exported - 100 cancelled - 50 sent: {out}"
    );

    // carbonctl art6 prints the three lists (public: no --as).
    let out = ok(&ep, &["art6", "--year", "2025", "--page-size", "1"]);
    for want in [
        "LoA-CN-2026-001",
        "CH-NATIONAL-REGISTRY",
        "first transfer (export)",
        "use for OIMP",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }

    // The disclosure page's section for 2025.
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let (status, page) = http_get(addr, "/?year=2025").expect("the page");
    assert_eq!(status, 200);
    for want in [
        "Article 6 / 国际转让",
        "LoA-CN-2026-001",
        "首次国际转让",
        "用于其他国际减缓目的",
    ] {
        assert!(page.contains(want), "the page shows {want}");
    }

    // carbon-node check replays the stopped node's whole history, rule 17 included.
    cluster.stop_all();
    let dir = cluster.nodes[0].data_dir.display().to_string();
    let (code, out, err) = node_tool(&["check", &dir, "--genesis", "seeds/genesis.toml"]);
    assert_eq!(code, 0, "check: {out}{err}");
    assert!(out.contains("replayed through the rules"), "{out}");
}
