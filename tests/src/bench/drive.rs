//! Closed-loop drivers: `Submit` from C concurrent clients, `SubmitBatch` of B from K clients,
//! each client sending its next request when the previous one is answered. Every answer is
//! read with the one reading of the write contract (`nemesis::answer`) and counted: committed
//! successes, committed rejections (by code), not applied (by code), fate unknown.

use super::target::{Client, Target};
use crate::nemesis::answer::{self, Answer};
use anyhow::Result;
use carbon_proto::v1::{ErrorCode, SignedTx, SubmitBatchRequest, SubmitRequest};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, up to an hour.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid histogram bounds")
}

/// What the answers of a phase said, and how long it took.
#[derive(Clone)]
pub struct Tally {
    /// Committed with code OK.
    pub ok: u64,
    /// Committed rejections by the ledger, by code (a bench transfer is never one: a bug).
    pub rejected: BTreeMap<String, u64>,
    /// Certainly not committed (e.g. RESOURCE_EXHAUSTED), by code.
    pub not_applied: BTreeMap<String, u64>,
    /// Fate unknown (timeouts, lost leaders).
    pub unknown: u64,
    /// Per request (a whole batch for SubmitBatch), from send to answer, µs.
    pub latency: Histogram<u64>,
    /// Wall time of the phase.
    pub secs: f64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            ok: 0,
            rejected: BTreeMap::new(),
            not_applied: BTreeMap::new(),
            unknown: 0,
            latency: histogram(),
            secs: 0.0,
        }
    }
}

impl Tally {
    pub fn count(&mut self, a: &Answer) {
        match a {
            Answer::Committed(o) if o.code() == ErrorCode::Ok => self.ok += 1,
            Answer::Committed(o) => *self.rejected.entry(name(o.code())).or_default() += 1,
            Answer::NotApplied { code, .. } => {
                *self.not_applied.entry(name(*code)).or_default() += 1
            }
            Answer::Unknown(_) | Answer::OkWithoutOutcome => self.unknown += 1,
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.ok += o.ok;
        for (k, v) in &o.rejected {
            *self.rejected.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.not_applied {
            *self.not_applied.entry(k.clone()).or_default() += v;
        }
        self.unknown += o.unknown;
        let _ = self.latency.add(&o.latency);
    }

    /// Committed transactions (successes and rejections).
    pub fn committed(&self) -> u64 {
        self.ok + self.rejected.values().sum::<u64>()
    }

    /// Committed successes per second of wall time.
    pub fn tps(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }

    /// Everything that was not a committed success, in one line ("" when nothing).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in &self.rejected {
            parts.push(format!("{v} rejected {k}"));
        }
        for (k, v) in &self.not_applied {
            parts.push(format!("{v} not applied {k}"));
        }
        if self.unknown > 0 {
            parts.push(format!("{} fate unknown", self.unknown));
        }
        parts.join(", ")
    }
}

fn name(c: ErrorCode) -> String {
    c.as_str_name()
        .trim_start_matches("ERROR_CODE_")
        .to_string()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One `Submit`, answered.
pub async fn submit_one(c: &Client, tx: SignedTx) -> Answer {
    answer::submit(c.clone().submit(SubmitRequest { tx: Some(tx) }).await)
}

/// One `SubmitBatch`, answered per transaction.
pub async fn submit_batch(c: &Client, txs: Vec<SignedTx>) -> Vec<Answer> {
    let n = txs.len();
    answer::batch(c.clone().submit_batch(SubmitBatchRequest { txs }).await, n)
}

/// `Submit` of every transaction from `concurrency` clients over the connections of `pool`,
/// each client taking the next transaction when answered; stops taking new ones after `limit`.
pub async fn closed_submit(
    pool: &[Client],
    txs: Arc<Vec<SignedTx>>,
    concurrency: usize,
    limit: Duration,
) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (c, txs, next) = (pool[w % pool.len()].clone(), txs.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= txs.len() || t0.elapsed() > limit {
                        return tally;
                    }
                    let sent = Instant::now();
                    let a = submit_one(&c, txs[i].clone()).await;
                    let _ = tally.latency.record(micros(sent.elapsed()));
                    tally.count(&a);
                }
            })
        })
        .collect();
    join(workers, t0).await
}

/// `SubmitBatch` of `size` transactions from `clients` concurrent clients.
pub async fn closed_batch(
    pool: &[Client],
    txs: &[SignedTx],
    size: usize,
    clients: usize,
    limit: Duration,
) -> Tally {
    let batches: Arc<Vec<Vec<SignedTx>>> =
        Arc::new(txs.chunks(size.max(1)).map(<[_]>::to_vec).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..clients.max(1))
        .map(|w| {
            let (c, batches, next) = (pool[w % pool.len()].clone(), batches.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= batches.len() || t0.elapsed() > limit {
                        return tally;
                    }
                    let sent = Instant::now();
                    let answers = submit_batch(&c, batches[i].clone()).await;
                    let _ = tally.latency.record(micros(sent.elapsed()));
                    answers.iter().for_each(|a| tally.count(a));
                }
            })
        })
        .collect();
    join(workers, t0).await
}

async fn join(workers: Vec<tokio::task::JoinHandle<Tally>>, t0: Instant) -> Tally {
    let mut total = Tally::default();
    for w in workers {
        if let Ok(t) = w.await {
            total.merge(&t);
        }
    }
    total.secs = t0.elapsed().as_secs_f64();
    total
}

/// Setup: submits every transaction in batches until each is committed, a part of at most
/// `PART` at a time, resending the same bytes of those not committed (at most `ATTEMPTS`
/// times each, within `limit`), each attempt to the member that leads then: a follower would
/// forward every transaction of a batch on its own.
pub async fn batches_until_decided(
    target: &Target,
    txs: Vec<SignedTx>,
    size: usize,
    clients: usize,
    limit: Duration,
) -> Result<Tally> {
    const PART: usize = 50_000;
    let t0 = Instant::now();
    let mut total = Tally::default();
    for part in txs.chunks(PART) {
        let deadline = limit.saturating_sub(t0.elapsed());
        let t = part_until_decided(target, part.to_vec(), size, clients, deadline).await?;
        total.merge(&t);
    }
    total.secs = t0.elapsed().as_secs_f64();
    Ok(total)
}

async fn part_until_decided(
    target: &Target,
    txs: Vec<SignedTx>,
    size: usize,
    clients: usize,
    limit: Duration,
) -> Result<Tally> {
    const ATTEMPTS: usize = 20;
    let t0 = Instant::now();
    let mut total = Tally::default();
    let mut pending = txs;
    for attempt in 0..ATTEMPTS {
        if pending.is_empty() || t0.elapsed() > limit {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
        }
        let pool = target.pool(target.leader_index().await?, clients).await?;
        let (decided, again) = one_pass(&pool, pending, size, clients).await;
        total.merge(&decided);
        pending = again;
    }
    total.unknown += pending.len() as u64;
    Ok(total)
}

/// One pass of [`batches_until_decided`]: the committed answers, and what to send again.
async fn one_pass(
    pool: &[Client],
    txs: Vec<SignedTx>,
    size: usize,
    clients: usize,
) -> (Tally, Vec<SignedTx>) {
    let batches: Vec<Vec<SignedTx>> = txs.chunks(size).map(<[_]>::to_vec).collect();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let workers: Vec<_> = (0..clients.max(1))
        .map(|w| {
            let (c, queue) = (pool[w % pool.len()].clone(), queue.clone());
            tokio::spawn(async move {
                let (mut tally, mut again) = (Tally::default(), Vec::new());
                loop {
                    let Some(batch) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                        return (tally, again);
                    };
                    let answers = submit_batch(&c, batch.clone()).await;
                    for (tx, a) in batch.into_iter().zip(answers) {
                        match a {
                            Answer::Committed(_) => tally.count(&a),
                            _ => again.push(tx),
                        }
                    }
                }
            })
        })
        .collect();
    let (mut total, mut again) = (Tally::default(), Vec::new());
    for w in workers {
        if let Ok((t, a)) = w.await {
            total.merge(&t);
            again.extend(a);
        }
    }
    (total, again)
}
