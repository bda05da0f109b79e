//! The benchmark's smoke run (`carbon-bench --quick`) against the node binary of this build: it
//! must complete and print its tables. Speed is never asserted here — no figure is checked,
//! only that every scenario ran and was reported.

use std::process::Command;
use std::time::Instant;

/// Runs carbon-bench (`what` names the run in a failure) on this build's node; its stdout.
fn bench(what: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_carbon-bench"))
        .args(args)
        .env("CARBON_NODE_BIN", carbon_tests::node_binary())
        .output()
        .expect("carbon-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "carbon-bench {what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn quick_bench_completes_and_prints_its_tables() {
    let t0 = Instant::now();
    let stdout = bench(
        "--quick",
        &[
            "--quick",
            "--no-postgres",
            "--txs",
            "600",
            "--seq-txs",
            "20",
            "--secs",
            "1",
            "--open-secs",
            "0.5",
            "--verify-secs",
            "0.1",
        ],
    );
    for line in [
        "ed25519 on one core",
        "===== carbon-bench results",
        "--- 1 node(s): committed transfers per second",
        "--- 3 node(s): committed transfers per second",
        "uniform Submit x256",
        "uniform SubmitBatch 500 x8",
        "one-hot SubmitBatch 500 x8",
        "open loop, uniform Submit at a fixed rate",
        "per committed transfer, by role",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    println!("{stdout}\ncarbon-bench --quick took {:?}", t0.elapsed());
}

/// `--endpoints`: the bench against a cluster it did not start (the harness's), through the CA
/// file a user would give it; no /proc figures then, the tables all the same.
#[tokio::test]
async fn bench_runs_against_an_existing_cluster() {
    let cluster = carbon_tests::Cluster::start(1, 10_000);
    cluster
        .wait_for_leader(&[0], std::time::Duration::from_secs(30))
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_carbon-bench"))
        .arg("--endpoints")
        .arg(cluster.endpoints().join(","))
        .arg("--ca")
        .arg(carbon_tests::pki::ca_file())
        .args([
            "--quick",
            "--no-postgres",
            "--accounts",
            "200",
            "--txs",
            "300",
        ])
        .args([
            "--seq-txs",
            "10",
            "--secs",
            "1",
            "--open-secs",
            "0.5",
            "--verify-secs",
            "0.1",
        ])
        .output()
        .await
        .expect("carbon-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "carbon-bench --endpoints failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    for line in [
        "--- 1 node(s): committed transfers per second",
        "cluster",
        "uniform SubmitBatch 100 x8",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
}

/// `--inclusion N` (issue 18's scale run), small: a platform opens N persons in bulk, records a
/// day for them and converts, beside other users' transfers; it must complete and print its
/// step table and per-member totals with every step committed.
#[test]
fn inclusion_scale_run_completes_and_prints_its_tables() {
    let stdout = bench(
        "--inclusion",
        &[
            "--nodes",
            "1",
            "--inclusion",
            "20000",
            "--accounts",
            "50",
            "--rate",
            "50",
            "--open-secs",
            "0.5",
            "--verify-secs",
            "0.05",
        ],
    );
    for line in [
        "--- carbon inclusion at scale",
        "open accounts         20000     2",
        "record a day          20000     2",
        "convert               20000     1",
        "--- per member, over the bulk steps",
        "member 0: written",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("failed"), "{stdout}");
}
