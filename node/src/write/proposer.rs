//! The leader's proposer: the verified transactions of every request waiting are put into ONE
//! log entry, proposed with the leader's timestamp; each request gets its outcomes back, in
//! memory, when the entry is applied.
//!
//! openraft 0.9 waits for each append's flush, so throughput comes from many transactions per
//! entry: an entry takes whatever is queued when a proposal slot frees (a lone transaction on an
//! idle leader goes at once, alone; under load entries fill up to [`ENTRY_BYTES_MAX`] or the
//! configured `max_batch` transactions). A few entries may be in flight at once so that the next
//! fills while the previous one is replicated.
//!
//! Admission: at most `limits::PROPOSAL_QUEUE_BYTES_MAX` bytes wait for proposal; a request that
//! would exceed it is refused at once (RESOURCE_EXHAUSTED, fate NOT_APPLIED) rather than queued
//! behind seconds of work.

use crate::errors::exhausted;
use crate::errors::ApiError;
use crate::limits::PROPOSAL_QUEUE_BYTES_MAX;
use crate::raft::watchdog::Liveness;
use crate::raft::{Batch, Raft};
use bytes::Bytes;
use carbon_proto::v1::Outcome;
use openraft::error::{ClientWriteError, RaftError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

pub use crate::limits::ENTRY_BYTES_MAX;
use crate::limits::{ENTRIES_IN_FLIGHT_MAX, QUEUE_GROUPS_MAX};

type Reply = oneshot::Sender<Result<Vec<Outcome>, ApiError>>;

/// One request's transactions (or the part of them that fits one entry).
struct Group {
    txs: Vec<Bytes>,
    bytes: usize,
    reply: Reply,
    /// The group's share of `PROPOSAL_QUEUE_BYTES_MAX`, returned when it is answered.
    _queued: Option<OwnedSemaphorePermit>,
}

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Group>,
    raft: Raft,
    gate: Arc<Liveness>,
    /// Bytes that may still be queued (`PROPOSAL_QUEUE_BYTES_MAX` in all).
    queue_bytes: Arc<Semaphore>,
    queued_txs: Arc<AtomicUsize>,
    entry_txs_max: usize,
}

impl Proposer {
    /// `gate` says whether this leader may propose now (quorum, clock: `raft::watchdog`);
    /// `entry_txs_max` bounds the transactions of one entry (config `max_batch`).
    pub fn start(raft: Raft, entry_txs_max: usize, gate: Arc<Liveness>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_GROUPS_MAX);
        let queued_txs = Arc::new(AtomicUsize::new(0));
        let entry_txs_max = entry_txs_max.max(1);
        let run = Run {
            raft: raft.clone(),
            gate: gate.clone(),
            queued_txs: queued_txs.clone(),
            entry_txs_max,
        };
        tokio::spawn(run.serve(rx));
        Proposer {
            queue,
            raft,
            gate,
            queue_bytes: Arc::new(Semaphore::new(PROPOSAL_QUEUE_BYTES_MAX)),
            queued_txs,
            entry_txs_max,
        }
    }

    /// Proposes verified transactions (their signed bytes); resolves with one outcome per
    /// transaction, in order, once they are applied. Refuses them all with RESOURCE_EXHAUSTED
    /// when `PROPOSAL_QUEUE_BYTES_MAX` bytes already wait.
    pub async fn propose(&self, txs: Vec<Bytes>) -> Result<Vec<Outcome>, ApiError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let total: usize = txs.iter().map(Bytes::len).sum();
        let permits = u32::try_from(total)
            .ok()
            .and_then(|n| self.queue_bytes.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                exhausted(format!(
                    "the leader has {PROPOSAL_QUEUE_BYTES_MAX} bytes of transactions waiting for \
                     proposal (PROPOSAL_QUEUE_BYTES_MAX); nothing was recorded: retry later"
                ))
            })?;
        let mut answers = Vec::new();
        for (part, permit) in split(txs, self.entry_txs_max, permits) {
            let (reply, rx) = oneshot::channel();
            let bytes = part.iter().map(Bytes::len).sum();
            self.queued_txs.fetch_add(part.len(), Ordering::Relaxed);
            let group = Group {
                txs: part,
                bytes,
                reply,
                _queued: permit,
            };
            self.queue
                .send(group)
                .await
                .map_err(|_| ApiError::unavailable("the node is shutting down"))?;
            answers.push(rx);
        }
        let mut outcomes = Vec::new();
        for rx in answers {
            let part = rx
                .await
                .map_err(|_| ApiError::unavailable("the proposal was dropped"))??;
            outcomes.extend(part);
        }
        Ok(outcomes)
    }

    /// Transactions waiting to be put into an entry (metrics).
    pub fn queue_depth(&self) -> usize {
        self.queued_txs.load(Ordering::Relaxed)
    }

    /// Commits an entry without transactions, stamped with this leader's clock, and waits until
    /// it is applied: the ledger's time moves to at least now (used to settle expired
    /// transactions, see `super::deliver`).
    pub async fn advance_ledger_time(&self) -> Result<(), ApiError> {
        self.gate
            .admit()
            .map_err(|refusal| ApiError::unavailable(refusal.to_string()))?;
        self.raft
            .client_write(entry(Vec::new(), self.gate.ledger_version()))
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot move the ledger's time: {e}")))?;
        Ok(())
    }
}

/// An entry of these transactions, stamped now by this leader's clock, to be applied with
/// `ledger_version` (the newest every voter applies: `Liveness::ledger_version`).
fn entry(txs: Vec<Bytes>, ledger_version: u32) -> Batch {
    Batch {
        timestamp_ms: crate::raft::clock::now_ms(),
        ledger_version,
        txs,
    }
}

/// Cuts a request into parts that each fit one entry, each with its share of the permits.
fn split(
    txs: Vec<Bytes>,
    entry_txs_max: usize,
    permits: OwnedSemaphorePermit,
) -> Vec<(Vec<Bytes>, Option<OwnedSemaphorePermit>)> {
    let mut parts = Vec::new();
    let mut current: Vec<Bytes> = Vec::new();
    let mut bytes = 0usize;
    for t in txs {
        let full = current.len() >= entry_txs_max || bytes + t.len() > ENTRY_BYTES_MAX;
        if full && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += t.len();
        current.push(t);
    }
    parts.push(current);
    let n = parts.len();
    let mut rest = Some(permits);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let share: usize = p.iter().map(Bytes::len).sum();
            let permit = if i + 1 < n {
                rest.as_mut().and_then(|r| r.split(share))
            } else {
                rest.take()
            };
            (p, permit)
        })
        .collect()
}

/// The proposing task.
struct Run {
    raft: Raft,
    gate: Arc<Liveness>,
    queued_txs: Arc<AtomicUsize>,
    entry_txs_max: usize,
}

impl Run {
    async fn serve(self, mut rx: mpsc::Receiver<Group>) {
        let slots = Arc::new(Semaphore::new(ENTRIES_IN_FLIGHT_MAX));
        let mut carry: Option<Group> = None;
        loop {
            let first = match carry.take() {
                Some(g) => g,
                None => match rx.recv().await {
                    Some(g) => g,
                    None => return,
                },
            };
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (txs, mut bytes) = (first.txs.len(), first.bytes);
            let mut txs = txs;
            let mut groups = vec![first];
            while let Ok(g) = rx.try_recv() {
                if txs + g.txs.len() > self.entry_txs_max || bytes + g.bytes > ENTRY_BYTES_MAX {
                    carry = Some(g);
                    break;
                }
                txs += g.txs.len();
                bytes += g.bytes;
                groups.push(g);
            }
            self.queued_txs.fetch_sub(txs, Ordering::Relaxed);
            let (raft, gate) = (self.raft.clone(), self.gate.clone());
            let in_flight = &crate::metrics::get().proposals_in_flight;
            in_flight.inc();
            tokio::spawn(async move {
                propose_entry(&raft, groups, &gate).await;
                in_flight.dec();
                drop(slot);
            });
        }
    }
}

/// Proposes one entry of these groups and answers each group.
async fn propose_entry(raft: &Raft, groups: Vec<Group>, gate: &Liveness) {
    if let Err(refusal) = gate.admit() {
        return answer_all(groups, &ApiError::unavailable(refusal.to_string()));
    }
    let mut sizes = Vec::with_capacity(groups.len());
    let mut txs = Vec::new();
    let mut replies = Vec::with_capacity(groups.len());
    for g in groups {
        sizes.push(g.txs.len());
        txs.extend(g.txs);
        replies.push((g.reply, g._queued));
    }
    let n = txs.len();
    crate::metrics::get().batch_txs.observe(n as f64);
    // A leader that goes quiet while the entry is in flight cannot commit it until a majority
    // follows again: its callers learn that now (fate unknown) instead of waiting for the heal.
    let result = tokio::select! {
        r = raft.client_write(entry(txs, gate.ledger_version())) => r,
        () = gate.until_quiet() => {
            let e = ApiError::unavailable(
                "this leader lost its majority while the entry was in flight; it may still commit",
            );
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
    };
    let outcomes = match result {
        Ok(resp) if resp.data.outcomes.len() == n => resp.data.outcomes,
        Ok(resp) => {
            let e = ApiError::unavailable(format!(
                "the entry returned {} outcomes for {n} transactions",
                resp.data.outcomes.len()
            ));
            return replies
                .into_iter()
                .for_each(|(r, _)| drop(r.send(Err(e.clone()))));
        }
        Err(e) => {
            let e = proposal_error(&e);
            return replies
                .into_iter()
                .for_each(|(r, _)| drop(r.send(Err(e.clone()))));
        }
    };
    let mut outcomes = outcomes.into_iter();
    for ((reply, _permit), size) in replies.into_iter().zip(sizes) {
        let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
    }
}

fn answer_all(groups: Vec<Group>, e: &ApiError) {
    for g in groups {
        let _ = g.reply.send(Err(e.clone()));
    }
}

fn proposal_error(e: &RaftError<u64, ClientWriteError<u64, crate::raft::NodeAddr>>) -> ApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            let mut err = ApiError::unavailable("this node is no longer the leader");
            if let (Some(id), Some(node)) = (f.leader_id, &f.leader_node) {
                err.leader = Some((id, node.client_addr.clone()));
            }
            err
        }
        other => ApiError::unavailable(format!("the proposal failed: {other}")),
    }
}
