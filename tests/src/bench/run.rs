//! One bench run: the verify bound, the PostgreSQL baseline, then for every round, node count
//! and build a fresh cluster (or the given one) with the same accounts and scenarios.

use super::accounts::{self, Keyring, Step};
use super::drive::{self, Tally};
use super::measure::{self, Usage};
use super::open_loop;
use super::postgres::{self, PgRun};
use super::reads::{self, ReadPhase};
use super::report::{self, Report};
use super::target::{Client, Target};
use super::verify;
use super::workload::{self, Spender};
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A node build to measure.
#[derive(Debug, Clone)]
pub struct Build {
    pub label: String,
    pub bin: PathBuf,
}

/// Everything a run does (the command line, resolved).
#[derive(Debug, Clone)]
pub struct Options {
    pub builds: Vec<Build>,
    /// An existing cluster (endpoints, CA file) instead of local clusters.
    pub endpoints: Option<(Vec<String>, PathBuf)>,
    pub nodes: Vec<usize>,
    pub rounds: usize,
    pub accounts: usize,
    pub fund_units: u64,
    pub seed: u64,
    pub tag: String,
    /// Most transfers per phase (Submit at concurrency 1: `seq_txs`).
    pub txs: usize,
    pub seq_txs: usize,
    /// Longest a closed-loop phase sends; the open loop's length.
    pub phase_secs: f64,
    pub open_secs: f64,
    pub rate: Option<f64>,
    pub batch_clients: usize,
    pub postgres: bool,
    pub pg_clients: Vec<usize>,
    pub pg_secs: u64,
    pub verify_secs: f64,
    pub snapshot_logs: u64,
    /// Scenario filter (name substrings; empty: all). "reads" selects the read phases.
    pub only: Vec<String>,
    /// The carbon-inclusion scale run with this many persons, instead of the scenarios.
    pub inclusion: Option<usize>,
}

impl Options {
    /// Whether the phase named `name` runs (`--only`).
    pub fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }
}

/// What a phase sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    Submit { concurrency: usize, hot: bool },
    Batch { size: usize, hot: bool },
    Open,
}

impl Scenario {
    pub fn name(&self, batch_clients: usize) -> String {
        let load = |hot: bool| if hot { "one-hot" } else { "uniform" };
        match *self {
            Scenario::Submit { concurrency, hot } => format!("{} Submit x{concurrency}", load(hot)),
            Scenario::Batch { size, hot } => {
                format!("{} SubmitBatch {size} x{batch_clients}", load(hot))
            }
            Scenario::Open => "uniform open loop Submit".into(),
        }
    }
}

/// Client connections to the leader (Submit x256 puts 16 clients on each).
pub const CONNECTIONS: usize = 16;

pub const SCENARIOS: [Scenario; 9] = [
    Scenario::Submit {
        concurrency: 1,
        hot: false,
    },
    Scenario::Submit {
        concurrency: 64,
        hot: false,
    },
    Scenario::Submit {
        concurrency: 256,
        hot: false,
    },
    Scenario::Batch {
        size: 100,
        hot: false,
    },
    Scenario::Batch {
        size: 500,
        hot: false,
    },
    Scenario::Open,
    Scenario::Submit {
        concurrency: 1,
        hot: true,
    },
    Scenario::Submit {
        concurrency: 256,
        hot: true,
    },
    Scenario::Batch {
        size: 500,
        hot: true,
    },
];

pub struct PhaseResult {
    pub scenario: Scenario,
    pub tally: Tally,
    pub usage: Usage,
    /// Open loop: (offered rate, scheduled, sent late).
    pub open: Option<(f64, usize, u64)>,
}

pub struct ClusterRun {
    pub build: String,
    pub nodes: usize,
    pub round: usize,
    pub opened: Step,
    pub funded: Step,
    pub phases: Vec<PhaseResult>,
    pub reads: Vec<ReadPhase>,
    pub error: Option<String>,
}

pub async fn run(opts: Options) -> Result<Report> {
    report::print_machine();
    let verify = verify::measure(Duration::from_secs_f64(opts.verify_secs));
    report::print_verify(&verify);
    let pg = baseline(&opts);
    let shared = Keyring::derive(opts.accounts, opts.seed, &opts.tag);
    let mut runs = Vec::new();
    for round in 1..=opts.rounds {
        // An existing cluster keeps the accounts of the last round: open new ones.
        let fresh =
            opts.endpoints.as_ref().filter(|_| round > 1).map(|_| {
                Keyring::derive(opts.accounts, opts.seed, &format!("{}r{round}", opts.tag))
            });
        let ring = fresh.as_ref().unwrap_or(&shared);
        for &nodes in &opts.nodes {
            for build in &opts.builds {
                let r = one_cluster(&opts, build, nodes, round, ring).await;
                report::print_progress(&r, opts.batch_clients);
                runs.push(r);
            }
        }
    }
    Ok(Report {
        opts,
        verify,
        pg,
        runs,
    })
}

fn baseline(opts: &Options) -> Vec<PgRun> {
    if !opts.postgres {
        return Vec::new();
    }
    println!(
        "PostgreSQL baseline: {} accounts, clients {:?}, {} s each ...",
        opts.accounts, opts.pg_clients, opts.pg_secs
    );
    match postgres::run(opts.accounts, opts.pg_secs, &opts.pg_clients) {
        Ok(r) => r,
        Err(e) => {
            println!("  PostgreSQL baseline failed: {e:#}");
            Vec::new()
        }
    }
}

async fn one_cluster(
    opts: &Options,
    build: &Build,
    nodes: usize,
    round: usize,
    ring: &Keyring,
) -> ClusterRun {
    let mut out = ClusterRun {
        build: build.label.clone(),
        nodes,
        round,
        opened: Step::default(),
        funded: Step::default(),
        phases: Vec::new(),
        reads: Vec::new(),
        error: None,
    };
    println!(
        "round {round}: {} ({}), {nodes} node(s) ...",
        build.label,
        build.bin.display()
    );
    let target = match &opts.endpoints {
        Some((eps, ca)) => Target::existing(eps, ca).await,
        None => Target::start_local(&build.bin, nodes, opts.snapshot_logs).await,
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            out.error = Some(format!("{e:#}"));
            return out;
        }
    };
    if let Err(e) = scenarios(opts, &target, ring, &mut out).await {
        out.error = Some(format!("{e:#}{}", target.logs()));
    }
    target.stop();
    out
}

async fn scenarios(
    opts: &Options,
    target: &Target,
    ring: &Keyring,
    out: &mut ClusterRun,
) -> Result<()> {
    out.opened = accounts::open(target, ring).await?;
    out.funded = accounts::fund(target, ring, opts.fund_units).await?;
    target.wait_applied(Duration::from_secs(120)).await;
    if let Some(persons) = opts.inclusion {
        let (steps, totals) = super::inclusion::run(opts, target, ring, persons).await?;
        super::inclusion::print(&steps);
        super::inclusion::print_totals(&totals);
        return Ok(());
    }
    let mut spender = Spender::new(ring.len(), opts.fund_units, opts.seed ^ out.round as u64);
    let mut peak = out.funded.tps().max(out.opened.tps());
    let mut submit256 = None;
    let (mut leader, mut pool) = (usize::MAX, Vec::new());
    for scenario in SCENARIOS {
        if !opts.selects(&scenario.name(opts.batch_clients)) {
            continue;
        }
        // Clients talk to the leader of the moment (as a client that follows leaderId would).
        let now = target.leader_index().await?;
        if now != leader {
            (leader, pool) = (now, target.pool(now, CONNECTIONS).await?);
        }
        let rate = opts
            .rate
            .or(submit256.map(|t: f64| t / 2.0))
            .unwrap_or(peak / 4.0);
        let r = phase(
            opts,
            target,
            &pool,
            ring,
            &mut spender,
            scenario,
            peak,
            rate,
        )
        .await;
        peak = peak.max(r.tally.tps());
        if scenario
            == (Scenario::Submit {
                concurrency: 256,
                hot: false,
            })
        {
            submit256 = Some(r.tally.tps());
        }
        out.phases.push(r);
    }
    if !opts.selects("reads") {
        return Ok(());
    }
    let leader = target.leader_index().await?;
    let pool = target.pool(leader, CONNECTIONS).await?;
    let secs = (opts.phase_secs / 4.0).clamp(2.0, 10.0);
    for (linearizable, readers) in reads::READ_PHASES {
        out.reads
            .push(reads::run(&pool, linearizable, readers, secs).await);
    }
    Ok(())
}

/// Signs the phase's transfers, then measures it between two readings.
#[allow(clippy::too_many_arguments)]
async fn phase(
    opts: &Options,
    target: &Target,
    pool: &[Client],
    ring: &Keyring,
    spender: &mut Spender,
    scenario: Scenario,
    peak: f64,
    rate: f64,
) -> PhaseResult {
    let limit = Duration::from_secs_f64(opts.phase_secs);
    let count = match scenario {
        Scenario::Submit { concurrency: 1, .. } => opts.seq_txs,
        Scenario::Open => (rate * opts.open_secs).ceil() as usize,
        _ => ((peak.max(500.0) * opts.phase_secs * 2.0) as usize).min(opts.txs),
    };
    let hot = matches!(
        scenario,
        Scenario::Submit { hot: true, .. } | Scenario::Batch { hot: true, .. }
    );
    let txs = if hot {
        workload::hot(ring, count)
    } else {
        workload::uniform(ring, spender, count)
    };
    target.wait_applied(Duration::from_secs(60)).await;
    let before = measure::read(target).await;
    let (tally, open) = match scenario {
        Scenario::Submit { concurrency, .. } => (
            drive::closed_submit(pool, Arc::new(txs), concurrency, limit).await,
            None,
        ),
        Scenario::Batch { size, .. } => (
            drive::closed_batch(pool, &txs, size, opts.batch_clients, limit).await,
            None,
        ),
        Scenario::Open => {
            let o = open_loop::run(pool, txs, rate, Duration::from_secs_f64(opts.open_secs)).await;
            (o.tally, Some((o.rate, o.scheduled, o.late)))
        }
    };
    target.wait_applied(Duration::from_secs(60)).await;
    let after = measure::read(target).await;
    let usage = measure::usage(target, &before, &after, tally.committed());
    PhaseResult {
        scenario,
        tally,
        usage,
        open,
    }
}
