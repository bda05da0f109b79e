//! What can go wrong talking to the registry, with the ledger's stable code where there is one.

use carbon_proto::v1::{ErrorCode, ErrorDetail, Outcome};
use prost::Message;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The registry refused: at ingress (no outcome) or committed as a rejection (outcome set).
    #[error("{}: {message}", code.as_str_name())]
    Rejected {
        code: ErrorCode,
        message: String,
        outcome: Option<Box<Outcome>>,
    },
    /// No endpoint answered within the retry budget.
    #[error("registry unavailable: {0}")]
    Unavailable(String),
    /// A local problem: bad input, a file, a key.
    #[error("{0}")]
    Local(String),
}

impl ClientError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::Rejected { code, .. } => *code,
            ClientError::Unavailable(_) => ErrorCode::Unavailable,
            ClientError::Local(_) => ErrorCode::InvalidArgument,
        }
    }

    pub fn local(m: impl Into<String>) -> Self {
        ClientError::Local(m.into())
    }

    /// Whether retrying the same request elsewhere may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Unavailable(_))
    }

    pub fn from_status(s: &tonic::Status) -> Self {
        match ErrorDetail::decode(s.details()) {
            Ok(d) if !s.details().is_empty() => {
                if d.code() == ErrorCode::Unavailable {
                    return ClientError::Unavailable(d.message);
                }
                ClientError::Rejected {
                    code: d.code(),
                    message: d.message,
                    outcome: d.outcome.map(Box::new),
                }
            }
            _ => match s.code() {
                tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Unknown
                | tonic::Code::Cancelled
                | tonic::Code::Aborted => ClientError::Unavailable(s.message().to_string()),
                tonic::Code::NotFound => ClientError::Rejected {
                    code: ErrorCode::NotFound,
                    message: s.message().to_string(),
                    outcome: None,
                },
                _ => ClientError::Rejected {
                    code: ErrorCode::Malformed,
                    message: format!("{}: {}", s.code(), s.message()),
                    outcome: None,
                },
            },
        }
    }
}
