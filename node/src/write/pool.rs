//! The ingress pool: the blocking and CPU-heavy part of accepting transactions, on a bounded set
//! of threads (one per core), never on a tokio worker. A job is one request's transactions; a
//! worker takes every job queued at that moment (up to [`BATCH_SIGNATURES_MAX`] signatures) and
//!
//! 1. looks each transaction id up among the committed ones (sled: may block on the disk);
//! 2. for jobs that ask it (on the leader), checks the rest (`checks::verify_all`): their
//!    signatures in ONE batch across all the requests taken, so concurrent `Submit`s share the
//!    batch's saving as a `SubmitBatch` does.
//!
//! A follower only looks up: the leader verifies every signature, once.

use super::checks;
use crate::errors::exhausted;
use crate::errors::ApiError;
use crate::ledger;
use crate::storage::StateMachine;
use carbon_proto::signing::TxId;
use carbon_proto::v1::{ErrorCode, Outcome, SignedTx};
use carbon_proto::VerifiedTx;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use crate::limits::QUEUE_JOBS_MAX;
pub use crate::limits::{BATCH_SIGNATURES_MAX, QUEUE_TXS_MAX};

/// What the pool concluded of one transaction.
pub enum Checked {
    /// Already committed: its first outcome.
    Committed(Outcome),
    /// Passed every ingress check.
    Verified(VerifiedTx),
    /// Not committed here, not checked (a follower forwards the bytes it received).
    Unchecked(SignedTx, TxId),
    Refused(ApiError),
}

struct Job {
    txs: Vec<(SignedTx, TxId)>,
    verify: bool,
    reply: oneshot::Sender<Vec<Checked>>,
}

/// The pool; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    queue: SyncSender<Job>,
    queued_txs: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts `threads` workers over `state` (where committed outcomes are looked up).
    pub fn start(threads: usize, state: StateMachine, chain_id: String) -> Pool {
        let (queue, rx) = mpsc::sync_channel(QUEUE_JOBS_MAX);
        let rx = Arc::new(Mutex::new(rx));
        let queued_txs = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let (rx, state, chain, queued) = (
                rx.clone(),
                state.clone(),
                chain_id.clone(),
                queued_txs.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("ingress-{i}"))
                .spawn(move || work(&rx, &state, &chain, &queued));
            if let Err(e) = spawned {
                tracing::error!("cannot start an ingress thread: {e}");
            }
        }
        Pool { queue, queued_txs }
    }

    /// Transactions waiting for a worker (metrics).
    pub fn queued(&self) -> usize {
        self.queued_txs.load(Ordering::Relaxed)
    }

    /// Looks the transactions up and, with `verify`, checks them; one answer per input, in order.
    /// Refuses the whole request (RESOURCE_EXHAUSTED, fate NOT_APPLIED) when the pool is full.
    pub async fn check(
        &self,
        txs: Vec<(SignedTx, TxId)>,
        verify: bool,
    ) -> Result<Vec<Checked>, ApiError> {
        let n = txs.len();
        let before = self.queued_txs.fetch_add(n, Ordering::Relaxed);
        let full = || {
            exhausted(format!(
                "{QUEUE_TXS_MAX} transactions are waiting for their ingress checks on this node \
                 (QUEUE_TXS_MAX); nothing was recorded: retry later"
            ))
        };
        if before.saturating_add(n) > QUEUE_TXS_MAX {
            self.queued_txs.fetch_sub(n, Ordering::Relaxed);
            return Err(full());
        }
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { txs, verify, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.queued_txs.fetch_sub(n, Ordering::Relaxed);
                return Err(full());
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::unavailable("the ingress pool stopped"));
            }
        }
        answer
            .await
            .map_err(|_| ApiError::unavailable("the ingress pool dropped a request"))
    }
}

/// One worker: takes what is queued, checks it, answers; until the pool is dropped.
fn work(rx: &Mutex<Receiver<Job>>, state: &StateMachine, chain_id: &str, queued: &AtomicUsize) {
    while let Some(mut jobs) = take(rx) {
        let n: usize = jobs.iter().map(|j| j.txs.len()).sum();
        let answers = check_all(state, chain_id, &mut jobs);
        queued.fetch_sub(n, Ordering::Relaxed);
        for (job, answer) in jobs.into_iter().zip(answers) {
            let _ = job.reply.send(answer);
        }
    }
}

/// Waits for a job, then takes the others queued, up to a batch's worth of signatures.
fn take(rx: &Mutex<Receiver<Job>>) -> Option<Vec<Job>> {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.recv().ok()?;
    let mut signatures = signatures(&first);
    let mut jobs = vec![first];
    while signatures < BATCH_SIGNATURES_MAX {
        match rx.try_recv() {
            Ok(job) => {
                signatures = signatures.saturating_add(self::signatures(&job));
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn signatures(job: &Job) -> usize {
    job.txs.iter().map(|(t, _)| t.signatures.len()).sum()
}

/// The answers of every job taken: lookups, then one verification of everything to verify.
fn check_all(state: &StateMachine, chain_id: &str, jobs: &mut [Job]) -> Vec<Vec<Checked>> {
    let view = state.view();
    let mut answers: Vec<Vec<Option<Checked>>> = Vec::with_capacity(jobs.len());
    let mut to_verify = Vec::new();
    let mut slots = Vec::new();
    for (j, job) in jobs.iter_mut().enumerate() {
        let mut a = Vec::with_capacity(job.txs.len());
        for (i, (signed, id)) in std::mem::take(&mut job.txs).into_iter().enumerate() {
            let answer = match ledger::committed(&view, &id) {
                Err(e) => Some(Checked::Refused(ApiError::fate_unknown(
                    ErrorCode::Unavailable,
                    e.0,
                ))),
                Ok(Some(c)) => Some(Checked::Committed(c.outcome.unwrap_or_default())),
                Ok(None) if !job.verify => Some(Checked::Unchecked(signed, id)),
                Ok(None) => {
                    to_verify.push(signed);
                    slots.push((j, i));
                    None
                }
            };
            a.push(answer);
        }
        answers.push(a);
    }
    for ((j, i), r) in slots
        .into_iter()
        .zip(checks::verify_all(chain_id, to_verify))
    {
        answers[j][i] = Some(match r {
            Ok(v) => Checked::Verified(v),
            Err(e) => Checked::Refused(e),
        });
    }
    answers
        .into_iter()
        .map(|a| {
            a.into_iter()
                .map(|c| {
                    c.unwrap_or_else(|| {
                        Checked::Refused(ApiError::unavailable("a transaction lost its check"))
                    })
                })
                .collect()
        })
        .collect()
}
