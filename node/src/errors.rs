//! The one mapping from the registry's stable error codes to gRPC statuses. Every error status
//! carries a standard `google.rpc.Status` in its details with a `google.rpc.ErrorInfo` (reason =
//! the code's name) and our `ErrorDetail` (code, message, fate, the stored outcome for committed
//! rejections, the leader hint): `carbon_proto::status` encodes and decodes them, so clients
//! never have to parse messages.

use crate::raft::NodeId;
use carbon_proto::v1::{ErrorCode, ErrorDetail, Fate, Outcome};
use carbon_proto::SigningError;
use tonic::{Code, Status};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str_name())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub outcome: Option<Box<Outcome>>,
    pub leader: Option<(NodeId, String)>,
    /// For answers to Submit/SubmitBatch: what the client may conclude (see `Fate` in the proto).
    pub fate: Fate,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            outcome: None,
            leader: None,
            fate: Fate::Unspecified,
        }
    }

    /// A submission that did not take effect and never will (invalid bytes, or expired in ledger
    /// time): the client may sign a new body.
    pub fn not_applied(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code, message).with_fate(Fate::NotApplied)
    }

    /// A submission whose fate is unknown: the client retries the same bytes.
    pub fn fate_unknown(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code, message).with_fate(Fate::Unknown)
    }

    pub fn with_fate(mut self, fate: Fate) -> Self {
        self.fate = fate;
        self
    }

    /// Unavailable: for a submission, its fate is unknown (retry the same bytes).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::fate_unknown(ErrorCode::Unavailable, message)
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
            fate: Fate::Committed,
        }
    }

    /// The detail every error status and every failed SubmitResult carries.
    pub fn detail(&self) -> ErrorDetail {
        let (leader_id, leader_address) = self.leader.clone().unwrap_or_default();
        ErrorDetail {
            code: self.code as i32,
            message: self.message.clone(),
            outcome: self.outcome.as_deref().cloned(),
            leader_id,
            leader_address,
            fate: self.fate as i32,
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
        | E::SameAccount
        | E::SystemOperation
        | E::SubstitutionSameClass
        | E::TooManyRows
        | E::DateInFuture => Code::InvalidArgument,
        E::MessageTooLarge | E::ResourceExhausted => Code::ResourceExhausted,
        E::BadSignature => Code::Unauthenticated,
        E::InsufficientSignatures | E::RoleNotPermitted | E::PermissionDenied | E::Replayed => {
            Code::PermissionDenied
        }
        E::UnknownAccount
        | E::UnknownVintage
        | E::UnknownProject
        | E::UnknownEncumbrance
        | E::UnknownRepo
        | E::UnknownLoan
        | E::UnknownPendingTransfer
        | E::UnknownIssuance
        | E::UnknownMethodology
        | E::NotFound => Code::NotFound,
        E::AccountExists
        | E::VintageExists
        | E::ProjectExists
        | E::AlreadyAllocated
        | E::AlreadyTruedUp
        | E::AlreadyTrusted
        | E::AlreadyAuthorised => Code::AlreadyExists,
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
        | E::DeadlineNotPassed
        | E::RepoClosed
        | E::RepurchaseDatePassed
        | E::RepurchaseDateNotPassed
        | E::LoanClosed
        | E::ExceedsLoan
        | E::VersionNotActive
        | E::SafeguardsDisabled
        | E::NotTrusted
        | E::PendingTransferClosed
        | E::TransferLimitExceeded
        | E::ExceedsCollateral
        | E::UnitsNotAuthorised
        | E::MemberNotCaughtUp
        | E::PersonalAccountsNotAllowed
        | E::MethodologyNotPermitted
        | E::DailyCapExceeded
        | E::NotPersonalAccountOfPlatform
        | E::NothingToConvert
        | E::OffsetKindNotEligible => Code::FailedPrecondition,
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        carbon_proto::status::to_status(grpc_code(e.code), &e.detail())
    }
}

/// An error detail from another node (a forwarded request's answer), kept as it was.
pub fn from_detail(d: ErrorDetail) -> ApiError {
    ApiError {
        code: d.code(),
        fate: d.fate(),
        message: d.message,
        outcome: d.outcome.map(Box::new),
        leader: (d.leader_id != 0).then_some((d.leader_id, d.leader_address)),
    }
}

/// Reads the `ErrorDetail` back from a status (what clients and forwarding nodes do); `None`
/// for a transport error, not one of ours.
pub fn detail(status: &Status) -> Option<ErrorDetail> {
    carbon_proto::status::detail(status)
}

/// An error status from another node, kept as it was (its detail travels unchanged).
pub fn from_status(status: &Status) -> ApiError {
    match detail(status) {
        Some(d) => from_detail(d),
        None => ApiError::fate_unknown(
            ErrorCode::Unavailable,
            format!("{}: {}", status.code(), status.message()),
        ),
    }
}

/// A limit of `crate::limits` was reached: RESOURCE_EXHAUSTED, not applied.
pub fn exhausted(m: impl Into<String>) -> ApiError {
    ApiError::not_applied(ErrorCode::ResourceExhausted, m)
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

    #[test]
    fn the_codec_maps_undecodable_requests_as_this_mapping_does() {
        let status = carbon_proto::status::malformed("truncated");
        assert_eq!(status.code(), grpc_code(ErrorCode::Malformed));
        let d = detail(&status).expect("a detail");
        assert_eq!(
            (d.code(), d.fate()),
            (ErrorCode::Malformed, Fate::NotApplied)
        );
    }
}
