//! Why the ledger refused a transaction: a stable [`ErrorCode`] plus a message for people.
//!
//! [`Abort`] is what ledger functions return internally: either a rejection of the transaction
//! (kept as its outcome) or a storage fault (the replica stops applying; nothing is kept).

use super::store::ViewFault;
pub use carbon_proto::v1::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct LedgerError {
    pub code: ErrorCode,
    pub message: String,
}

impl LedgerError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LedgerError {
            code,
            message: message.into(),
        }
    }
}

/// Shorthand: `reject(ErrorCode::X, format!(..))` as an `Err`.
pub fn reject<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Abort> {
    Err(Abort::Rejected(LedgerError::new(code, message)))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Abort {
    #[error(transparent)]
    Rejected(#[from] LedgerError),
    #[error(transparent)]
    Fault(#[from] ViewFault),
}

pub type Res<T> = Result<T, Abort>;
