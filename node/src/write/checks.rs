//! Ingress checks, before anything reaches the log, in two stages around the committed-outcome
//! lookup (a committed tx id returns its first outcome whatever else is true of the request):
//!
//! 1. [`admit`]: the size limit and the tx id (`blake3` of the body bytes; nothing decoded yet).
//! 2. [`verify_all`]: the body decodes, the chain id, every signature (the one rule of
//!    `carbon_proto::signing`, in one batch), the body's shape ([`check_body`]: an operation, a
//!    few valid and distinct signer ids, a short memo) and its texts ([`check_texts`]: no NUL).
//!
//! On the leader, the signing accounts must exist and reach their thresholds
//! ([`check_signers`], called from `super::deliver`).
//!
//! A transaction refused here is never logged; its bytes can never be applied, so the answer's
//! fate is NOT_APPLIED. Expiry is not an ingress check: the leader decides it against its own
//! clock and the ledger's time (see `super::deliver`).

use crate::errors::ApiError;
use crate::ledger::{exec, queries, StateView};
use carbon_proto::signing::TxId;
use carbon_proto::v1::{ErrorCode, SignedTx, TxBody};
use carbon_proto::VerifiedTx;
use prost::Message;

pub use crate::limits::{BATCH_TXS_MAX, MEMO_BYTES_MAX, SIGNERS_MAX, TX_BYTES_MAX};

fn malformed(m: impl Into<String>) -> ApiError {
    ApiError::not_applied(ErrorCode::Malformed, m)
}

/// The shape of a body, before anything is looked up: one operation; 1 to [`SIGNERS_MAX`]
/// signers, each a valid account id (or the cluster admin, `@cluster-admin`), none twice; a memo
/// of at most [`MEMO_BYTES_MAX`] bytes. (No NUL in any text: [`check_texts`].)
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
                    crate::ledger::limits::ID_BYTES_MAX
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
    Ok(())
}

/// Refuses a body with a NUL in any text field: a walk over its encoded fields
/// (`carbon_proto::text`), covering new operations without code here.
pub fn check_texts(body_bytes: &[u8]) -> Result<(), ApiError> {
    match carbon_proto::text::body_text_with_nul(body_bytes) {
        None => Ok(()),
        Some(field) => Err(malformed(format!(
            "{field} contains a NUL character, which no text of the registry may"
        ))),
    }
}

/// On the leader: every signing account exists, is not closed, and reaches its threshold with
/// the verified keys. Refused before the log, so the tx id is not burnt: the answer's fate is
/// NOT_APPLIED and it names the signers that are missing (the submitter knows the body; nothing
/// else is said of any account). The leader asks after catching up with everything committed
/// (`deliver`), and the ledger checks again when applying.
pub fn check_signers(view: &dyn StateView, v: &VerifiedTx) -> Result<(), ApiError> {
    let mut missing = Vec::new();
    let mut first = None;
    for s in &v.body.signers {
        let refusal = if s == carbon_proto::signing::CLUSTER_ADMIN_SIGNER {
            check_cluster_admin(view, v)?
        } else {
            check_account_signed(view, v, s)?
        };
        if let Some(r) = refusal {
            missing.push(s.as_str());
            first.get_or_insert(r);
        }
    }
    let Some((code, why)) = first else {
        return Ok(());
    };
    Err(ApiError::not_applied(
        code,
        format!(
            "{why}; missing: {}; nothing was recorded (add the signatures to the same body and submit again)",
            missing.join(", ")
        ),
    ))
}

type Refusal = Option<(ErrorCode, String)>;

fn unavailable(e: crate::ledger::ViewFault) -> ApiError {
    ApiError::fate_unknown(ErrorCode::Unavailable, e.0)
}

/// Why account `s` has not authorised the transaction, if it has not: the ledger's one signer
/// rule (`ledger::exec::signer_refusal`).
fn check_account_signed(
    view: &dyn StateView,
    v: &VerifiedTx,
    s: &str,
) -> Result<Refusal, ApiError> {
    let refusal = crate::ledger::exec::signer_refusal(view, v, s).map_err(unavailable)?;
    Ok(refusal.map(|e| (e.code, e.message)))
}

/// The signer `@cluster-admin`: the current cluster admin key signed (`ledger::cluster`'s rule).
fn check_cluster_admin(view: &dyn StateView, v: &VerifiedTx) -> Result<Refusal, ApiError> {
    let key = queries::cluster_admin_key(view)
        .map_err(unavailable)?
        .unwrap_or_default();
    let refusal = crate::ledger::cluster::admin_key_refusal(&key, v);
    Ok(refusal.map(|e| (e.code, e.message)))
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

/// Stage 2: decoding, chain id, signatures (one batch) and the body's shape and texts of many
/// transactions; one result per input. CPU-heavy: runs on the ingress pool (`super::pool`), not
/// on a tokio worker.
pub fn verify_all(chain_id: &str, txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, ApiError>> {
    carbon_proto::signing::verify_all(chain_id, txs)
        .into_iter()
        .map(|r| {
            r.map_err(|e| ApiError::not_applied(e.code(), e.to_string()))
                .and_then(|v| check_body(&v.body).map(|()| v))
                .and_then(|v| check_texts(&v.signed.body).map(|()| v))
        })
        .collect()
}

/// Whether the transaction's validity ended before `now_ms`.
pub fn is_expired(v: &VerifiedTx, now_ms: u64) -> bool {
    now_ms > v.body.valid_until_ms
}
