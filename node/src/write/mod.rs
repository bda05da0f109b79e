//! Writes: the one path every transaction takes, from the request to its outcome. `api` is a
//! thin adapter over [`submit`].
//!
//! ```text
//! Submit / SubmitBatch (any node)
//!   checks::admit         size, tx id                                  (tokio worker, cheap)
//!   pool                  committed? -> first outcome                  (ingress threads)
//!                         on the leader: decode, shape, texts, signatures in one batch
//!   deliver               follower: forward the bytes to the leader (following leadership)
//!                         leader: settle the expired, thresholds, bulk rows paced, then
//!   proposer              many requests -> ONE log entry -> openraft -> applied -> outcomes
//! ```
//!
//! The contract (docs/ARCHITECTURE.md): every transaction gets exactly one answer, its outcome
//! (committed: success, or a rejection by the ledger) or an error whose fate says what the
//! client may conclude (NOT_APPLIED: sign a new body if you still want it; UNKNOWN: retry the
//! same bytes); a committed tx id returns its first outcome, looked up before anything else.
//!
//! Blocking: only `pool` (sled lookups, signature checks) and openraft's state machine touch
//! storage; nothing here blocks a tokio worker.

pub mod bulk;
pub mod checks;
pub mod deliver;
pub mod due;
pub mod pool;
pub mod proposer;

use crate::errors::ApiError;
use crate::forward::leader;
use crate::node::Node;
use carbon_proto::v1::{ErrorCode, Outcome, SignedTx};
use deliver::Pending;
use pool::Checked;
use std::sync::Arc;

/// Submits one request's transactions; one answer per input, in order. `was_forwarded`: the
/// request came from a follower (answer here or say who leads; never forward again).
pub async fn submit(
    node: &Arc<Node>,
    txs: Vec<Option<SignedTx>>,
    was_forwarded: bool,
) -> Vec<Result<Outcome, ApiError>> {
    let mut answers: Vec<Option<Result<Outcome, ApiError>>> = Vec::with_capacity(txs.len());
    let mut admitted = Vec::new();
    let mut slots = Vec::new();
    for tx in txs {
        match checks::admit(tx) {
            Err(e) => answers.push(Some(Err(e))),
            Ok(t) => {
                slots.push(answers.len());
                admitted.push(t);
                answers.push(None);
            }
        }
    }
    if !admitted.is_empty() {
        // The leader verifies in the same pass as the lookup; a follower only looks up.
        let leads = was_forwarded || leader(&node.raft).is_some_and(|(id, _)| id == node.id);
        match node.pool.check(admitted, leads).await {
            Err(e) => slots
                .iter()
                .for_each(|&s| answers[s] = Some(Err(e.clone()))),
            Ok(checked) => {
                let pending = sort(&mut answers, slots, checked);
                deliver::deliver(node, pending, was_forwarded, &mut answers).await;
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(lost())))
        .collect()
}

/// Answers what the pool settled (committed, refused) and returns the rest for delivery.
fn sort(
    answers: &mut [Option<Result<Outcome, ApiError>>],
    slots: Vec<usize>,
    checked: Vec<Checked>,
) -> Vec<Pending> {
    let mut pending = Vec::new();
    for (slot, c) in slots.into_iter().zip(checked) {
        match c {
            Checked::Committed(o) => answers[slot] = Some(Ok(o)),
            Checked::Refused(e) => answers[slot] = Some(Err(e)),
            Checked::Verified(v) => pending.push(Pending {
                slot,
                signed: v.signed.clone(),
                tx_id: v.tx_id,
                verified: Some(v),
            }),
            Checked::Unchecked(signed, tx_id) => pending.push(Pending {
                slot,
                signed,
                tx_id,
                verified: None,
            }),
        }
    }
    pending
}

fn lost() -> ApiError {
    ApiError::fate_unknown(ErrorCode::Unavailable, "the submission lost its answer")
}
