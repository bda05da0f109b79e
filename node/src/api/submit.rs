//! Writes: the client contract of Submit and SubmitBatch.
//!
//! Every transaction gets exactly one answer: its outcome (committed: success, or a rejection by
//! the ledger), or an [`ApiError`] whose fate says what the client may conclude (NOT_APPLIED:
//! sign a new body if you still want it; UNKNOWN: retry the same bytes). The path of one
//! transaction:
//!
//! 1. ingress stage 1 (size, tx id), then the committed-outcome lookup: a tx id already committed
//!    returns its first outcome, whatever its expiry or signatures;
//! 2. ingress stage 2 (decoding, chain, signatures): a failure is NOT_APPLIED;
//! 3. delivery to the leader (here, or forwarded by a follower; retried for a bounded time while
//!    leadership moves: a failed attempt is no proof that the transaction had no effect, and the
//!    ledger's deduplication by tx id makes the retry safe);
//! 4. on the leader: an expired transaction is settled against the ledger's time (below), a live
//!    one goes through the threshold pre-check to the batcher.
//!
//! Settling an expired transaction: after a linearizable read (read index), the leader looks the
//! tx id up again; if the ledger's time has not yet passed `valid_until_ms`, it commits an empty
//! entry with its own timestamp to move the ledger's time; once the ledger's time is past it, no
//! entry can ever apply the transaction: EXPIRED with fate NOT_APPLIED.

use super::errors::{from_status, ApiError};
use super::forward::{forwarded, leader};
use super::ingress;
use crate::ledger;
use crate::node::Node;
use carbon_proto::signing::TxId;
use carbon_proto::v1::{submit_result, ErrorCode, Outcome, SignedTx, SubmitRequest, SubmitResult};
use carbon_proto::VerifiedTx;
use std::sync::Arc;
use std::time::Duration;

/// How many times a submission tries to reach a leader, and the pause between attempts: about
/// three seconds in all, longer than an election (about 1.5 s), and shorter than carbonctl's
/// 5 s attempt, so that a refusal that lasts (a leader that cannot confirm its clock, or has
/// no quorum) reaches the client with its reason rather than as a timeout (issue 15).
const DELIVERY_ATTEMPTS_MAX: u32 = 12;
const DELIVERY_PAUSE: Duration = Duration::from_millis(250);

/// The stored outcome, if the transaction is committed and applied on this node.
fn committed(node: &Node, tx_id: &TxId) -> Result<Option<Outcome>, ApiError> {
    Ok(ledger::committed(&node.state.view(), tx_id)
        .map_err(|e| ApiError::fate_unknown(ErrorCode::Unavailable, e.0))?
        .and_then(|c| c.outcome))
}

/// Refuses, before it reaches the log, a transaction whose signing accounts do not (yet) exist
/// or reach their thresholds in this node's state (`ingress::check_signers`).
fn thresholds_met(node: &Node, v: &VerifiedTx) -> Result<(), ApiError> {
    super::ingress::check_signers(&node.state.view(), v)
}

/// Confirms leadership and waits until everything committed before now is applied here.
async fn read_index(node: &Node) -> Result<(), ApiError> {
    node.raft.ensure_linearizable().await.map_err(|e| {
        ApiError::fate_unknown(
            ErrorCode::Unavailable,
            format!("cannot confirm leadership: {e}"),
        )
    })?;
    Ok(())
}

fn ledger_time_ms(node: &Node) -> Result<u64, ApiError> {
    node.state
        .view()
        .ledger_time_ms()
        .map_err(|e| ApiError::fate_unknown(ErrorCode::Unavailable, e.to_string()))
}

/// On the leader, for a transaction whose validity ended by the leader's clock: its committed
/// outcome, or EXPIRED with fate NOT_APPLIED once the ledger's time is past it (module docs).
/// `Ok(None)` when the ledger's time is still within its validity (the leader's clock went back):
/// the caller proposes it and the ledger decides.
async fn settle_expired(node: &Node, v: &VerifiedTx) -> Result<Option<Outcome>, ApiError> {
    read_index(node).await?;
    if let Some(o) = committed(node, &v.tx_id)? {
        return Ok(Some(o));
    }
    if ledger_time_ms(node)? <= v.body.valid_until_ms {
        node.batcher.advance_ledger_time().await?;
        if let Some(o) = committed(node, &v.tx_id)? {
            return Ok(Some(o));
        }
    }
    let ledger_time = ledger_time_ms(node)?;
    if ledger_time <= v.body.valid_until_ms {
        return Ok(None);
    }
    Err(ApiError::not_applied(
        ErrorCode::Expired,
        format!(
            "the transaction was valid until {} ms and the ledger's time is {ledger_time} ms; \
             it was not committed and never will be",
            v.body.valid_until_ms
        ),
    ))
}

/// On the leader: settle or propose.
async fn on_leader(node: &Node, v: &VerifiedTx) -> Result<Outcome, ApiError> {
    if ingress::is_expired(v, ingress::now_ms()) {
        if let Some(o) = settle_expired(node, v).await? {
            return Ok(o);
        }
    }
    if thresholds_met(node, v).is_err() {
        // A key update may be committed but not yet applied here: catch up, then check again.
        read_index(node).await?;
        thresholds_met(node, v)?;
    }
    node.batcher.submit(v).await
}

/// Sends a verified transaction to the leader's client API.
async fn forward_to(node: &Node, addr: &str, v: &VerifiedTx) -> Result<Outcome, ApiError> {
    let mut client = node.forwarder.client(addr)?;
    let req = SubmitRequest {
        tx: Some(v.signed.clone()),
    };
    match client.submit(forwarded(req)).await {
        Ok(r) => r.into_inner().outcome.ok_or_else(|| {
            ApiError::fate_unknown(
                ErrorCode::Unavailable,
                "the leader answered without an outcome",
            )
        }),
        Err(status) => {
            let e = from_status(&status);
            match e.outcome {
                Some(o) => Ok(*o),
                None => Err(e),
            }
        }
    }
}

/// Delivers a verified transaction to the leader (this node or, unless it was forwarded here
/// already, the one this node knows), retrying for a bounded time while leadership moves.
async fn deliver(
    node: &Arc<Node>,
    v: &VerifiedTx,
    was_forwarded: bool,
) -> Result<Outcome, ApiError> {
    let mut last = ApiError::fate_unknown(ErrorCode::Unavailable, "no leader is known");
    for _ in 0..DELIVERY_ATTEMPTS_MAX {
        let result = match leader(&node.raft) {
            Some((id, _)) if id == node.id => on_leader(node, v).await,
            Some((id, addr)) if was_forwarded => {
                let mut e = ApiError::fate_unknown(
                    ErrorCode::Unavailable,
                    format!("node {} is not the leader", node.id),
                );
                e.leader = Some((id, addr.client_addr));
                return Err(e);
            }
            Some((_, addr)) => forward_to(node, &addr.client_addr, v).await,
            None if was_forwarded => return Err(last),
            None => Err(last.clone()),
        };
        match result {
            Err(e) if e.code == ErrorCode::Unavailable && !was_forwarded => last = e,
            other => return other,
        }
        tokio::time::sleep(DELIVERY_PAUSE).await;
        if let Some(o) = committed(node, &v.tx_id)? {
            return Ok(o);
        }
    }
    Err(last)
}

/// Submits many transactions; one answer per input, in order. Concurrent submissions on the
/// leader land in the same few log entries.
pub async fn many(
    node: &Arc<Node>,
    txs: Vec<Option<SignedTx>>,
    was_forwarded: bool,
) -> Vec<Result<Outcome, ApiError>> {
    let mut answers: Vec<Option<Result<Outcome, ApiError>>> = Vec::with_capacity(txs.len());
    let mut to_verify = Vec::new();
    let mut slots = Vec::new();
    for tx in txs {
        let answer = match ingress::admit(tx) {
            Err(e) => Some(Err(e)),
            Ok((signed, id)) => match committed(node, &id) {
                Ok(Some(o)) => Some(Ok(o)),
                Err(e) => Some(Err(e)),
                Ok(None) => {
                    slots.push(answers.len());
                    to_verify.push(signed);
                    None
                }
            },
        };
        answers.push(answer);
    }
    let verified = ingress::verify_all(&node.genesis.chain_id, to_verify);
    let tasks: Vec<_> = verified
        .into_iter()
        .map(|r| {
            let node = node.clone();
            tokio::spawn(async move {
                match r {
                    Err(e) => Err(e),
                    Ok(v) => deliver(&node, &v, was_forwarded).await,
                }
            })
        })
        .collect();
    for (slot, task) in slots.into_iter().zip(tasks) {
        answers[slot] = Some(task.await.unwrap_or_else(|e| {
            Err(ApiError::fate_unknown(
                ErrorCode::Unavailable,
                format!("submission task: {e}"),
            ))
        }));
    }
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                Err(ApiError::fate_unknown(
                    ErrorCode::Unavailable,
                    "the submission lost its answer",
                ))
            })
        })
        .collect()
}

/// Submits one transaction.
pub async fn one(
    node: &Arc<Node>,
    tx: Option<SignedTx>,
    was_forwarded: bool,
) -> Result<Outcome, ApiError> {
    many(node, vec![tx], was_forwarded)
        .await
        .pop()
        .unwrap_or_else(|| {
            Err(ApiError::fate_unknown(
                ErrorCode::Unavailable,
                "the submission lost its answer",
            ))
        })
}

/// One SubmitBatch result: exactly one of outcome or error.
pub fn result(r: Result<Outcome, ApiError>) -> SubmitResult {
    SubmitResult {
        result: Some(match r {
            Ok(o) => submit_result::Result::Outcome(o),
            Err(e) => submit_result::Result::Error(e.detail()),
        }),
    }
}
