//! Dry runs: a transaction goes through the ledger on this node's applied state (the leader's,
//! after the read gate) and its outcome comes back; the writes are dropped, nothing is logged.
//!
//! Signed transactions pass the same ingress checks as a submission. An unsigned one (no
//! signatures) is checked as if every signing account had signed with all its keys, so a client
//! can check a body before anyone signs it; since that shows the signers' private state, an
//! unsigned dry run needs the regulator's read credential, or that of its only signing account. The answer is advisory: state may change before the
//! real submission, and reads of the state are per key, not a snapshot.
//! Blocks a tokio worker for one ledger application (microseconds to a few milliseconds).

use super::auth::{self, Policy, Reader};
use crate::errors::ApiError;
use crate::ledger::{self, queries, Ctx};
use crate::node::Node;
use carbon_proto::v1::{ErrorCode, SimulateRequest, SimulateResponse, TxBody};
use carbon_proto::VerifiedTx;
use prost::Message;

/// The transaction with every signer's key set standing in for signatures.
fn assume_signed(
    node: &Node,
    signed: carbon_proto::v1::SignedTx,
    tx_id: carbon_proto::signing::TxId,
) -> Result<VerifiedTx, ApiError> {
    let body = TxBody::decode(signed.body.as_slice()).map_err(|e| {
        ApiError::new(
            ErrorCode::Malformed,
            format!("the body is not a valid TxBody: {e}"),
        )
    })?;
    if body.chain_id != node.genesis.chain_id {
        return Err(ApiError::new(
            ErrorCode::WrongChain,
            format!(
                "the transaction is for chain {:?}, this registry is {:?}",
                body.chain_id, node.genesis.chain_id
            ),
        ));
    }
    let view = node.state.view();
    let mut signer_keys = Vec::new();
    for s in &body.signers {
        if let Some(a) = queries::account(&view, s)? {
            signer_keys.extend(
                a.public_keys
                    .iter()
                    .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok()),
            );
        }
    }
    signer_keys.sort_unstable();
    signer_keys.dedup();
    Ok(VerifiedTx {
        tx_id,
        body,
        signed,
        signer_keys,
    })
}

/// An unsigned dry run shows every signing account's private state as if it had signed: only
/// the regulator, or the reader when it is the only signing account, may ask for it (a reader
/// who listed a second account as signer would otherwise read that account's state).
fn require_signer_or_regulator(reader: &Reader, tx: &VerifiedTx) -> Result<(), ApiError> {
    let signers: Vec<&str> = tx.body.signers.iter().map(String::as_str).collect();
    let all_mine = signers
        .iter()
        .all(|s| reader.may(Policy::PartyOrRegulator(&[s])));
    if all_mine && reader.may(Policy::Authenticated) {
        return Ok(());
    }
    Err(ApiError::denied(format!(
        "a dry run of an unsigned transaction needs a read credential (auth) of the regulator or of its signing account, when it is the only one ({}); sign the transaction instead to dry-run it without one",
        signers.join(", ")
    )))
}

pub fn run(node: &Node, r: SimulateRequest) -> Result<SimulateResponse, ApiError> {
    let view = node.state.view();
    let reader = auth::authorise(&view, &node.genesis.chain_id, &r)?;
    let (signed, tx_id) = crate::write::checks::admit(r.tx)?;
    let signatures_checked = !signed.signatures.is_empty();
    let unsigned = if signatures_checked {
        None
    } else {
        let tx = assume_signed(node, signed.clone(), tx_id)?;
        require_signer_or_regulator(&reader, &tx)?;
        Some(tx)
    };
    if let Some(done) = ledger::committed(&view, &tx_id)? {
        return Ok(SimulateResponse {
            outcome: done.outcome,
            signatures_checked,
            already_committed: true,
        });
    }
    let tx = match unsigned {
        Some(tx) => tx,
        None => crate::write::checks::verify_all(&node.genesis.chain_id, vec![signed])
            .pop()
            .unwrap_or_else(|| Err(ApiError::unavailable("no verification result")))?,
    };
    // The ledger version the leader would propose is computed by its watchdog's first tick;
    // until then (just elected) this leader cannot say how the entry would apply.
    if !node.liveness.ledger_version_settled() {
        return Err(ApiError::unavailable(
            "this leader has not yet learned which ledger version its voters apply; retry",
        ));
    }
    let applied_index = node
        .raft
        .metrics()
        .borrow()
        .last_applied
        .map_or(0, |l| l.index);
    // As the state machine would time it: the leader's clock, never behind the ledger's time.
    let ledger_time = view
        .ledger_time_ms()
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let ctx = Ctx {
        log_index: applied_index + 1,
        timestamp_ms: crate::write::checks::now_ms().max(ledger_time),
        // The version the leader would propose now (the newest every voter applies).
        ledger_version: node.liveness.ledger_version(),
    };
    let applied = ledger::apply_entry(&view, ctx, std::slice::from_ref(&tx))
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(SimulateResponse {
        outcome: applied.outcomes.into_iter().next(),
        signatures_checked,
        already_committed: false,
    })
}
