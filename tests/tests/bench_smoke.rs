//! The benchmark's smoke run (`carbon-bench --quick`) against the node binary of this build: it
//! must complete and print its tables. Speed is never asserted here — no figure is checked,
//! only that every scenario ran and was reported.

use std::process::Command;
use std::time::Instant;

#[test]
fn quick_bench_completes_and_prints_its_tables() {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_carbon-bench"))
        .args([
            "--quick",
            "--no-postgres",
            "--txs",
            "600",
            "--seq-txs",
            "20",
        ])
        .args(["--secs", "1", "--open-secs", "0.5", "--verify-secs", "0.1"])
        .env("CARBON_NODE_BIN", carbon_tests::node_binary())
        .output()
        .expect("carbon-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "carbon-bench --quick failed ({}):\n{stdout}\n{stderr}",
        out.status
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
    println!("carbon-bench --quick took {:?}", t0.elapsed());
}
