//! The nemesis: a cluster of real `carbon-node` processes behind partition proxies, concurrent
//! clients submitting transfers over raw gRPC, faults injected one at a time (process kills,
//! pauses, restarts, network partitions), a monitor of commit progress, and a checker that
//! compares the cluster with what the clients were told.
//!
//! Used by `src/bin/nemesis.rs` (long runs, `NEMESIS_SECS`) and `tests/nemesis.rs` (CI-length
//! runs and the two partition scenarios of issue 7). `NEMESIS_KEEP=1` keeps the nodes' logs and
//! data directories.

pub mod answer;
pub mod check;
pub mod faults;
pub mod monitor;
pub mod workload;

use crate::{Cluster, Spec};
use faults::{Fault, FaultKind};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Quiet time before the first fault, and the window after a heal attributed to that fault.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub enum Schedule {
    /// Random faults of these kinds (those that fit the cluster size), each held 1-6 s (process
    /// faults) or 2-8 s (partitions), 1-3 s of quiet in between.
    Random(Vec<FaultKind>),
    /// These faults in order, each held for its duration, with `SETTLE` of quiet around each.
    Scripted(Vec<(FaultKind, Duration)>),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub members: usize,
    pub clients: usize,
    /// How long the clients submit (the faults fit inside).
    pub duration: Duration,
    pub seed: u64,
    pub schedule: Schedule,
    /// How long each signed transaction stays valid.
    pub validity: Duration,
}

impl Options {
    /// Every fault kind at random for `duration`.
    pub fn random(members: usize, duration: Duration, seed: u64) -> Options {
        Options {
            members,
            clients: 8,
            duration,
            seed,
            schedule: Schedule::Random(FaultKind::ALL.to_vec()),
            validity: Duration::from_secs(20),
        }
    }

    /// One fault held for `hold`, with `SETTLE` of load before it and twice that after it.
    pub fn scenario(members: usize, kind: FaultKind, hold: Duration, seed: u64) -> Options {
        Options {
            members,
            clients: 6,
            duration: SETTLE * 3 + hold,
            seed,
            schedule: Schedule::Scripted(vec![(kind, hold)]),
            validity: Duration::from_secs(10),
        }
    }
}

/// The shortest fault worth injecting.
const MIN_HOLD: Duration = Duration::from_secs(1);

pub struct Report {
    pub options: Options,
    pub faults: Vec<Fault>,
    pub checks: Vec<check::Check>,
    pub resolution: check::Resolution,
    pub acked_single: usize,
    pub acked_in_batches: usize,
    pub unknown_answers: u64,
    pub timeline: monitor::Timeline,
    pub elapsed: Duration,
    /// Every acknowledged write: when it was first sent and how long until its committed answer.
    pub waits: Vec<(Instant, Duration)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// When fault `i`'s window ends: at the next fault's start, or at the end of the load.
    fn window_end(&self, i: usize) -> Instant {
        self.faults
            .get(i + 1)
            .map(|f| f.start)
            .or(self.timeline.end)
            .unwrap_or_else(Instant::now)
    }

    /// Longest wait of an acknowledged write (first send to committed answer) that was in
    /// flight during fault `i` or its aftermath (until the next fault starts).
    pub fn longest_wait(&self, i: usize) -> Duration {
        let (start, end) = (self.faults[i].start, self.window_end(i));
        self.waits
            .iter()
            .filter(|(sent, wait)| *sent < end && *sent + *wait > start)
            .map(|(_, wait)| *wait)
            .max()
            .unwrap_or_default()
    }

    /// Longest no-commit gap of fault `i`: one that began while the fault was on, and one that
    /// began after its heal, each counted until the next fault starts at the latest.
    pub fn gaps(&self, i: usize) -> (Duration, Duration) {
        let f = &self.faults[i];
        let end = self.window_end(i);
        (
            self.timeline.longest_gap(f.start, f.healed, end),
            self.timeline.longest_gap(f.healed, end, end),
        )
    }

    /// Longest gap in the quiet windows (from `SETTLE` after a heal to the next fault).
    pub fn quiet_gap(&self) -> Duration {
        let mut from = self.timeline.commits.first().map(|c| c.0);
        let mut longest = Duration::ZERO;
        for f in &self.faults {
            if let Some(s) = from {
                if f.start > s {
                    longest = longest.max(self.timeline.longest_gap(s, f.start, f.start));
                }
            }
            from = Some(f.healed + SETTLE);
        }
        longest
    }
}

/// Runs the whole thing: cluster, setup, clients, faults, checks.
pub async fn run(opts: Options) -> Report {
    let started = Instant::now();
    let mut cluster = Spec {
        partitions: true,
        ..Spec::new(opts.members)
    }
    .start();
    let all: Vec<usize> = (0..opts.members).collect();
    cluster.wait_for_leader(&all, Duration::from_secs(30)).await;
    let addrs = cluster.endpoints();
    workload::setup(&addrs, opts.clients).await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(monitor::run(addrs.clone(), stopped));
    let until = Instant::now() + opts.duration;
    let clients: Vec<_> = (0..opts.clients)
        .map(|c| {
            tokio::spawn(workload::client(
                c,
                addrs.clone(),
                until,
                opts.seed,
                opts.validity,
            ))
        })
        .collect();
    let faults = nemesis(&mut cluster, &opts, until).await;
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.expect("client task"));
    }
    let _ = stop.send(true);
    let timeline = monitor.await.expect("monitor task");

    let (checks, resolution) = check::run(&mut cluster, &logs).await;
    if std::env::var_os("NEMESIS_KEEP").is_some() {
        cluster.dir.disable_cleanup(true);
        eprintln!(
            "nemesis: logs and data kept in {}",
            cluster.dir.path().display()
        );
    }
    let acked = |batch: bool| {
        logs.iter()
            .flat_map(|l| &l.txs)
            .filter(|t| t.in_batch == batch && matches!(t.fate, workload::Fate::Committed(_)))
            .count()
    };
    let waits = logs
        .iter()
        .flat_map(|l| &l.txs)
        .filter(|t| matches!(t.fate, workload::Fate::Committed(_)))
        .filter_map(|t| {
            Some((
                t.first_sent?,
                t.answered_at?.checked_duration_since(t.first_sent?)?,
            ))
        })
        .collect();
    Report {
        waits,
        acked_single: acked(false),
        acked_in_batches: acked(true),
        unknown_answers: logs.iter().map(|l| l.unknown_answers).sum(),
        options: opts,
        faults,
        checks,
        resolution,
        timeline,
        elapsed: started.elapsed(),
    }
}

/// Injects faults until `until`, one at a time; every fault is healed before the next.
async fn nemesis(cluster: &mut Cluster, opts: &Options, until: Instant) -> Vec<Fault> {
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let mut faults = Vec::new();
    let mut script = match &opts.schedule {
        Schedule::Scripted(s) => s.clone().into_iter(),
        Schedule::Random(_) => Vec::new().into_iter(),
    };
    tokio::time::sleep(SETTLE).await;
    loop {
        let (kind, hold, quiet) = match &opts.schedule {
            Schedule::Scripted(_) => match script.next() {
                Some((k, d)) => (k, d, SETTLE),
                None => break,
            },
            Schedule::Random(kinds) => {
                let fits: Vec<FaultKind> = kinds
                    .iter()
                    .copied()
                    .filter(|k| k.fits(opts.members))
                    .collect();
                let kind = fits[rng.usize(..fits.len())];
                let hold = if kind.is_partition() {
                    Duration::from_millis(rng.u64(2_000..=8_000))
                } else {
                    Duration::from_millis(rng.u64(1_000..=6_000))
                };
                (kind, hold, Duration::from_millis(rng.u64(1_000..=3_000)))
            }
        };
        // Shorten the last fault to fit the run rather than skip it (a long first fault must not
        // leave a CI-length run with too few faults).
        let left = until.saturating_duration_since(Instant::now() + quiet);
        if left < MIN_HOLD {
            break;
        }
        let hold = hold.min(left);
        match faults::inject(cluster, kind, hold, &mut rng).await {
            Some(mut f) => {
                tokio::time::sleep(quiet.max(SETTLE)).await;
                f.leader_after = faults::leader(cluster)
                    .await
                    .map(|(_, id, term)| (id, term));
                faults.push(f);
            }
            None => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    faults
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "nemesis: {} members, {} clients, load for {}, seed {} (whole run {})",
            o.members,
            o.clients,
            secs(o.duration),
            o.seed,
            secs(self.elapsed)
        )?;
        let mut by_kind: BTreeMap<FaultKind, (usize, Duration, Duration, Duration)> =
            BTreeMap::new();
        for (i, fault) in self.faults.iter().enumerate() {
            let (during, after) = self.gaps(i);
            let e = by_kind.entry(fault.kind).or_default();
            e.0 += 1;
            e.1 = e.1.max(during);
            e.2 = e.2.max(after);
            e.3 = e.3.max(self.longest_wait(i));
        }
        writeln!(f, "faults injected: {}", self.faults.len())?;
        let r = &self.resolution;
        writeln!(
            f,
            "acks: {} committed ({} single, {} in batches); {} refused as not applied; {} unanswered ({} committed, {} absent); {} answers of unknown fate retried",
            r.acked,
            self.acked_single,
            self.acked_in_batches,
            r.not_applied,
            r.unknown_committed + r.unknown_absent,
            r.unknown_committed,
            r.unknown_absent,
            self.unknown_answers
        )?;
        writeln!(
            f,
            "longest no-commit gap per fault kind (begun during the fault / after its heal, until the next fault); longest wait of an acknowledged write in flight then (first send to committed answer):"
        )?;
        for (kind, (n, during, after, wait)) in &by_kind {
            writeln!(
                f,
                "  {:<22} x{:<3} {:>7} / {:>7}   wait {:>7}",
                format!("{kind:?}"),
                n,
                secs(*during),
                secs(*after),
                secs(*wait)
            )?;
        }
        writeln!(
            f,
            "  {:<22}      {:>7}",
            "(no fault)",
            secs(self.quiet_gap())
        )?;
        let t0 = self.timeline.commits.first().map(|c| c.0);
        let mut worst: Vec<(Duration, usize)> = (0..self.faults.len())
            .map(|i| {
                let (a, b) = self.gaps(i);
                (a.max(b), i)
            })
            .collect();
        worst.sort_by(|a, b| b.cmp(a));
        for (gap, i) in worst.into_iter().take(3) {
            let fault = &self.faults[i];
            writeln!(
                f,
                "  worst: {} after {:?} on {:?} at +{}, held {} (leader/term before {:?}, after {:?})",
                secs(gap),
                fault.kind,
                fault.targets,
                t0.map_or("?".into(), |t| secs(fault.start.saturating_duration_since(t))),
                secs(fault.healed - fault.start),
                fault.leader_before,
                fault.leader_after
            )?;
        }
        writeln!(f, "checks:")?;
        for c in &self.checks {
            writeln!(
                f,
                "  {} {}: {}",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        write!(f, "result: {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}
