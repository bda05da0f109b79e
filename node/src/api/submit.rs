//! Writes: a verified transaction goes to the leader's batcher, here or (forwarded) on the leader.
//!
//! A transaction already committed returns its stored outcome at once, changing nothing. While
//! leadership moves, the same signed bytes are retried for a bounded time: a failed attempt
//! (even a `ForwardToLeader` answer) is no proof that the transaction had no effect, and the
//! ledger's deduplication by tx id makes the retry safe.

use super::errors::{from_status, ApiError};
use super::forward::{forwarded, leader};
use crate::ledger;
use crate::node::Node;
use carbon_proto::v1::{ErrorCode, Outcome, SubmitRequest, SubmitResult};
use carbon_proto::VerifiedTx;
use std::sync::Arc;
use std::time::Duration;

/// How long a submission keeps trying to reach a leader.
const ATTEMPTS: u32 = 40;
const PAUSE: Duration = Duration::from_millis(250);

/// The stored outcome, if the transaction was committed already.
fn committed(node: &Node, v: &VerifiedTx) -> Result<Option<Outcome>, ApiError> {
    Ok(ledger::committed(&node.state.view(), &v.tx_id)?.and_then(|c| c.outcome))
}

/// Refuses, before it reaches the log, a transaction whose signing accounts do not (yet) exist
/// or reach their thresholds in this node's state (`ingress::check_signers`).
fn thresholds_met(node: &Node, v: &VerifiedTx) -> Result<(), ApiError> {
    super::ingress::check_signers(&node.state.view(), v)
}

/// The threshold pre-check, on the leader only. If it fails against the applied state, the
/// leader first waits until everything committed is applied (read index) and checks again, so
/// a key update that is committed but not yet applied never causes a false refusal.
async fn leader_threshold_check(node: &Node, v: &VerifiedTx) -> Result<(), ApiError> {
    if thresholds_met(node, v).is_ok() {
        return Ok(());
    }
    node.raft
        .ensure_linearizable()
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot confirm leadership: {e}")))?;
    thresholds_met(node, v)
}

/// Submits one verified transaction; returns its outcome (success or ledger rejection).
pub async fn one(
    node: &Arc<Node>,
    v: VerifiedTx,
    was_forwarded: bool,
) -> Result<Outcome, ApiError> {
    if let Some(o) = committed(node, &v)? {
        return Ok(o);
    }
    let mut last = ApiError::unavailable("no leader is known");
    for _ in 0..ATTEMPTS {
        match leader(&node.raft) {
            Some((id, _)) if id == node.id => {
                leader_threshold_check(node, &v).await?;
                match node.batcher.submit(&v).await {
                    Ok(o) => return Ok(o),
                    Err(e) if e.code == ErrorCode::Unavailable && !was_forwarded => last = e,
                    Err(e) => return Err(e),
                }
            }
            Some((id, addr)) => {
                if was_forwarded {
                    let mut e =
                        ApiError::unavailable(format!("node {} is not the leader", node.id));
                    e.leader = Some((id, addr.client_addr));
                    return Err(e);
                }
                let mut client = node.forwarder.client(&addr.client_addr)?;
                let req = SubmitRequest {
                    tx: Some(v.signed.clone()),
                };
                match client.submit(forwarded(req)).await {
                    Ok(r) => {
                        return r
                            .into_inner()
                            .outcome
                            .ok_or_else(|| ApiError::unavailable("the leader sent no outcome"))
                    }
                    Err(status) => {
                        let e = from_status(&status);
                        if let Some(o) = e.outcome {
                            return Ok(*o);
                        }
                        if e.code != ErrorCode::Unavailable {
                            return Err(e);
                        }
                        last = e;
                    }
                }
            }
            None if was_forwarded => return Err(last),
            None => {}
        }
        tokio::time::sleep(PAUSE).await;
        if let Some(o) = committed(node, &v)? {
            return Ok(o);
        }
    }
    Err(last)
}

/// Submits many; each gets its own result. Concurrent submissions on the leader land in the
/// same few log entries.
pub async fn many(
    node: &Arc<Node>,
    checked: Vec<Result<VerifiedTx, ApiError>>,
    was_forwarded: bool,
) -> Vec<SubmitResult> {
    let handles: Vec<_> = checked
        .into_iter()
        .map(|c| {
            let node = node.clone();
            tokio::spawn(async move {
                match c {
                    Err(e) => Err(e),
                    Ok(v) => one(&node, v, was_forwarded).await,
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        let r = h
            .await
            .unwrap_or_else(|e| Err(ApiError::unavailable(format!("submission task: {e}"))));
        out.push(match r {
            Ok(o) => SubmitResult {
                outcome: Some(o),
                ..Default::default()
            },
            Err(e) => SubmitResult {
                outcome: e.outcome.map(|o| *o),
                ingress_code: e.code as i32,
                ingress_message: e.message,
            },
        });
    }
    out
}
