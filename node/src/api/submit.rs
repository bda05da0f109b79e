//! Submit and SubmitBatch: the gRPC adapter over the write path (`crate::write`), which gives
//! every transaction exactly one answer: its outcome, or an error with its fate.

use crate::errors::ApiError;
use crate::node::Node;
use carbon_proto::v1::{submit_result, ErrorCode, Outcome, SignedTx, SubmitResult};
use std::sync::Arc;

/// Submits many transactions; one answer per input, in order.
pub async fn many(
    node: &Arc<Node>,
    txs: Vec<Option<SignedTx>>,
    was_forwarded: bool,
) -> Vec<Result<Outcome, ApiError>> {
    crate::write::submit(node, txs, was_forwarded).await
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
