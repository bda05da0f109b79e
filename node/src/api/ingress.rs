//! Ingress checks, before anything reaches the log, in two stages around the committed-outcome
//! lookup (a committed tx id returns its first outcome whatever else is true of the request):
//!
//! 1. [`admit`]: the size limit and the tx id (`blake3` of the body bytes; nothing decoded yet).
//! 2. [`verify_all`]: the body decodes, the chain id, every signature (strict ed25519, the one
//!    rule of `carbon_proto::signing`), the body's shape ([`check_body`]: an operation, a few
//!    valid and distinct signer ids, a short memo, no NUL in any text).
//!
//! On the leader, the signing accounts must exist and reach their thresholds
//! ([`check_signers`], called from `submit`).
//!
//! A transaction refused here is never logged; its bytes can never be applied, so the answer's
//! fate is NOT_APPLIED. Expiry is not an ingress check: the leader decides it against its own
//! clock and the ledger's time (see `submit`).

use super::errors::ApiError;
use crate::ledger::{exec, queries, StateView};
use carbon_proto::signing::TxId;
use carbon_proto::v1::{ErrorCode, SignedTx, TxBody};
use carbon_proto::VerifiedTx;
use prost::Message;

/// Largest accepted signed transaction, encoded.
pub const TX_BYTES_MAX: usize = 64 * 1024;
/// Most transactions in one SubmitBatch.
pub const BATCH_TXS_MAX: usize = 10_000;
/// Most accounts one transaction may name as signers (a trade or a pledge needs two).
pub const SIGNERS_MAX: usize = 4;
/// Longest memo, in bytes.
pub const MEMO_BYTES_MAX: usize = 512;

fn malformed(m: impl Into<String>) -> ApiError {
    ApiError::not_applied(ErrorCode::Malformed, m)
}

/// The shape of a body, before anything is looked up: one operation; 1 to [`SIGNERS_MAX`]
/// signers, each a valid account id (or the cluster admin, `@cluster-admin`), none twice; a memo of at most [`MEMO_BYTES_MAX`] bytes; no
/// NUL character in any text field (ids are terminated by NUL in the state's keys).
pub fn check_body(body: &TxBody) -> Result<(), ApiError> {
    if body.operation.is_none() {
        return Err(malformed("the transaction carries no operation"));
    }
    let n = body.signers.len();
    if n == 0 || n > SIGNERS_MAX {
        return Err(malformed(format!(
            "a transaction names 1 to {SIGNERS_MAX} signing accounts, not {n}"
        )));
    }
    for (i, s) in body.signers.iter().enumerate() {
        // The cluster admin key signs as `@cluster-admin` (ledger::cluster), not as an account.
        let admin = s == carbon_proto::signing::CLUSTER_ADMIN_SIGNER;
        exec::check_id(s, "signer")
            .or_else(|e| if admin { Ok(()) } else { Err(e) })
            .map_err(|_| {
                malformed(format!(
                    "signer {i} is not an account id (1 to {} characters of A-Z a-z 0-9 . _ -)",
                    exec::MAX_ID_LEN
                ))
            })?;
        if body.signers[..i].contains(s) {
            return Err(malformed(format!("signer {s:?} is named twice")));
        }
    }
    if body.memo.len() > MEMO_BYTES_MAX {
        return Err(malformed(format!(
            "the memo is {} bytes; at most {MEMO_BYTES_MAX} are accepted",
            body.memo.len()
        )));
    }
    if let Some(field) = text_with_nul(body) {
        return Err(malformed(format!(
            "{field} contains a NUL character, which no text of the registry may"
        )));
    }
    Ok(())
}

/// The first text field of the body (by its protobuf-JSON path) that contains a NUL, if any.
/// Walks every string of the body generically, so new operations are covered too.
fn text_with_nul(body: &TxBody) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &mut String) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(|x| walk(x, path)),
            serde_json::Value::Object(o) => o.iter().any(|(k, x)| {
                let before = path.len();
                path.push('.');
                path.push_str(k);
                let found = walk(x, path);
                if !found {
                    path.truncate(before);
                }
                found
            }),
            _ => false,
        }
    }
    let v = serde_json::to_value(body).ok()?;
    let mut path = String::from("body");
    walk(&v, &mut path).then_some(path)
}

/// On the leader: every signing account exists, is not closed, and reaches its threshold with
/// the verified keys. A missing co-signer or an account not opened yet must not burn the tx id
/// with a committed rejection; the ledger checks again when applying. The fate is UNKNOWN: the
/// same body (same tx id) may still be committed once the state or its signatures change.
pub fn check_signers(view: &dyn StateView, v: &VerifiedTx) -> Result<(), ApiError> {
    for s in &v.body.signers {
        if s == carbon_proto::signing::CLUSTER_ADMIN_SIGNER {
            check_cluster_admin(view, v)?;
            continue;
        }
        let account = queries::account(view, s)
            .map_err(|e| ApiError::fate_unknown(ErrorCode::Unavailable, e.0))?;
        let Some(a) = account else {
            return Err(ApiError::fate_unknown(
                ErrorCode::UnknownAccount,
                format!("signing account {s:?} does not exist; nothing was recorded"),
            ));
        };
        if a.status() == carbon_proto::v1::AccountStatus::Closed {
            return Err(ApiError::fate_unknown(
                ErrorCode::AccountNotOpen,
                format!("account {s:?} is closed and can authorise nothing; nothing was recorded"),
            ));
        }
        if !carbon_proto::signing::threshold_met(&a.public_keys, a.threshold, &v.signer_keys) {
            return Err(ApiError::fate_unknown(
                ErrorCode::InsufficientSignatures,
                format!(
                    "account {s:?} needs {}; nothing was recorded",
                    carbon_proto::signing::threshold_needed(a.threshold)
                ),
            ));
        }
    }
    Ok(())
}

/// The signer `@cluster-admin` (ledger::cluster): the current cluster admin key signed. UNKNOWN
/// fate as above: a rotation not yet applied here may still make the signature the right one.
fn check_cluster_admin(view: &dyn StateView, v: &VerifiedTx) -> Result<(), ApiError> {
    let key = queries::cluster_admin_key(view)
        .map_err(|e| ApiError::fate_unknown(ErrorCode::Unavailable, e.0))?
        .unwrap_or_default();
    if v.signer_keys.iter().any(|k| k.as_slice() == key.as_slice()) {
        return Ok(());
    }
    Err(ApiError::fate_unknown(
        ErrorCode::InsufficientSignatures,
        format!(
            "{} needs the signature of the current cluster admin key; nothing was recorded",
            carbon_proto::signing::CLUSTER_ADMIN_SIGNER
        ),
    ))
}

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
    carbon_proto::signing::verify_all(chain_id, txs)
        .into_iter()
        .map(|r| {
            r.map_err(|e| ApiError::not_applied(e.code(), e.to_string()))
                .and_then(|v| check_body(&v.body).map(|()| v))
        })
        .collect()
}

/// Whether the transaction's validity ended before `now_ms`.
pub fn is_expired(v: &VerifiedTx, now_ms: u64) -> bool {
    now_ms > v.body.valid_until_ms
}
