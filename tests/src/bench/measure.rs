//! Readings taken just before and just after a timed phase, and the per-transaction figures
//! between them, per node role: CPU µs, bytes written (all, the WAL's, growth of `state/`), RSS.
//! Also the client's CPU (this process; signing happens before the phase, so it is not in it).

use super::procfs::{self, DirSizes, ProcSample};
use super::target::{Leadership, Target};
use crate::{http_get, parse_metrics};

/// One member's reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberReading {
    pub proc: Option<ProcSample>,
    pub dirs: DirSizes,
    /// The node's own WAL counters, where its build exports them (bytes, syncs).
    pub wal_bytes: Option<f64>,
    pub wal_syncs: Option<f64>,
}

pub struct Reading {
    pub members: Vec<MemberReading>,
    pub client_cpu_s: f64,
    pub leadership: Option<Leadership>,
    /// (node id, last snapshot index) of each member that answered.
    pub snapshots: Vec<(u64, u64)>,
}

pub async fn read(target: &Target) -> Reading {
    let mut members = Vec::with_capacity(target.members.len());
    for m in &target.members {
        let metrics = match m.metrics_addr.clone() {
            Some(addr) => tokio::task::spawn_blocking(move || wal_counters(&addr))
                .await
                .unwrap_or_default(),
            None => (None, None),
        };
        members.push(MemberReading {
            proc: m.pid.and_then(procfs::sample),
            dirs: m
                .data_dir
                .as_deref()
                .map(procfs::dir_sizes)
                .unwrap_or_default(),
            wal_bytes: metrics.0,
            wal_syncs: metrics.1,
        });
    }
    Reading {
        members,
        client_cpu_s: procfs::self_cpu_seconds(),
        leadership: target.leadership().await.ok(),
        snapshots: target.snapshot_indexes().await,
    }
}

/// `carbon_wal_written_bytes*` and `carbon_wal_syncs*` of a node's metrics, if it has them.
fn wal_counters(addr: &str) -> (Option<f64>, Option<f64>) {
    let Ok((200, text)) = http_get(addr, "/metrics") else {
        return (None, None);
    };
    let samples = parse_metrics(&text);
    let find = |prefix: &str| {
        samples
            .iter()
            .find(|s| s.name.starts_with(prefix) && !s.name.ends_with("_created"))
            .map(|s| s.value)
    };
    (find("carbon_wal_written_bytes"), find("carbon_wal_syncs"))
}

/// Per committed transaction, for one member over a phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerTx {
    pub cpu_us: f64,
    /// `/proc/PID/io` write_bytes: everything the process wrote.
    pub io_bytes: f64,
    /// The node's WAL counter (None when its build has none).
    pub wal_bytes: Option<f64>,
    /// Growth of the `state/` directory (may be negative: sled reclaims space).
    pub state_growth: f64,
    /// Transactions per WAL sync (None without the counter or without syncs).
    pub txs_per_sync: Option<f64>,
    /// RSS at the end of the phase, MiB.
    pub rss_mib: f64,
}

/// The figures of a phase, split by role.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub leader: Option<PerTx>,
    /// Mean over the followers.
    pub follower: Option<PerTx>,
    pub client_cpu_us: f64,
    /// Whether the leader changed during the phase (term or id).
    pub leader_changed: bool,
    /// Sum over every member: CPU µs per committed transaction.
    pub cluster_cpu_us: Option<f64>,
    /// Members that made a snapshot during the phase (a build pauses applies in today's node).
    pub snapshots: usize,
}

pub fn usage(target: &Target, before: &Reading, after: &Reading, committed: u64) -> Usage {
    let n = committed.max(1) as f64;
    let per: Vec<Option<PerTx>> = before
        .members
        .iter()
        .zip(&after.members)
        .map(|(b, a)| per_tx(b, a, n))
        .collect();
    let leader_idx = after.leadership.and_then(|l| target.index_of(l.leader_id));
    let leader = leader_idx.and_then(|i| per[i]);
    let followers: Vec<PerTx> = per
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != leader_idx)
        .filter_map(|(_, p)| *p)
        .collect();
    let all: Vec<PerTx> = per.iter().filter_map(|p| *p).collect();
    Usage {
        leader,
        follower: mean(&followers),
        client_cpu_us: (after.client_cpu_s - before.client_cpu_s) * 1e6 / n,
        leader_changed: before.leadership != after.leadership,
        cluster_cpu_us: (!all.is_empty()).then(|| all.iter().map(|p| p.cpu_us).sum()),
        snapshots: after
            .snapshots
            .iter()
            .filter(|(id, i)| before.snapshots.iter().any(|(b, j)| b == id && j < i))
            .count(),
    }
}

fn per_tx(b: &MemberReading, a: &MemberReading, n: f64) -> Option<PerTx> {
    let (pb, pa) = (b.proc?, a.proc?);
    let wal = match (b.wal_bytes, a.wal_bytes) {
        (Some(x), Some(y)) => Some((y - x) / n),
        _ => None,
    };
    let syncs = match (b.wal_syncs, a.wal_syncs) {
        (Some(x), Some(y)) if y > x => Some(n / (y - x)),
        _ => None,
    };
    Some(PerTx {
        cpu_us: (pa.cpu_s - pb.cpu_s) * 1e6 / n,
        io_bytes: pa.write_bytes.saturating_sub(pb.write_bytes) as f64 / n,
        wal_bytes: wal,
        state_growth: (a.dirs.state as f64 - b.dirs.state as f64) / n,
        txs_per_sync: syncs,
        rss_mib: pa.rss_kib as f64 / 1024.0,
    })
}

fn mean(xs: &[PerTx]) -> Option<PerTx> {
    if xs.is_empty() {
        return None;
    }
    let k = xs.len() as f64;
    let avg = |f: fn(&PerTx) -> f64| xs.iter().map(f).sum::<f64>() / k;
    let avg_opt = |f: fn(&PerTx) -> Option<f64>| {
        let v: Option<Vec<f64>> = xs.iter().map(f).collect();
        v.map(|v| v.iter().sum::<f64>() / k)
    };
    Some(PerTx {
        cpu_us: avg(|p| p.cpu_us),
        io_bytes: avg(|p| p.io_bytes),
        wal_bytes: avg_opt(|p| p.wal_bytes),
        state_growth: avg(|p| p.state_growth),
        txs_per_sync: avg_opt(|p| p.txs_per_sync),
        rss_mib: avg(|p| p.rss_mib),
    })
}
