//! The one mapping from the registry's stable error codes to gRPC statuses. Every error status
//! carries an `ErrorDetail` (code, message, and the stored outcome for committed rejections) in
//! its details, so clients never have to parse messages.

use crate::raft::NodeId;
use carbon_proto::v1::{ErrorCode, ErrorDetail, Outcome};
use carbon_proto::SigningError;
use prost::Message;
use tonic::{Code, Status};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub outcome: Option<Box<Outcome>>,
    pub leader: Option<(NodeId, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            outcome: None,
            leader: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    /// A committed transaction that the ledger rejected.
    pub fn rejected(outcome: Outcome) -> Self {
        ApiError {
            code: outcome.code(),
            message: outcome.message.clone(),
            outcome: Some(Box::new(outcome)),
            leader: None,
        }
    }
}

impl From<SigningError> for ApiError {
    fn from(e: SigningError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::ledger::ViewFault> for ApiError {
    fn from(e: crate::ledger::ViewFault) -> Self {
        ApiError::unavailable(format!("storage: {}", e.0))
    }
}

/// The gRPC status code for a registry error code.
pub fn grpc_code(code: ErrorCode) -> Code {
    use ErrorCode as E;
    match code {
        E::Ok => Code::Ok,
        E::Malformed
        | E::WrongChain
        | E::InvalidArgument
        | E::ZeroAmount
        | E::AmountOverflow
        | E::InvalidUnitClass
        | E::SameAccount => Code::InvalidArgument,
        E::MessageTooLarge | E::ResourceExhausted => Code::ResourceExhausted,
        E::BadSignature => Code::Unauthenticated,
        E::InsufficientSignatures | E::RoleNotPermitted | E::PermissionDenied => {
            Code::PermissionDenied
        }
        E::UnknownAccount
        | E::UnknownVintage
        | E::UnknownProject
        | E::UnknownEncumbrance
        | E::NotFound => Code::NotFound,
        E::AccountExists
        | E::VintageExists
        | E::ProjectExists
        | E::AlreadyAllocated
        | E::AlreadyTruedUp => Code::AlreadyExists,
        E::Unavailable => Code::Unavailable,
        E::Expired
        | E::AccountNotOpen
        | E::RoleCannotHold
        | E::AccountNotEmpty
        | E::InsufficientUnits
        | E::UnitsEncumbered
        | E::CapExceeded
        | E::ProjectNotPending
        | E::ProjectNotApproved
        | E::OutsideCreditingPeriod
        | E::EncumbranceClosed
        | E::YearClosed
        | E::NoVerifiedEmissions
        | E::BorrowingNotAllowed
        | E::CreditCapExceeded
        | E::ExceedsObligation
        | E::EmissionsNotReported
        | E::NoReferencePrice
        | E::DeadlineNotPassed => Code::FailedPrecondition,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let (leader_id, leader_address) = e.leader.clone().unwrap_or_default();
        let detail = ErrorDetail {
            code: e.code as i32,
            message: e.message.clone(),
            outcome: e.outcome.map(|o| *o),
            leader_id,
            leader_address,
        };
        Status::with_details(
            grpc_code(e.code),
            format!("{}: {}", e.code.as_str_name(), e.message),
            detail.encode_to_vec().into(),
        )
    }
}

/// Reads the `ErrorDetail` back from a status (what clients and forwarding nodes do).
pub fn detail(status: &Status) -> Option<ErrorDetail> {
    ErrorDetail::decode(status.details()).ok()
}

/// An error status from another node, kept as it was (its detail travels unchanged).
pub fn from_status(status: &Status) -> ApiError {
    match detail(status) {
        Some(d) => ApiError {
            code: d.code(),
            message: d.message,
            outcome: d.outcome.map(Box::new),
            leader: (d.leader_id != 0).then_some((d.leader_id, d.leader_address)),
        },
        None => ApiError::unavailable(format!("{}: {}", status.code(), status.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_a_trip_through_a_status() {
        for code in 0..=100 {
            let Ok(code) = ErrorCode::try_from(code) else {
                continue;
            };
            if code == ErrorCode::Ok {
                continue;
            }
            let status = Status::from(ApiError::new(code, "why"));
            assert_eq!(status.code(), grpc_code(code));
            assert_eq!(from_status(&status).code, code);
        }
    }
}
