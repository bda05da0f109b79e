//! The printed tables: throughput and latency per scenario and build (mean over rounds, with
//! the range), ratios new/old, registry/PostgreSQL and against the verify bound; then the
//! per-transaction resources by role.

use super::drive::Tally;
use super::measure::PerTx;
use super::postgres::PgRun;
use super::run::{ClusterRun, Options, PhaseResult, Scenario, SCENARIOS};
use super::verify::VerifyBound;

pub struct Report {
    pub opts: Options,
    pub verify: VerifyBound,
    pub pg: Vec<PgRun>,
    pub runs: Vec<ClusterRun>,
}

/// The machine, its load and any other node processes (noise), printed first.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |p| p.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "carbon-bench · {cores} cores ({model}) · load average {}",
        load.trim()
    );
    let others = other_nodes();
    if others > 0 {
        println!("  NOTE: {others} carbon-node process(es) not started by this bench are running: expect noise");
    }
}

/// `carbon-node` processes on the machine now (before this bench starts any).
fn other_nodes() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "carbon-node")
        })
        .count()
}

pub fn print_verify(v: &VerifyBound) {
    println!(
        "ed25519 on one core: verify_strict {:.0}/s · verify_batch 64 {:.0}/s · verify_batch 512 {:.0}/s · ingress verify (decode + strict) {:.0}/s",
        v.strict_per_s, v.batch64_per_s, v.batch512_per_s, v.ingress_per_s
    );
}

pub fn print_progress(r: &ClusterRun, batch_clients: usize) {
    if let Some(e) = &r.error {
        println!("  FAILED: {e}");
        return;
    }
    println!(
        "  opened {} accounts in {:.1} s ({:.0} tx/s), funded in {:.1} s ({:.0} tx/s)",
        r.opened.txs,
        r.opened.secs,
        r.opened.tps(),
        r.funded.secs,
        r.funded.tps()
    );
    for p in &r.phases {
        let extra = p.tally.summary();
        println!(
            "  {:<34} {:>9.0} tx/s  ({} ok in {:.1} s){}",
            p.scenario.name(batch_clients),
            p.tally.tps(),
            p.tally.ok,
            p.tally.secs,
            if extra.is_empty() {
                String::new()
            } else {
                format!("  [{extra}]")
            }
        );
    }
    for r in &r.reads {
        println!(
            "  {:<34} {:>9.0} reads/s  p50 {:.2} ms, p99 {:.2} ms{}",
            r.name(),
            r.rps(),
            r.latency.value_at_quantile(0.5) as f64 / 1000.0,
            r.latency.value_at_quantile(0.99) as f64 / 1000.0,
            if r.failed > 0 {
                format!("  [{} failed]", r.failed)
            } else {
                String::new()
            }
        );
    }
}

impl Report {
    fn labels(&self) -> Vec<String> {
        self.opts.builds.iter().map(|b| b.label.clone()).collect()
    }

    fn phases(&self, nodes: usize, build: &str, s: Scenario) -> Vec<&PhaseResult> {
        self.runs
            .iter()
            .filter(|r| r.nodes == nodes && r.build == build && r.error.is_none())
            .flat_map(|r| r.phases.iter().filter(move |p| p.scenario == s))
            .collect()
    }

    fn pg16(&self) -> Option<f64> {
        self.pg
            .iter()
            .find(|p| p.clients == 16)
            .or(self.pg.first())
            .map(|p| p.tps)
    }

    pub fn print(&self) {
        println!();
        println!(
            "===== carbon-bench results · {} accounts · {} round(s) =====",
            self.opts.accounts, self.opts.rounds
        );
        for b in &self.opts.builds {
            println!("  {:<6} {}", b.label, b.bin.display());
        }
        self.print_pg();
        // The scale run printed its own tables.
        let nodes = match self.opts.inclusion {
            Some(_) => &[][..],
            None => &self.opts.nodes[..],
        };
        for &nodes in nodes {
            self.print_setup(nodes);
            self.print_throughput(nodes);
            self.print_open_loop(nodes);
            self.print_reads(nodes);
            self.print_resources(nodes);
        }
        for r in self.runs.iter().filter(|r| r.error.is_some()) {
            println!(
                "FAILED run: {} {} node(s) round {}",
                r.build, r.nodes, r.round
            );
        }
    }

    fn print_pg(&self) {
        for p in &self.pg {
            println!(
                "PostgreSQL 15 (own server, synchronous_commit=on, fsync on, pgbench, unsigned): {} clients {:.0} tps, mean latency {:.2} ms, {} failed",
                p.clients, p.tps, p.latency_ms, p.failed
            );
        }
    }

    fn print_setup(&self, nodes: usize) {
        println!("\n--- {nodes} node(s): setup ---");
        for label in self.labels() {
            let runs: Vec<&ClusterRun> = self
                .runs
                .iter()
                .filter(|r| r.nodes == nodes && r.build == label && r.error.is_none())
                .collect();
            let mean = |f: &dyn Fn(&ClusterRun) -> f64| {
                runs.iter().map(|r| f(r)).sum::<f64>() / runs.len().max(1) as f64
            };
            println!(
                "{label:<6} open {} accounts: {:.1} s ({:.0} tx/s) · fund: {:.1} s ({:.0} tx/s)",
                runs.first().map_or(0, |r| r.opened.txs),
                mean(&|r| r.opened.secs),
                mean(&|r| r.opened.tps()),
                mean(&|r| r.funded.secs),
                mean(&|r| r.funded.tps())
            );
        }
    }

    fn print_throughput(&self, nodes: usize) {
        let labels = self.labels();
        println!("\n--- {nodes} node(s): committed transfers per second (closed loop; latency per request, ms) ---");
        let mut head = format!("{:<34}", "scenario");
        for l in &labels {
            head.push_str(&format!(" | {l:>6} tx/s  (range)       p50    p99"));
        }
        if labels.len() == 2 {
            head.push_str(&format!(" | {}/{}", labels[1], labels[0]));
        }
        let last = labels.last().cloned().unwrap_or_default();
        head.push_str(&format!(" | {last}/PG16 · {last}/verify_batch512"));
        println!("{head}");
        for s in SCENARIOS {
            if self.opts.selects(&s.name(self.opts.batch_clients)) {
                println!("{}", self.throughput_row(nodes, s, &labels));
            }
        }
    }

    fn throughput_row(&self, nodes: usize, s: Scenario, labels: &[String]) -> String {
        let mut row = format!("{:<34}", s.name(self.opts.batch_clients));
        let mut means = Vec::new();
        for l in labels {
            let ps = self.phases(nodes, l, s);
            let tps: Vec<f64> = ps.iter().map(|p| p.tally.tps()).collect();
            let mean = tps.iter().sum::<f64>() / tps.len().max(1) as f64;
            let (lo, hi) = tps
                .iter()
                .fold((f64::MAX, 0f64), |(a, b), &t| (a.min(t), b.max(t)));
            let h = merged(&ps);
            let range = if tps.len() > 1 {
                format!("({lo:.0}-{hi:.0})")
            } else {
                String::new()
            };
            row.push_str(&format!(
                " | {mean:>11.0} {range:<13} {:>6} {:>6}",
                ms(&h, 0.5),
                ms(&h, 0.99)
            ));
            means.push(mean);
        }
        if means.len() == 2 {
            row.push_str(&format!(" | {:>6}", ratio(means[1], means[0])));
        }
        let best = means.last().copied().unwrap_or(0.0);
        let pg = self.pg16().map_or("-".into(), |p| ratio(best, p));
        row.push_str(&format!(
            " | {pg} · {}",
            ratio(best, self.verify.batch512_per_s)
        ));
        row
    }

    fn print_open_loop(&self, nodes: usize) {
        println!("\n--- {nodes} node(s): open loop, uniform Submit at a fixed rate; latency from the INTENDED send time (ms) ---");
        for l in self.labels() {
            for p in self.phases(nodes, &l, Scenario::Open) {
                let Some((rate, scheduled, late)) = p.open else {
                    continue;
                };
                let h = &p.tally.latency;
                println!(
                    "{l:<6} offered {rate:.0}/s ({scheduled} sent, {late} late > 2 ms): {} ok ({:.0}/s) · p50 {} · p99 {} · p999 {} · max {}{}",
                    p.tally.ok, p.tally.tps(), ms(h, 0.5), ms(h, 0.99), ms(h, 0.999), ms(h, 1.0),
                    if p.tally.summary().is_empty() { String::new() } else { format!(" · {}", p.tally.summary()) }
                );
            }
        }
    }

    fn print_reads(&self, nodes: usize) {
        println!("\n--- {nodes} node(s): reads on the leader, closed loop (reads/s; latency per read, ms) ---");
        for l in self.labels() {
            let runs: Vec<&ClusterRun> = self
                .runs
                .iter()
                .filter(|r| r.nodes == nodes && r.build == l && r.error.is_none())
                .collect();
            for (linearizable, readers) in super::reads::READ_PHASES {
                let ps: Vec<_> = runs
                    .iter()
                    .flat_map(|r| r.reads.iter())
                    .filter(|p| p.linearizable == linearizable && p.readers == readers)
                    .collect();
                let Some(first) = ps.first() else { continue };
                let mut h = crate::bench::drive::histogram();
                for p in &ps {
                    let _ = h.add(&p.latency);
                }
                let rps = ps.iter().map(|p| p.rps()).sum::<f64>() / ps.len() as f64;
                let failed: u64 = ps.iter().map(|p| p.failed).sum();
                println!(
                    "{l:<6} {:<34} {rps:>9.0} reads/s · p50 {:.2} · p99 {:.2}{}",
                    first.name(),
                    h.value_at_quantile(0.5) as f64 / 1000.0,
                    h.value_at_quantile(0.99) as f64 / 1000.0,
                    if failed > 0 {
                        format!(" · {failed} failed")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }

    fn print_resources(&self, nodes: usize) {
        println!("\n--- {nodes} node(s): per committed transfer, by role (mean over rounds) ---");
        println!(
            "{:<34} {:<6} | {:>9} {:>9} {:>9} {:>7} | {:>8} {:>8} {:>7} {:>8} {:>7} | {:>6} {:>6} | snap | lead",
            "scenario", "build", "CPU µs L", "F", "cluster", "client", "io B L", "F", "wal B L", "state ΔL", "tx/sync", "RSS L", "F"
        );
        for s in SCENARIOS {
            for l in self.labels() {
                let ps = self.phases(nodes, &l, s);
                if ps.is_empty() {
                    continue;
                }
                println!(
                    "{:<34} {l:<6} | {}",
                    s.name(self.opts.batch_clients),
                    resources_row(&ps)
                );
            }
        }
    }
}

fn resources_row(ps: &[&PhaseResult]) -> String {
    let avg = |f: &dyn Fn(&PhaseResult) -> Option<f64>| {
        let v: Vec<f64> = ps.iter().filter_map(|p| f(p)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let role = |f: fn(&PerTx) -> Option<f64>, leader: bool| {
        avg(&|p: &PhaseResult| {
            if leader {
                p.usage.leader.as_ref().and_then(f)
            } else {
                p.usage.follower.as_ref().and_then(f)
            }
        })
    };
    let changed = ps.iter().filter(|p| p.usage.leader_changed).count();
    let snaps: usize = ps.iter().map(|p| p.usage.snapshots).sum();
    format!(
        "{:>9} {:>9} {:>9} {:>7} | {:>8} {:>8} {:>7} {:>8} {:>7} | {:>6} {:>6} | {snaps:>4} | {}",
        num(role(|p| Some(p.cpu_us), true)),
        num(role(|p| Some(p.cpu_us), false)),
        num(avg(&|p| p.usage.cluster_cpu_us)),
        num(avg(&|p| Some(p.usage.client_cpu_us))),
        num(role(|p| Some(p.io_bytes), true)),
        num(role(|p| Some(p.io_bytes), false)),
        num(role(|p| p.wal_bytes, true)),
        num(role(|p| Some(p.state_growth), true)),
        num(role(|p| p.txs_per_sync, true)),
        num(role(|p| Some(p.rss_mib), true)),
        num(role(|p| Some(p.rss_mib), false)),
        if changed > 0 {
            format!("CHANGED in {changed}")
        } else {
            "same".into()
        }
    )
}

fn merged(ps: &[&PhaseResult]) -> hdrhistogram::Histogram<u64> {
    let mut t = Tally::default();
    for p in ps {
        t.merge(&p.tally);
    }
    t.latency
}

fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> String {
    if h.is_empty() {
        return "-".into();
    }
    let us = if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    };
    format!("{:.1}", us as f64 / 1000.0)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}
