//! Ingress checks, before anything reaches the log, in two stages around the committed-outcome
//! lookup (a committed tx id returns its first outcome whatever else is true of the request):
//!
//! 1. [`admit`]: the size limit and the tx id (`blake3` of the body bytes; nothing decoded yet).
//! 2. [`verify_all`]: the body decodes, the chain id, every signature (batch-verified).
//!
//! A transaction refused here is never logged; its bytes can never be applied, so the answer's
//! fate is NOT_APPLIED. Expiry is not an ingress check: the leader decides it against its own
//! clock and the ledger's time (see `submit`).

use super::errors::ApiError;
use carbon_proto::signing::TxId;
use carbon_proto::v1::{ErrorCode, SignedTx};
use carbon_proto::VerifiedTx;
use prost::Message;

/// Largest accepted signed transaction, encoded.
pub const TX_BYTES_MAX: usize = 64 * 1024;
/// Most transactions in one SubmitBatch.
pub const BATCH_TXS_MAX: usize = 10_000;

/// This node's clock (Unix ms): `raft::clock::now_ms`, the one "now" of the node.
pub fn now_ms() -> u64 {
    crate::raft::clock::now_ms()
}

/// Stage 1: the size limit; returns the transaction with its id.
pub fn admit(tx: Option<SignedTx>) -> Result<(SignedTx, TxId), ApiError> {
    let tx = tx.ok_or_else(|| {
        ApiError::not_applied(ErrorCode::Malformed, "the request carries no transaction")
    })?;
    let n = tx.encoded_len();
    if n > TX_BYTES_MAX {
        return Err(ApiError::not_applied(
            ErrorCode::MessageTooLarge,
            format!("the transaction is {n} bytes; at most {TX_BYTES_MAX} are accepted"),
        ));
    }
    let id = carbon_proto::signing::tx_id(&tx.body);
    Ok((tx, id))
}

/// Stage 2: decoding, chain id and signatures of many transactions; one result per input.
pub fn verify_all(chain_id: &str, txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, ApiError>> {
    carbon_proto::signing::verify_batch(chain_id, txs)
        .into_iter()
        .map(|r| r.map_err(|e| ApiError::not_applied(e.code(), e.to_string())))
        .collect()
}

/// Whether the transaction's validity ended before `now_ms`.
pub fn is_expired(v: &VerifiedTx, now_ms: u64) -> bool {
    now_ms > v.body.valid_until_ms
}
