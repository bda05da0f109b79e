//! Open loop: transfers sent at a fixed rate whatever the answers, each latency measured from
//! the transfer's INTENDED send time (t0 + i / rate), so a stall delays the measured latencies
//! of everything scheduled behind it instead of hiding them (no coordinated omission).
//!
//! Only committed answers enter the histogram; the others are counted by kind.
//! Requests in flight are bounded (`IN_FLIGHT_PER_CONNECTION` on each connection of the pool);
//! a send that waits for a slot, or for the scheduler, counts as late, and its
//! latency still starts at its intended time.

use super::drive::{self, histogram, Tally};
use super::target::Client;
use crate::nemesis::answer::Answer;
use carbon_proto::v1::SignedTx;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Requests in flight on one connection: the registry's `REQUESTS_PER_CONNECTION_MAX` (more are
/// shed by the node).
pub const IN_FLIGHT_PER_CONNECTION: usize = 256;

/// Later than this after its intended time, a send counts as late (tokio's timer has 1 ms
/// granularity).
pub const LATE: Duration = Duration::from_millis(2);

pub struct OpenLoop {
    /// Answers; `latency` is from the intended send time.
    pub tally: Tally,
    pub rate: f64,
    pub scheduled: usize,
    pub late: u64,
}

/// Sends `txs` at `rate` per second over `pool` for at most `limit`, then waits (bounded by the
/// request timeout) for the answers.
pub async fn run(pool: &[Client], txs: Vec<SignedTx>, rate: f64, limit: Duration) -> OpenLoop {
    run_until(pool, txs, rate, limit, &AtomicBool::new(false)).await
}

/// [`run`], that also stops sending once `stop` is set.
pub async fn run_until(
    pool: &[Client],
    txs: Vec<SignedTx>,
    rate: f64,
    limit: Duration,
    stop: &AtomicBool,
) -> OpenLoop {
    let slots: Vec<Arc<Semaphore>> = (0..pool.len().max(1))
        .map(|_| Arc::new(Semaphore::new(IN_FLIGHT_PER_CONNECTION)))
        .collect();
    let shared = Arc::new(Mutex::new(Tally::default()));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let (t0, mut late, mut scheduled) = (Instant::now(), 0u64, 0usize);
    let mut handles = Vec::with_capacity(txs.len());
    for (i, tx) in txs.into_iter().enumerate() {
        let intended = t0 + interval.mul_f64(i as f64);
        if intended.duration_since(t0) > limit || stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let Ok(permit) = slots[i % slots.len()].clone().acquire_owned().await else {
            break;
        };
        if intended.elapsed() > LATE {
            late += 1;
        }
        scheduled += 1;
        let (c, shared) = (pool[i % pool.len()].clone(), shared.clone());
        handles.push(tokio::spawn(async move {
            let a = drive::submit_one(&c, tx).await;
            let us = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
            if let Ok(mut t) = shared.lock() {
                if matches!(a, Answer::Committed(_)) {
                    let _ = t.latency.record(us.max(1));
                }
                t.count(&a);
            }
            drop(permit);
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let mut tally = shared.lock().map(|t| t.clone()).unwrap_or_default();
    tally.secs = t0.elapsed().as_secs_f64();
    if tally.latency.is_empty() {
        tally.latency = histogram();
    }
    OpenLoop {
        tally,
        rate,
        scheduled,
        late,
    }
}
