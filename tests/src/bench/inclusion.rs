//! The carbon-inclusion scale run (`carbon-bench --inclusion N`, issue 18): one platform opens
//! N personal accounts through the bulk path (`OpenPersonalAccounts`, 10,000 rows a
//! transaction), records one day of reductions for every one of them (`RecordReductions`,
//! 10,000 rows a transaction) and converts them into PHCER, while other users' transfers go on
//! at a fixed rate (open loop, latency from the intended send time). Before the bulk steps the
//! same transfer load runs alone, so the two latencies can be read side by side.
//!
//! The bulk client sends one transaction at a time, as `carbonctl platform open-accounts` and
//! `platform record` do; a fate-unknown answer is sent again with the same bytes. Per step: wall
//! time, rows per second, and per row and member role the CPU, bytes written and growth of
//! `state/`, with RSS at the end.

use super::accounts::{body, key, Keyring};
use super::drive::{self, Tally};
use super::measure::{self, Usage};
use super::open_loop::{self, OpenLoop};
use super::run::{Options, CONNECTIONS};
use super::target::Target;
use super::workload::{self, Spender};
use crate::nemesis::answer::Answer;
use crate::{demo_key, now_ms, REG};
use anyhow::{bail, Result};
use carbon_proto::signing::sign_body;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::{
    AllowPersonalAccounts, ApproveMethodology, ConvertReductions, ErrorCode, InclusionMethodology,
    OpenAccount, OpenPersonalAccounts, PersonalAccount, RecordReductions, ReductionRow, Role,
    SignedTx,
};
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows of one bulk transaction (the ledger's most, rule 16).
pub const ROWS_PER_TX: usize = 10_000;
/// Grams each person reduced on the recorded day (1 kg: a bus commute).
const GRAMS_PER_ROW: u64 = 1_000;
/// Times the bulk client sends the same bytes of a transaction whose fate is unknown.
const ATTEMPTS_MAX: usize = 20;
/// The longest a bulk step may take.
const STEP_SECS_MAX: u64 = 4 * 3_600;
/// The other users' transfers go on for at most this long during a bulk step (they are signed
/// before it, and each sender may send at most its funded units over the whole run).
const SIDE_SECS_MAX: f64 = 600.0;

/// One step of the run: the bulk rows it committed and what it cost, and the other users'
/// transfers meanwhile.
pub struct BulkStep {
    pub what: &'static str,
    pub rows: usize,
    pub txs: usize,
    pub secs: f64,
    /// Per row (not per transaction).
    pub usage: Usage,
    pub side: OpenLoop,
}

/// What the whole run cost each member: the readings before the first bulk step and after the
/// last.
pub struct Totals {
    pub persons: usize,
    pub before: measure::Reading,
    pub after: measure::Reading,
}

/// The platform of a run and its key.
struct Platform {
    id: String,
    key: SigningKey,
    methodology: String,
}

/// Runs the scale steps on `target` (its enterprise accounts `ring` opened and funded).
pub async fn run(
    opts: &Options,
    target: &Target,
    ring: &Keyring,
    persons: usize,
) -> Result<(Vec<BulkStep>, Totals)> {
    let plat = setup(opts, target).await?;
    let ids: Vec<String> = (0..persons)
        .map(|i| format!("BP{}-{i:07}", opts.tag))
        .collect();
    let rate = opts.rate.unwrap_or(100.0);
    let mut spender = Spender::new(ring.len(), opts.fund_units, opts.seed);
    let mut steps = Vec::new();
    let alone = Duration::from_secs_f64(opts.open_secs);
    let open = sign_rows(&ids, |rows| open_op(&plat, rows), &plat);
    let record = sign_rows(&ids, |rows| record_op(&plat, rows), &plat);
    let convert = vec![sign_body(&body(REG, convert_op(&plat)), &[&demo_key(REG)])];
    // The last step lets the members write their state back (a write-back every 64 entries),
    // so that the totals count what reached the disk.
    let plan: [(&'static str, Vec<SignedTx>, usize); 5] = [
        ("transfers alone", Vec::new(), 0),
        ("open accounts", open, persons),
        ("record a day", record, persons),
        ("convert", convert, persons),
        ("transfers after", Vec::new(), 0),
    ];
    let mut before = None;
    for (what, bulk, rows) in plan {
        if rows > 0 && before.is_none() {
            target.wait_applied(Duration::from_secs(120)).await;
            before = Some(measure::read(target).await);
        }
        let s = Side {
            ring,
            spender: &mut spender,
            rate,
            alone,
        };
        steps.push(step(target, s, what, bulk, rows).await?);
    }
    let before = match before {
        Some(b) => b,
        None => measure::read(target).await,
    };
    // After the last step's transfers (a few hundred: their share of the totals is small).
    let after = measure::read(target).await;
    let totals = Totals {
        persons,
        before,
        after,
    };
    Ok((steps, totals))
}

/// Opens the platform, allows it to open personal accounts and approves its methodology.
async fn setup(opts: &Options, target: &Target) -> Result<Platform> {
    let id = format!("BN{}-PLAT", opts.tag);
    let plat = Platform {
        key: key(opts.seed, &id),
        methodology: format!("BN{}-BUS", opts.tag),
        id,
    };
    let reg = demo_key(REG);
    let ops = [
        Operation::OpenAccount(OpenAccount {
            account_id: plat.id.clone(),
            role: Role::Platform as i32,
            name: "bench inclusion platform".into(),
            region: "丽水市".into(),
            public_keys: vec![plat.key.verifying_key().to_bytes().to_vec()],
            threshold: 1,
        }),
        Operation::AllowPersonalAccounts(AllowPersonalAccounts {
            platform_id: plat.id.clone(),
            allowed: true,
        }),
        Operation::ApproveMethodology(ApproveMethodology {
            methodology: Some(InclusionMethodology {
                code: plat.methodology.clone(),
                behaviour: "公交出行".into(),
                platform_ids: vec![plat.id.clone()],
                daily_cap_grams: 100 * GRAMS_PER_ROW,
                approved_sequence: 0,
            }),
        }),
    ];
    for op in ops {
        let tx = sign_body(&body(REG, op), &[&reg]);
        let a = submit_decided(target, tx).await?;
        if !matches!(&a, Answer::Committed(o) if o.code() == ErrorCode::Ok) {
            bail!("setting up the platform: {a:?}");
        }
    }
    Ok(plat)
}

fn open_op(plat: &Platform, rows: &[String]) -> Operation {
    Operation::OpenPersonalAccounts(OpenPersonalAccounts {
        platform_id: plat.id.clone(),
        region: "丽水市".into(),
        accounts: rows
            .iter()
            .map(|id| PersonalAccount {
                account_id: id.clone(),
                name: String::new(),
            })
            .collect(),
    })
}

fn record_op(plat: &Platform, rows: &[String]) -> Operation {
    Operation::RecordReductions(RecordReductions {
        platform_id: plat.id.clone(),
        methodology: plat.methodology.clone(),
        date: carbon_proto::dates::date_of(now_ms()),
        rows: rows
            .iter()
            .map(|id| ReductionRow {
                account_id: id.clone(),
                grams: GRAMS_PER_ROW,
            })
            .collect(),
    })
}

fn convert_op(plat: &Platform) -> Operation {
    Operation::ConvertReductions(ConvertReductions {
        platform_id: plat.id.clone(),
        methodology: plat.methodology.clone(),
        year: carbon_proto::dates::date_of(now_ms()) / 10_000,
    })
}

/// One platform transaction per `ROWS_PER_TX` ids, signed by the platform.
fn sign_rows(
    ids: &[String],
    op: impl Fn(&[String]) -> Operation + Sync,
    plat: &Platform,
) -> Vec<SignedTx> {
    let chunks: Vec<&[String]> = ids.chunks(ROWS_PER_TX).collect();
    workload::sign_parallel(&chunks, |rows| {
        sign_body(&body(&plat.id, op(rows)), &[&plat.key])
    })
}

/// The other users' transfers of a step: uniform between the enterprise accounts at `rate`,
/// for `alone` when no bulk transaction runs beside them.
struct Side<'a> {
    ring: &'a Keyring,
    spender: &'a mut Spender,
    rate: f64,
    alone: Duration,
}

/// Sends `bulk` (covering `rows` rows) one transaction at a time while the side transfers go.
async fn step(
    target: &Target,
    side: Side<'_>,
    what: &'static str,
    bulk: Vec<SignedTx>,
    rows: usize,
) -> Result<BulkStep> {
    println!("  {what}: {} bulk transaction(s) ...", bulk.len());
    let (txs, rate) = (bulk.len(), side.rate);
    // Enough side transfers for the step (`SIDE_SECS_MAX` of them for a bulk step).
    let side_secs = if txs == 0 {
        side.alone.as_secs_f64()
    } else {
        SIDE_SECS_MAX
    };
    let side_txs = workload::uniform(side.ring, side.spender, (rate * side_secs) as usize);
    let alone = side.alone;
    let pool = target
        .pool(target.leader_index().await?, CONNECTIONS)
        .await?;
    target.wait_applied(Duration::from_secs(120)).await;
    let before = measure::read(target).await;
    let stop = Arc::new(AtomicBool::new(false));
    let limit = if bulk.is_empty() {
        alone
    } else {
        Duration::from_secs(STEP_SECS_MAX)
    };
    let side = tokio::spawn({
        let (pool, stop) = (pool.clone(), stop.clone());
        async move { open_loop::run_until(&pool, side_txs, rate, limit, &stop).await }
    });
    let t0 = Instant::now();
    let sent = send_all(target, bulk).await;
    let secs = t0.elapsed().as_secs_f64();
    if txs == 0 {
        tokio::time::sleep(alone).await;
    }
    stop.store(true, Ordering::Relaxed);
    let side = side.await?;
    sent?;
    target.wait_applied(Duration::from_secs(600)).await;
    let after = measure::read(target).await;
    let per = if rows == 0 {
        side.tally.committed()
    } else {
        rows as u64
    };
    Ok(BulkStep {
        what,
        rows,
        txs,
        secs: if txs == 0 { side.tally.secs } else { secs },
        usage: measure::usage(target, &before, &after, per),
        side,
    })
}

/// Sends each transaction in turn until it is committed with OK.
async fn send_all(target: &Target, bulk: Vec<SignedTx>) -> Result<()> {
    for (i, tx) in bulk.into_iter().enumerate() {
        match submit_decided(target, tx).await? {
            Answer::Committed(o) if o.code() == ErrorCode::Ok => {}
            other => bail!("bulk transaction {i}: {other:?}"),
        }
    }
    Ok(())
}

/// One transaction to the leader of the moment, the same bytes again while its fate is unknown
/// or the leader is busy (NOT_APPLIED), at most `ATTEMPTS_MAX` times.
async fn submit_decided(target: &Target, tx: SignedTx) -> Result<Answer> {
    let mut last = None;
    for attempt in 0..ATTEMPTS_MAX {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
        }
        let Ok(i) = target.leader_index().await else {
            continue;
        };
        let c = target.connect(i).await?;
        let a = drive::submit_one(&c, tx.clone()).await;
        match a {
            Answer::Committed(_) => return Ok(a),
            other => last = Some(other),
        }
    }
    bail!("no outcome after {ATTEMPTS_MAX} attempts: {last:?}")
}

/// Each member's data directory and RSS after the run, and their growth per person over the
/// bulk steps (opening, recording, converting).
pub fn print_totals(t: &Totals) {
    println!("\n--- per member, over the bulk steps (growth per person; size at the end) ---");
    let n = t.persons.max(1) as f64;
    for (i, (b, a)) in t.before.members.iter().zip(&t.after.members).enumerate() {
        let grow = |x: u64, y: u64| (y as f64 - x as f64) / n;
        let io = match (b.proc, a.proc) {
            (Some(pb), Some(pa)) => pa.write_bytes.saturating_sub(pb.write_bytes) as f64 / n,
            _ => 0.0,
        };
        let rss = a.proc.map_or(0.0, |p| p.rss_kib as f64 / 1024.0);
        println!(
            "member {i}: written {io:.0} B/person · wal {:+.0} B/person ({:.1} MiB) · state {:+.0} B/person ({:.1} MiB) · snapshots and rest {:+.0} B/person ({:.1} MiB) · RSS {rss:.0} MiB",
            grow(b.dirs.wal, a.dirs.wal),
            a.dirs.wal as f64 / 1048576.0,
            grow(b.dirs.state, a.dirs.state),
            a.dirs.state as f64 / 1048576.0,
            grow(b.dirs.other, a.dirs.other),
            a.dirs.other as f64 / 1048576.0,
        );
    }
}

/// The step table: wall time and rate of each bulk step, its cost per row and role, and the
/// other users' transfer latency meanwhile.
pub fn print(steps: &[BulkStep]) {
    println!("\n--- carbon inclusion at scale (bulk client: one transaction at a time) ---");
    println!(
        "{:<17} {:>9} {:>5} {:>9} {:>9} | per row: CPU µs L {:>6} F {:>6} · io B L {:>7} F {:>7} · state Δ B L {:>7} F {:>7} | RSS MiB L / F | other transfers: rate ok p50 p99 p999 max ms",
        "step", "rows", "txs", "secs", "rows/s", "", "", "", "", "", ""
    );
    for s in steps {
        let (l, f) = (
            s.usage.leader.unwrap_or_default(),
            s.usage.follower.unwrap_or_default(),
        );
        let q = |p: f64| s.side.tally.latency.value_at_quantile(p) as f64 / 1000.0;
        println!(
            "{:<17} {:>9} {:>5} {:>9.1} {:>9.0} | CPU µs L {:>6.0} F {:>6.0} · io B L {:>7.0} F {:>7.0} · state Δ B L {:>7.0} F {:>7.0} | {:.0} / {:.0} | {:.0}/s {} {:.1} {:.1} {:.1} {:.1}{}",
            s.what,
            s.rows,
            s.txs,
            s.secs,
            s.rows as f64 / s.secs.max(1e-9),
            l.cpu_us,
            f.cpu_us,
            l.io_bytes,
            f.io_bytes,
            l.state_growth,
            f.state_growth,
            l.rss_mib,
            f.rss_mib,
            s.side.rate,
            s.side.tally.ok,
            q(0.5),
            q(0.99),
            q(0.999),
            s.side.tally.latency.max() as f64 / 1000.0,
            side_note(&s.side.tally, s.usage.leader_changed),
        );
    }
}

fn side_note(t: &Tally, leader_changed: bool) -> String {
    let mut n = String::new();
    if t.unknown > 0 || !t.not_applied.is_empty() || !t.rejected.is_empty() {
        n.push_str(&format!(" · {}", t.summary()));
    }
    if leader_changed {
        n.push_str(" · LEADER CHANGED");
    }
    n
}
