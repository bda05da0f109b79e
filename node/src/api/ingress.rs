//! Ingress checks, before anything reaches the log: size, decoding, chain id, every signature
//! (strict ed25519, the one rule), the body's shape ([`check_body`]: an operation, a few valid
//! and distinct signer ids, no NUL in any text), expiry against this node's clock; on the
//! leader, the signing accounts exist and reach their thresholds ([`check_signers`]). A
//! transaction refused here is never logged and gets no outcome; its error comes straight back
//! to the client.

use super::errors::ApiError;
use crate::ledger::{exec, queries, StateView};
use carbon_proto::v1::{ErrorCode, SignedTx, TxBody};
use carbon_proto::VerifiedTx;
use prost::Message;

/// Largest accepted signed transaction, encoded.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Most transactions in one SubmitBatch.
pub const MAX_BATCH_TXS: usize = 10_000;
/// Most accounts one transaction may name as signers (a trade or a pledge needs two).
pub const SIGNERS_MAX: usize = 4;
/// Longest memo, in bytes.
pub const MEMO_BYTES_MAX: usize = 512;

fn malformed(m: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Malformed, m)
}

/// The shape of a body, before anything is looked up: one operation; 1 to [`SIGNERS_MAX`]
/// signers, each a valid account id, none twice; a memo of at most [`MEMO_BYTES_MAX`] bytes; no
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
        exec::check_id(s, "signer").map_err(|_| {
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
/// the verified keys. A missing co-signer or an unknown account must not burn the tx id with a
/// committed rejection; the ledger checks again when applying.
pub fn check_signers(view: &dyn StateView, v: &VerifiedTx) -> Result<(), ApiError> {
    for s in &v.body.signers {
        let Some(a) = queries::account(view, s)? else {
            return Err(ApiError::new(
                ErrorCode::UnknownAccount,
                format!("signing account {s:?} does not exist; nothing was recorded"),
            ));
        };
        if a.status() == carbon_proto::v1::AccountStatus::Closed {
            return Err(ApiError::new(
                ErrorCode::AccountNotOpen,
                format!("account {s:?} is closed and can authorise nothing; nothing was recorded"),
            ));
        }
        if !carbon_proto::signing::threshold_met(&a.public_keys, a.threshold, &v.signer_keys) {
            return Err(ApiError::new(
                ErrorCode::InsufficientSignatures,
                format!(
                    "account {s:?} needs signatures of {} distinct keys of its key set; nothing was recorded",
                    a.threshold
                ),
            ));
        }
    }
    Ok(())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
    let mut verified = carbon_proto::signing::verify_all(chain_id, sized).into_iter();
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(e) => Err(e),
            None => match verified.next() {
                Some(Ok(v)) => check_body(&v.body)
                    .and_then(|()| expiry_check(&v, now))
                    .map(|()| v),
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
