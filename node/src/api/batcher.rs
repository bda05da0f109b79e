//! The leader's batcher: concurrent submissions are grouped into ONE log entry, proposed with the
//! leader's timestamp; each caller gets its own outcome back.
//!
//! openraft 0.9 waits for each append's flush, so throughput comes from many transactions per
//! entry. A few proposals may be in flight at once so that the next batch fills while the
//! previous one is being replicated.

use super::errors::ApiError;
use super::ingress::now_ms;
use super::limits::{exhausted, PROPOSAL_QUEUE_BYTES_MAX};
use crate::raft::watchdog::Liveness;
use crate::raft::{Batch, Raft};
use carbon_proto::v1::Outcome;
use carbon_proto::VerifiedTx;
use openraft::error::{ClientWriteError, RaftError};
use prost::Message;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Bytes of transactions in one entry at most. One append carries up to `max_payload_entries`
/// (16) entries, which must fit in a peer message with room to spare.
pub const MAX_BATCH_BYTES: usize = 2 << 20;

const _: () = assert!(16 * MAX_BATCH_BYTES * 2 <= crate::raft::network::MAX_PEER_MESSAGE);
/// Proposals in flight at once.
const IN_FLIGHT: usize = 4;
const QUEUE: usize = 65_536;

type Reply = oneshot::Sender<Result<Outcome, ApiError>>;

struct Pending {
    bytes: Vec<u8>,
    reply: Reply,
    /// This transaction's share of `PROPOSAL_QUEUE_BYTES_MAX`, returned when it is answered.
    _queued: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Pending>,
    raft: Raft,
    gate: Arc<Liveness>,
    /// Bytes that may still be queued (`limits::PROPOSAL_QUEUE_BYTES_MAX` in all).
    queue_bytes: Arc<Semaphore>,
}

impl Batcher {
    /// `gate` says whether this leader may propose now (quorum, clock: `raft::watchdog`).
    pub fn start(raft: Raft, max_batch: usize, gate: Arc<Liveness>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft.clone(), rx, max_batch, gate.clone()));
        Batcher {
            queue,
            raft,
            gate,
            queue_bytes: Arc::new(Semaphore::new(PROPOSAL_QUEUE_BYTES_MAX)),
        }
    }

    /// Queues a verified transaction; resolves when its entry is applied. Refuses it with
    /// RESOURCE_EXHAUSTED while `PROPOSAL_QUEUE_BYTES_MAX` bytes wait for proposal.
    pub async fn submit(&self, tx: &VerifiedTx) -> Result<Outcome, ApiError> {
        let bytes = tx.signed.encode_to_vec();
        let queued = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| self.queue_bytes.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| {
                exhausted(format!(
                    "the leader has {PROPOSAL_QUEUE_BYTES_MAX} bytes of transactions waiting for proposal (PROPOSAL_QUEUE_BYTES_MAX); retry later"
                ))
            })?;
        let (reply, rx) = oneshot::channel();
        let p = Pending {
            bytes,
            reply,
            _queued: queued,
        };
        self.queue
            .send(p)
            .await
            .map_err(|_| ApiError::unavailable("the node is shutting down"))?;
        rx.await
            .map_err(|_| ApiError::unavailable("the proposal was dropped"))?
    }

    /// Transactions waiting to be put into an entry (metrics).
    pub fn queue_depth(&self) -> usize {
        QUEUE - self.queue.capacity()
    }

    /// Commits an entry without transactions, stamped with this leader's clock, and waits until
    /// it is applied: the ledger's time moves to at least now (used to settle expired
    /// transactions, see `submit`).
    pub async fn advance_ledger_time(&self) -> Result<(), ApiError> {
        self.gate
            .admit()
            .map_err(|refusal| ApiError::unavailable(refusal.to_string()))?;
        let entry = Batch {
            timestamp_ms: now_ms(),
            ledger_version: self.gate.ledger_version(),
            txs: Vec::new(),
        };
        self.raft
            .client_write(entry)
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot move the ledger's time: {e}")))?;
        Ok(())
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Pending>, max_batch: usize, gate: Arc<Liveness>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut size = first.bytes.len();
        let mut batch = vec![first];
        while batch.len() < max_batch && size < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    size += p.bytes.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let (raft, gate) = (raft.clone(), gate.clone());
        let in_flight = &crate::metrics::get().proposals_in_flight;
        in_flight.inc();
        tokio::spawn(async move {
            propose(raft, batch, &gate).await;
            in_flight.dec();
            drop(permit);
        });
    }
}

async fn propose(raft: Raft, batch: Vec<Pending>, gate: &Liveness) {
    // The permits of the batch are held until every caller is answered.
    let mut permits = Vec::with_capacity(batch.len());
    let (txs, replies): (Vec<Vec<u8>>, Vec<Reply>) = batch
        .into_iter()
        .map(|p| {
            permits.push(p._queued);
            (p.bytes, p.reply)
        })
        .unzip();
    if let Err(refusal) = gate.admit() {
        let err = ApiError::unavailable(refusal.to_string());
        for reply in replies {
            let _ = reply.send(Err(err.clone()));
        }
        return;
    }
    let n = txs.len();
    crate::metrics::get().batch_txs.observe(n as f64);
    let entry = Batch {
        timestamp_ms: now_ms(),
        ledger_version: gate.ledger_version(),
        txs,
    };
    // A leader that goes quiet while the entry is in flight cannot commit it until a majority
    // follows again: its callers learn that now (fate unknown) instead of waiting for the heal.
    let result = tokio::select! {
        r = raft.client_write(entry) => r,
        () = gate.until_quiet() => {
            let err = ApiError::unavailable(
                "this leader lost its majority while the entry was in flight; it may still commit",
            );
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
    };
    match result {
        Ok(resp) => {
            let outcomes = resp.data.outcomes;
            for (i, reply) in replies.into_iter().enumerate() {
                let r = match outcomes.get(i).map(|b| Outcome::decode(b.as_slice())) {
                    Some(Ok(o)) => Ok(o),
                    _ => Err(ApiError::unavailable(format!(
                        "the entry returned {} outcomes for {n} transactions",
                        outcomes.len()
                    ))),
                };
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            let err = match &e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    let mut err = ApiError::unavailable("this node is no longer the leader");
                    if let (Some(id), Some(node)) = (f.leader_id, &f.leader_node) {
                        err.leader = Some((id, node.client_addr.clone()));
                    }
                    err
                }
                other => ApiError::unavailable(format!("the proposal failed: {other}")),
            };
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
