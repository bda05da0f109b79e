//! `carbon-bench`: throughput, latency and per-transaction resources of the registry, through
//! its public gRPC API, beside the ed25519 bound and a PostgreSQL baseline measured in the same
//! run. Prints; asserts nothing about speed. docs/BENCHMARKS.md has the commands and the figures.
//!
//! ```text
//! cargo build --release -p carbon-tests --bin carbon-bench -p carbon-node
//! target/release/carbon-bench                                   # 3 nodes of target/release/carbon-node
//! target/release/carbon-bench --compare OLD_BIN NEW_BIN --rounds 2
//! target/release/carbon-bench --quick                           # CI smoke: 1 and 3 nodes, small
//! target/release/carbon-bench --endpoints h1:50051,h2:50051 --ca ca.pem
//! ```

use anyhow::{bail, Result};
use carbon_tests::bench::run::{self, Build, Options};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "carbon-bench",
    about = "Benchmark of the carbon registry through its gRPC API"
)]
struct Args {
    /// The node binary of local clusters (default: CARBON_NODE_BIN, or carbon-node next to this binary).
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// Two node binaries: the same scenarios run against each in turn (A B A B ...), ratios new/old.
    #[arg(long, num_args = 2, value_names = ["OLD_BIN", "NEW_BIN"])]
    compare: Vec<PathBuf>,
    /// Node counts of local clusters, e.g. 1,3 (default 3; --quick: 1,3).
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<usize>,
    /// Rounds: every build is measured once per round, alternating.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Accounts of the uniform load (default 10000; --quick: 1000).
    #[arg(long)]
    accounts: Option<usize>,
    /// CEA units allocated to each account (a sender never sends more transfers than this).
    #[arg(long, default_value_t = 1_000)]
    fund_units: u64,
    /// Seed of the accounts' keys and of the transfers' choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Most transfers signed for one closed-loop phase (default 200000; --quick: 1500).
    #[arg(long)]
    txs: Option<usize>,
    /// Transfers of the Submit x1 phases (default 2000; --quick: 50).
    #[arg(long)]
    seq_txs: Option<usize>,
    /// Longest a closed-loop phase sends, seconds (default 15; --quick: 4).
    #[arg(long)]
    secs: Option<f64>,
    /// Length of the open loop, seconds (default 15; --quick: 2).
    #[arg(long)]
    open_secs: Option<f64>,
    /// Open-loop rate, tx/s (default: half the Submit x256 uniform rate measured just before).
    #[arg(long)]
    rate: Option<f64>,
    /// Concurrent SubmitBatch clients.
    #[arg(long, default_value_t = 8)]
    batch_clients: usize,
    /// Skip the PostgreSQL baseline.
    #[arg(long)]
    no_postgres: bool,
    /// Run the PostgreSQL baseline in --quick mode too.
    #[arg(long)]
    postgres: bool,
    /// pgbench client counts.
    #[arg(long, value_delimiter = ',', default_values_t = [16usize, 256])]
    pg_clients: Vec<usize>,
    /// Seconds of pgbench per client count.
    #[arg(long, default_value_t = 20)]
    pg_secs: u64,
    /// Seconds of each ed25519 measurement.
    #[arg(long)]
    verify_secs: Option<f64>,
    /// Snapshot every N log entries (the node's default).
    #[arg(long, default_value_t = 10_000)]
    snapshot_logs: u64,
    /// An existing cluster's client endpoints (host:port, comma-separated): no /proc figures.
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// The CA certificate (PEM) of --endpoints.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// A short smoke run (CI).
    #[arg(long)]
    quick: bool,
    /// Only the scenarios whose name contains one of these (comma-separated, e.g.
    /// "uniform SubmitBatch 500"); the read phases run only if one of them names "reads".
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The carbon-inclusion scale run instead of the scenarios: a platform opens this many
    /// personal accounts in bulk, records a day of reductions for each and converts them, while
    /// other users' transfers go on at --rate (default 100/s; --accounts default 1000 for them).
    #[arg(long)]
    inclusion: Option<usize>,
}

fn builds(a: &Args) -> Vec<Build> {
    if let [old, new] = a.compare.as_slice() {
        return vec![
            Build {
                label: "old".into(),
                bin: old.clone(),
            },
            Build {
                label: "new".into(),
                bin: new.clone(),
            },
        ];
    }
    if !a.endpoints.is_empty() {
        return vec![Build {
            label: "cluster".into(),
            bin: PathBuf::from(a.endpoints.join(",")),
        }];
    }
    let bin = a.node_bin.clone().unwrap_or_else(carbon_tests::node_binary);
    vec![Build {
        label: "node".into(),
        bin,
    }]
}

fn options(a: Args) -> Result<Options> {
    let q = a.quick;
    let endpoints = match (a.endpoints.is_empty(), &a.ca) {
        (true, _) => None,
        (false, Some(ca)) => Some((a.endpoints.clone(), ca.clone())),
        (false, None) => bail!("--endpoints needs --ca (the CA certificate of the cluster)"),
    };
    let nodes = match (&endpoints, a.nodes.is_empty()) {
        (Some((e, _)), _) => vec![e.len()],
        (None, true) if q => vec![1, 3],
        (None, true) => vec![3],
        (None, false) => a.nodes.clone(),
    };
    let tag = match endpoints {
        Some(_) => format!("{:x}", carbon_tests::now_ms() % (1 << 32)),
        None => String::new(),
    };
    Ok(Options {
        builds: builds(&a),
        endpoints,
        nodes,
        rounds: a.rounds.max(1),
        accounts: a
            .accounts
            .unwrap_or(if q || a.inclusion.is_some() {
                1_000
            } else {
                10_000
            })
            .max(2),
        fund_units: a.fund_units.max(1),
        seed: a.seed,
        tag,
        txs: a.txs.unwrap_or(if q { 1_500 } else { 200_000 }),
        seq_txs: a.seq_txs.unwrap_or(if q { 50 } else { 2_000 }),
        phase_secs: a.secs.unwrap_or(if q { 4.0 } else { 15.0 }),
        open_secs: a.open_secs.unwrap_or(if q { 2.0 } else { 15.0 }),
        rate: a.rate,
        batch_clients: a.batch_clients.max(1),
        postgres: !a.no_postgres && (!q || a.postgres) && a.inclusion.is_none(),
        pg_clients: a.pg_clients.clone(),
        pg_secs: if q { a.pg_secs.min(5) } else { a.pg_secs },
        verify_secs: a.verify_secs.unwrap_or(if q { 0.2 } else { 1.0 }),
        snapshot_logs: a.snapshot_logs.max(1),
        only: a.only.clone(),
        inclusion: a.inclusion,
    })
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> Result<()> {
    let opts = options(Args::parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // On Ctrl-C or SIGTERM the run is dropped, and with it every cluster it started: the
    // harness kills its node processes on drop.
    let report = rt.block_on(async {
        tokio::select! {
            r = run::run(opts) => r.map(Some),
            _ = stop_signal() => Ok(None),
        }
    })?;
    let Some(report) = report else {
        eprintln!("carbon-bench: stopped by a signal; its nodes were killed");
        std::process::exit(130);
    };
    report.print();
    if report.runs.iter().any(|r| r.error.is_some()) {
        std::process::exit(1);
    }
    Ok(())
}
