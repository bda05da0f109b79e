//! Delivery: getting checked transactions to the leader and their answers back.
//!
//! * On the leader ([`on_leader`]): the ingress pool verifies what was not verified yet; an
//!   expired transaction is settled against the ledger's time; the signers' thresholds are
//!   checked (after catching up with everything committed when they fail); bulk rows wait for
//!   their turn (`super::bulk`); the rest goes to the proposer as one group.
//! * On a follower ([`forward`]): the bytes it received go to the leader's client API, as one
//!   `SubmitBatch` (or `Submit`), with a marker so they are never forwarded twice. The call
//!   follows leadership: when another leader becomes known, or this node becomes the leader, or
//!   the attempt outlives [`FORWARD_ATTEMPT_TIMEOUT`], the same bytes are delivered again to
//!   the leader of the moment (exactly-once holds: the ledger deduplicates by tx id).
//!
//! [`deliver`] retries, for a bounded time, what got an answer of unknown fate while
//! leadership moved: a failed attempt is no proof that a transaction had no effect.
//!
//! Settling an expired transaction: after a linearizable read (read index), the leader looks the
//! tx id up again; if the ledger's time has not yet passed `valid_until_ms`, it commits an empty
//! entry with its own timestamp to move the ledger's time; once the ledger's time is past it, no
//! entry can ever apply the transaction: EXPIRED with fate NOT_APPLIED.

use super::checks;
use super::pool::Checked;
use crate::errors::{from_detail, from_status, ApiError};
use crate::forward::{forwarded, leader};
use crate::ledger;
use crate::limits::DELIVERY_ROUNDS_MAX;
use crate::node::Node;
use bytes::Bytes;
use carbon_proto::signing::TxId;
use carbon_proto::v1::{
    submit_result, ErrorCode, Outcome, SignedTx, SubmitBatchRequest, SubmitRequest,
};
use carbon_proto::VerifiedTx;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;

/// The pause between the rounds in which a submission tries to reach a leader
/// (`limits::DELIVERY_ROUNDS_MAX` of them): about three seconds in all, longer than an election
/// (about 1.5 s), and shorter than carbonctl's 5 s attempt, so that a refusal that lasts (a
/// leader that cannot confirm its clock, or has no quorum) reaches the client with its reason
/// rather than as a timeout (issue 15).
const DELIVERY_PAUSE: Duration = Duration::from_millis(250);
/// One forwarded attempt waits at most this long for the leader's answer before it is sent
/// again to whoever leads then (a paused leader must not hold a write longer than an election).
pub const FORWARD_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// A transaction on its way: where its answer goes, its bytes and id, and whether the leader
/// verified it already.
pub struct Pending {
    pub slot: usize,
    pub signed: SignedTx,
    pub tx_id: TxId,
    pub verified: Option<VerifiedTx>,
}

type Answer = (Pending, Result<Outcome, ApiError>);

/// Delivers the transactions and collects one answer per slot (`answers` is indexed by slot).
pub async fn deliver(
    node: &Arc<Node>,
    mut pending: Vec<Pending>,
    was_forwarded: bool,
    answers: &mut [Option<Result<Outcome, ApiError>>],
) {
    let mut last = ApiError::unavailable("no leader is known");
    for round in 0..DELIVERY_ROUNDS_MAX {
        if pending.is_empty() {
            return;
        }
        if round > 0 {
            tokio::time::sleep(DELIVERY_PAUSE).await;
        }
        let batch = std::mem::take(&mut pending);
        let results = match leader(&node.raft) {
            Some((id, _)) if id == node.id => on_leader(node, batch).await,
            Some((id, addr)) if was_forwarded => {
                let mut e = ApiError::unavailable(format!("node {} is not the leader", node.id));
                e.leader = Some((id, addr.client_addr));
                batch.into_iter().map(|p| (p, Err(e.clone()))).collect()
            }
            Some((id, addr)) => forward(node, id, &addr.client_addr, batch).await,
            None if was_forwarded => batch.into_iter().map(|p| (p, Err(last.clone()))).collect(),
            None => batch.into_iter().map(|p| (p, Err(last.clone()))).collect(),
        };
        for (p, r) in results {
            match r {
                Err(e) if e.code == ErrorCode::Unavailable && !was_forwarded => {
                    last = e;
                    pending.push(p);
                }
                other => answers[p.slot] = Some(other),
            }
        }
        if was_forwarded {
            break;
        }
    }
    for p in pending {
        answers[p.slot] = Some(Err(last.clone()));
    }
}

/// On the leader: verify, settle the expired, check thresholds, propose the rest.
async fn on_leader(node: &Arc<Node>, batch: Vec<Pending>) -> Vec<Answer> {
    let (verified, mut done) = verify(node, batch).await;
    let (live, settled) = settle_expired(node, verified).await;
    done.extend(settled);
    let (ready, refused) = thresholds(node, live).await;
    done.extend(refused);
    if ready.is_empty() {
        return done;
    }
    // Bulk rows wait for their turn (`super::bulk`); the other transactions of the same
    // request do not wait with them.
    let (mut bulk, mut plain, mut rows) = (Vec::new(), Vec::new(), 0u64);
    for t in ready {
        match super::bulk::rows(&t.1.body) {
            0 => plain.push(t),
            n => {
                rows = rows.saturating_add(n);
                bulk.push(t);
            }
        }
    }
    let paced = async {
        match node.bulk.admit(rows).await {
            Ok(()) => propose(node, bulk).await,
            Err(e) => bulk.into_iter().map(|(p, _)| (p, Err(e.clone()))).collect(),
        }
    };
    let (plain, paced) = tokio::join!(propose(node, plain), paced);
    done.extend(plain);
    done.extend(paced);
    done
}

/// Proposes the transactions as one group and answers each.
async fn propose(node: &Arc<Node>, ready: Vec<(Pending, VerifiedTx)>) -> Vec<Answer> {
    if ready.is_empty() {
        return Vec::new();
    }
    let txs: Vec<Bytes> = ready
        .iter()
        .map(|(_, v)| Bytes::from(v.signed.encode_to_vec()))
        .collect();
    match node.proposer.propose(txs).await {
        Ok(outcomes) => ready
            .into_iter()
            .zip(outcomes)
            .map(|((p, _), o)| (p, Ok(o)))
            .collect(),
        Err(e) => ready
            .into_iter()
            .map(|(p, _)| (p, Err(e.clone())))
            .collect(),
    }
}

/// Verifies (on the ingress pool) what was not verified yet.
async fn verify(
    node: &Arc<Node>,
    batch: Vec<Pending>,
) -> (Vec<(Pending, VerifiedTx)>, Vec<Answer>) {
    let mut verified = Vec::with_capacity(batch.len());
    let mut done = Vec::new();
    let mut to_check = Vec::new();
    for mut p in batch {
        match p.verified.take() {
            Some(v) => verified.push((p, v)),
            None => to_check.push(p),
        }
    }
    if to_check.is_empty() {
        return (verified, done);
    }
    let txs = to_check
        .iter()
        .map(|p| (p.signed.clone(), p.tx_id))
        .collect();
    match node.pool.check(txs, true).await {
        Err(e) => done.extend(to_check.into_iter().map(|p| (p, Err(e.clone())))),
        Ok(checked) => {
            for (p, c) in to_check.into_iter().zip(checked) {
                match c {
                    Checked::Verified(v) => verified.push((p, v)),
                    Checked::Committed(o) => done.push((p, Ok(o))),
                    Checked::Refused(e) => done.push((p, Err(e))),
                    Checked::Unchecked(..) => done.push((
                        p,
                        Err(ApiError::unavailable(
                            "the ingress pool did not check a transaction",
                        )),
                    )),
                }
            }
        }
    }
    (verified, done)
}

/// Splits off the transactions whose validity ended by this leader's clock and settles them.
async fn settle_expired(
    node: &Arc<Node>,
    verified: Vec<(Pending, VerifiedTx)>,
) -> (Vec<(Pending, VerifiedTx)>, Vec<Answer>) {
    let now = checks::now_ms();
    let (expired, mut live): (Vec<_>, Vec<_>) = verified
        .into_iter()
        .partition(|(_, v)| checks::is_expired(v, now));
    let mut done = Vec::new();
    for (p, v) in expired {
        match settle(node, &v).await {
            Ok(None) => live.push((p, v)),
            Ok(Some(o)) => done.push((p, Ok(o))),
            Err(e) => done.push((p, Err(e))),
        }
    }
    (live, done)
}

/// Its committed outcome, or EXPIRED with fate NOT_APPLIED once the ledger's time is past it
/// (module docs). `Ok(None)` when the ledger's time is still within its validity (the leader's
/// clock went back): it is proposed and the ledger decides.
async fn settle(node: &Node, v: &VerifiedTx) -> Result<Option<Outcome>, ApiError> {
    read_index(node).await?;
    if let Some(o) = committed(node, &v.tx_id)? {
        return Ok(Some(o));
    }
    if ledger_time_ms(node)? <= v.body.valid_until_ms {
        node.proposer.advance_ledger_time().await?;
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

/// Refuses, before the log, transactions whose signing accounts do not exist or do not reach
/// their thresholds. A key update may be committed but not applied here yet: when any fails,
/// the leader catches up with everything committed (one read index for the request) and asks
/// again.
async fn thresholds(
    node: &Arc<Node>,
    live: Vec<(Pending, VerifiedTx)>,
) -> (Vec<(Pending, VerifiedTx)>, Vec<Answer>) {
    let failing = |v: &VerifiedTx| checks::check_signers(&node.state.view(), v).is_err();
    if !live.iter().any(|(_, v)| failing(v)) {
        return (live, Vec::new());
    }
    if let Err(e) = read_index(node).await {
        return (
            Vec::new(),
            live.into_iter().map(|(p, _)| (p, Err(e.clone()))).collect(),
        );
    }
    let mut ready = Vec::with_capacity(live.len());
    let mut refused = Vec::new();
    for (p, v) in live {
        match checks::check_signers(&node.state.view(), &v) {
            Ok(()) => ready.push((p, v)),
            Err(e) => refused.push((p, Err(e))),
        }
    }
    (ready, refused)
}

/// The stored outcome, if the transaction is committed and applied on this node.
fn committed(node: &Node, tx_id: &TxId) -> Result<Option<Outcome>, ApiError> {
    Ok(ledger::committed(&node.state.view(), tx_id)
        .map_err(|e| ApiError::fate_unknown(ErrorCode::Unavailable, e.0))?
        .and_then(|c| c.outcome))
}

/// Confirms leadership and waits until everything committed before now is applied here.
async fn read_index(node: &Node) -> Result<(), ApiError> {
    node.read_index.confirm().await.map_err(|e| {
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

/// Sends the bytes received to the leader `leader_id` (module docs: the attempt follows
/// leadership).
async fn forward(node: &Arc<Node>, leader_id: u64, addr: &str, batch: Vec<Pending>) -> Vec<Answer> {
    let mut client = match node.forwarder.client(addr) {
        Ok(c) => c,
        Err(e) => return batch.into_iter().map(|p| (p, Err(e.clone()))).collect(),
    };
    let call = async {
        if let [one] = batch.as_slice() {
            let req = SubmitRequest {
                tx: Some(one.signed.clone()),
            };
            let r = match client.submit(forwarded(req)).await {
                Ok(r) => r.into_inner().outcome.ok_or_else(no_outcome),
                Err(status) => status_answer(&status),
            };
            return vec![r];
        }
        let txs = batch.iter().map(|p| p.signed.clone()).collect();
        match client
            .submit_batch(forwarded(SubmitBatchRequest { txs }))
            .await
        {
            Ok(r) => batch_answers(r.into_inner().results, batch.len()),
            Err(status) => vec![status_answer(&status); batch.len()],
        }
    };
    let moved = ApiError::unavailable("leadership moved while the leader was asked; sending again");
    let results = tokio::select! {
        r = call => r,
        () = leadership_moves(node, Some(leader_id)) => vec![Err(moved); batch.len()],
        () = tokio::time::sleep(FORWARD_ATTEMPT_TIMEOUT) => vec![Err(ApiError::unavailable(format!(
            "the leader (node {leader_id}) did not answer in {FORWARD_ATTEMPT_TIMEOUT:?}; sending again"
        ))); batch.len()],
    };
    batch.into_iter().zip(results).collect()
}

/// Resolves when this node knows of a leader other than `was` (forwarded writes here, forwarded
/// reads in `api::reads::follow`).
pub async fn leadership_moves(node: &Node, was: Option<u64>) {
    let mut m = node.raft.metrics();
    let _ = m.wait_for(|m| m.current_leader != was).await;
}

fn no_outcome() -> ApiError {
    ApiError::fate_unknown(
        ErrorCode::Unavailable,
        "the leader answered without an outcome",
    )
}

/// An error status from the leader: a committed rejection is its outcome, anything else the
/// error as the leader said it.
fn status_answer(status: &tonic::Status) -> Result<Outcome, ApiError> {
    let e = from_status(status);
    match e.outcome {
        Some(o) => Ok(*o),
        None => Err(e),
    }
}

fn batch_answers(
    results: Vec<carbon_proto::v1::SubmitResult>,
    n: usize,
) -> Vec<Result<Outcome, ApiError>> {
    if results.len() != n {
        let e = ApiError::fate_unknown(
            ErrorCode::Unavailable,
            format!(
                "the leader answered {} results for {n} transactions",
                results.len()
            ),
        );
        return vec![Err(e); n];
    }
    results
        .into_iter()
        .map(|r| match r.result {
            Some(submit_result::Result::Outcome(o)) => Ok(o),
            Some(submit_result::Result::Error(d)) => match from_detail(d) {
                ApiError {
                    outcome: Some(o), ..
                } => Ok(*o),
                e => Err(e),
            },
            None => Err(no_outcome()),
        })
        .collect()
}
