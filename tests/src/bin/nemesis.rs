//! `nemesis`: runs the registry's nemesis test for as long as asked and prints its report.
//!
//! ```text
//! cargo build --workspace
//! NEMESIS_SECS=600 target/debug/nemesis --members 5
//! ```
//! It starts real `carbon-node` processes (found next to this binary, or `CARBON_NODE_BIN`),
//! injects faults and partitions, checks the cluster against what the clients were told, prints
//! the report and exits with status 1 if any check failed.

use carbon_tests::nemesis::{self, faults::FaultKind, Options, Schedule};
use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "nemesis",
    about = "Fault-injection test of a carbon registry cluster"
)]
struct Args {
    /// Cluster members (3 or more; the star partition needs 5).
    #[arg(long, default_value_t = 3)]
    members: usize,
    /// Seconds of load with faults.
    #[arg(long, env = "NEMESIS_SECS", default_value_t = 60)]
    secs: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seed of the fault schedule and the workload (default: from the clock; printed).
    #[arg(long, env = "NEMESIS_SEED")]
    seed: Option<u64>,
    /// Only these fault kinds (e.g. --only star,isolate-leader); default: all that fit.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn kind(name: &str) -> Option<FaultKind> {
    FaultKind::ALL.into_iter().find(|k| {
        let debug = format!("{k:?}");
        let kebab: String = debug
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let dash = (i > 0 && c.is_uppercase()).then_some('-');
                dash.into_iter().chain(c.to_lowercase())
            })
            .collect();
        name.eq_ignore_ascii_case(&debug) || name == kebab
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.members >= 3, "at least 3 members");
    let seed = args.seed.unwrap_or_else(carbon_tests::now_ms);
    let mut opts = Options::random(args.members, Duration::from_secs(args.secs), seed);
    opts.clients = args.clients;
    if !args.only.is_empty() {
        let kinds: Option<Vec<FaultKind>> = args.only.iter().map(|n| kind(n)).collect();
        let kinds =
            kinds.ok_or_else(|| anyhow::anyhow!("unknown fault kind in {:?}", args.only))?;
        opts.schedule = Schedule::Random(kinds);
    }
    let report = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?
        .block_on(nemesis::run(opts));
    println!("{report}");
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
