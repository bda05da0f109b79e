//! Ingress checks, before anything reaches the log: size, decoding, chain id, every signature
//! (batch-verified), expiry against this node's clock. A transaction refused here is never
//! logged and gets no outcome; its error comes straight back to the client.

use super::errors::ApiError;
use carbon_proto::v1::{ErrorCode, SignedTx};
use carbon_proto::VerifiedTx;
use prost::Message;

/// Largest accepted signed transaction, encoded.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Most transactions in one SubmitBatch.
pub const MAX_BATCH_TXS: usize = 10_000;

/// This node's clock (Unix ms): `raft::clock::now_ms`, the one "now" of the node.
pub fn now_ms() -> u64 {
    crate::raft::clock::now_ms()
}

fn size_check(tx: &SignedTx) -> Result<(), ApiError> {
    let n = tx.encoded_len();
    if n > MAX_TX_BYTES {
        return Err(ApiError::new(
            ErrorCode::MessageTooLarge,
            format!("the transaction is {n} bytes; at most {MAX_TX_BYTES} are accepted"),
        ));
    }
    Ok(())
}

fn expiry_check(v: &VerifiedTx, now: u64) -> Result<(), ApiError> {
    if now > v.body.valid_until_ms {
        return Err(ApiError::new(
            ErrorCode::Expired,
            format!(
                "the transaction was valid until {} ms; it is now {now} ms",
                v.body.valid_until_ms
            ),
        ));
    }
    Ok(())
}

/// Checks many transactions; one result per input, in order.
pub fn check_all(
    chain_id: &str,
    txs: Vec<SignedTx>,
    now: u64,
) -> Vec<Result<VerifiedTx, ApiError>> {
    let mut sized = Vec::with_capacity(txs.len());
    let mut slots: Vec<Option<ApiError>> = Vec::with_capacity(txs.len());
    for t in txs {
        match size_check(&t) {
            Ok(()) => {
                sized.push(t);
                slots.push(None);
            }
            Err(e) => slots.push(Some(e)),
        }
    }
    let mut verified = carbon_proto::signing::verify_batch(chain_id, sized).into_iter();
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(e) => Err(e),
            None => match verified.next() {
                Some(Ok(v)) => expiry_check(&v, now).map(|_| v),
                Some(Err(e)) => Err(e.into()),
                None => Err(ApiError::unavailable("verification lost a transaction")),
            },
        })
        .collect()
}

pub fn check(chain_id: &str, tx: Option<SignedTx>, now: u64) -> Result<VerifiedTx, ApiError> {
    let tx = tx
        .ok_or_else(|| ApiError::new(ErrorCode::Malformed, "the request carries no transaction"))?;
    check_all(chain_id, vec![tx], now)
        .pop()
        .unwrap_or_else(|| Err(ApiError::unavailable("no verification result")))
}
