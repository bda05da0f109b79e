//! The registry's errors in gRPC's standard shape (the "richer error model"): a status's details
//! are a `google.rpc.Status` whose `details` hold
//!
//! * a `google.rpc.ErrorInfo`: `reason` is the stable [`ErrorCode`] name (`INSUFFICIENT_UNITS`),
//!   `domain` is [`DOMAIN`], `metadata` has the `fate` (and the `leaderId`/`leaderAddress` when
//!   known) — what any gRPC client library reads without our proto;
//! * our own [`ErrorDetail`] (type URL [`DETAIL_TYPE_URL`]): the code, the fate, the stored
//!   outcome of a committed rejection, the leader hint.
//!
//! Node, SDK and tests encode and decode through this module only. Which gRPC code an
//! [`ErrorCode`] gets is decided in one place, the node's `api::errors`.

use crate::v1::{ErrorCode, ErrorDetail, Fate};
use prost::Message;
use prost_types::Any;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::pb;

/// `google.rpc.ErrorInfo.domain` of every registry error.
pub const DOMAIN: &str = "carbon-registry";
/// The type URL of our [`ErrorDetail`] inside `google.rpc.Status.details`.
pub const DETAIL_TYPE_URL: &str = "type.googleapis.com/carbon.registry.v1.ErrorDetail";
const ERROR_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// The `google.rpc.ErrorInfo` for a registry error.
pub fn error_info(detail: &ErrorDetail) -> pb::ErrorInfo {
    let mut metadata = HashMap::new();
    metadata.insert("fate".to_string(), detail.fate().as_str_name().to_string());
    if detail.leader_id != 0 {
        metadata.insert("leaderId".to_string(), detail.leader_id.to_string());
        metadata.insert("leaderAddress".to_string(), detail.leader_address.clone());
    }
    pb::ErrorInfo {
        reason: detail.code().as_str_name().to_string(),
        domain: DOMAIN.to_string(),
        metadata,
    }
}

/// A gRPC status with `code`, a message naming the registry code, and the details above.
pub fn to_status(code: Code, detail: &ErrorDetail) -> Status {
    let message = format!("{}: {}", detail.code().as_str_name(), detail.message);
    let rpc = pb::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![
            Any {
                type_url: ERROR_INFO_TYPE_URL.to_string(),
                value: error_info(detail).encode_to_vec(),
            },
            Any {
                type_url: DETAIL_TYPE_URL.to_string(),
                value: detail.encode_to_vec(),
            },
        ],
    };
    Status::with_details(code, message, rpc.encode_to_vec().into())
}

/// Our [`ErrorDetail`] from a status's details; `None` for a status that is not the registry's
/// (a transport error, a proxy's answer).
pub fn detail(status: &Status) -> Option<ErrorDetail> {
    if status.details().is_empty() {
        return None;
    }
    let rpc = pb::Status::decode(status.details()).ok()?;
    let any = rpc.details.iter().find(|a| a.type_url == DETAIL_TYPE_URL)?;
    ErrorDetail::decode(any.value.as_slice()).ok()
}

/// The status every undecodable request gets: INVALID_ARGUMENT with reason MALFORMED, fate
/// NOT_APPLIED (nothing that cannot be decoded is ever applied). The node's `api::errors` maps
/// MALFORMED to the same gRPC code (checked by a test there).
pub fn malformed(what: impl std::fmt::Display) -> Status {
    let detail = ErrorDetail {
        code: ErrorCode::Malformed as i32,
        message: format!("the request could not be decoded: {what}"),
        fate: Fate::NotApplied as i32,
        ..Default::default()
    };
    to_status(Code::InvalidArgument, &detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn a_status_reads_the_standard_way_and_ours() {
        let d = ErrorDetail {
            code: ErrorCode::InsufficientUnits as i32,
            message: "short by 5".into(),
            leader_id: 2,
            leader_address: "127.0.0.1:50052".into(),
            fate: Fate::Committed as i32,
            ..Default::default()
        };
        let status = to_status(Code::FailedPrecondition, &d);
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "INSUFFICIENT_UNITS");
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.metadata["fate"], "FATE_COMMITTED");
        assert_eq!(info.metadata["leaderId"], "2");
        assert_eq!(detail(&status), Some(d));
        assert_eq!(status.message(), "INSUFFICIENT_UNITS: short by 5");
    }

    #[test]
    fn a_foreign_status_has_no_detail() {
        assert_eq!(detail(&Status::unavailable("connection refused")), None);
        let junk = Status::with_details(Code::Internal, "x", vec![1u8, 2, 3].into());
        assert_eq!(detail(&junk), None);
    }
}
