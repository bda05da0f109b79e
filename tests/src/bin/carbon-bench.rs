//! Throughput benchmark: starts a local cluster of real nodes (release build recommended) and
//! measures committed transfers per second three ways, side by side in one run:
//! one client submitting one at a time, many concurrent `Submit`s, and `SubmitBatch`.
//! Prints figures, node memory (RSS) and disk use. It asserts nothing about speed.
//!
//! `cargo run --release -p carbon-tests --bin carbon-bench -- [nodes] [txs per mode] [snapshot every N entries]`

use carbon_proto::v1::{
    submit_result, tx_body::Operation, Allocate, DeclareVintage, ErrorCode, Role, SignedTx,
    SubmitBatchRequest, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::time::{Duration, Instant};

const SINK: &str = "BENCH-SINK";
const SENDER: &str = "BENCH-SENDER";

fn transfers(n: usize) -> Vec<SignedTx> {
    (0..n)
        .map(|_| {
            let op = Operation::Transfer(Transfer {
                from_account: SENDER.into(),
                to_account: SINK.into(),
                unit_class: Some(UnitClass {
                    kind: UnitKind::Cea as i32,
                    vintage: 2025,
                    project_id: String::new(),
                }),
                quantity: 1,
            });
            sign(&body(&[SENDER], op), &[&test_key(SENDER)])
        })
        .collect()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn du_kb(path: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        let Ok(md) = std::fs::metadata(p) else {
            return 0;
        };
        if md.is_dir() {
            std::fs::read_dir(p)
                .map(|d| d.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0)
        } else {
            md.len()
        }
    }
    walk(path) / 1024
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let snapshot_logs: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(nodes, n, snapshot_logs));
}

async fn run(nodes: usize, n: usize, snapshot_logs: u64) {
    let cluster = Cluster::start(nodes, snapshot_logs);
    let leader = cluster
        .wait_for_leader(&(0..nodes).collect::<Vec<_>>(), Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    let reg = |op| sign(&body(&[REG], op), &[&demo_key(REG)]);
    for t in [
        reg(open_account_op(SINK, Role::Enterprise)),
        reg(open_account_op(SENDER, Role::Enterprise)),
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 100_000_000,
        })),
        reg(Operation::Allocate(Allocate {
            enterprise_id: SENDER.into(),
            vintage: 2025,
            quantity: 50_000_000,
        })),
    ] {
        assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    }
    println!("carbon-bench: {nodes} node(s), {n} transfers per mode, client on the leader");

    // 1. One client, one transaction at a time.
    let txs = transfers(n / 10);
    let t0 = Instant::now();
    for t in txs.iter() {
        assert_eq!(submit(&mut c, t.clone()).await.code(), ErrorCode::Ok);
    }
    let sequential = txs.len() as f64 / t0.elapsed().as_secs_f64();

    // 2. 256 concurrent Submit calls.
    let txs = transfers(n);
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for chunk in txs.chunks(n.div_ceil(256)) {
        let mut c = c.clone();
        let chunk = chunk.to_vec();
        handles.push(tokio::spawn(async move {
            for t in chunk {
                assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let concurrent = n as f64 / t0.elapsed().as_secs_f64();

    // 3. SubmitBatch of 500 from 8 concurrent clients.
    let txs = transfers(n);
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for chunk in txs.chunks(500) {
        let mut c = c.clone();
        let chunk = chunk.to_vec();
        handles.push(tokio::spawn(async move {
            let r = c
                .submit_batch(SubmitBatchRequest { txs: chunk })
                .await
                .expect("batch")
                .into_inner();
            assert!(r.results.iter().all(|r| matches!(
                &r.result,
                Some(submit_result::Result::Outcome(o)) if o.code() == ErrorCode::Ok
            )));
        }));
        if handles.len() >= 8 {
            handles.remove(0).await.expect("task");
        }
    }
    for h in handles {
        h.await.expect("task");
    }
    let batched = n as f64 / t0.elapsed().as_secs_f64();

    let (seq, _) = cluster
        .wait_converged(&(0..nodes).collect::<Vec<_>>(), 0, Duration::from_secs(60))
        .await;
    println!("  sequential Submit   : {sequential:>9.0} tx/s");
    println!(
        "  256 concurrent      : {concurrent:>9.0} tx/s  ({:.1}x sequential)",
        concurrent / sequential
    );
    println!(
        "  SubmitBatch x500    : {batched:>9.0} tx/s  ({:.1}x sequential)",
        batched / sequential
    );
    println!("  chain sequence after: {seq}");
    for node in &cluster.nodes {
        let pid = node.child.as_ref().map_or(0, |c| c.id());
        println!(
            "  node {}: RSS {} MiB, data dir {} MiB",
            node.id,
            rss_kb(pid) / 1024,
            du_kb(&node.data_dir) / 1024
        );
    }
}
