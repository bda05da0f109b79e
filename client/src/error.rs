//! What can go wrong talking to the registry, with the ledger's stable code where there is one.

use carbon_proto::v1::{ErrorCode, ErrorDetail, Fate, Outcome};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The registry refused: before the log (no outcome; `fate` says whether the same bytes may
    /// still take effect) or committed as a rejection (outcome set, fate COMMITTED).
    #[error("{}: {message}", code.as_str_name())]
    Rejected {
        code: ErrorCode,
        message: String,
        outcome: Option<Box<Outcome>>,
        fate: Fate,
    },
    /// No endpoint gave a definite answer within the retry budget: the transaction's fate is
    /// unknown (resubmit the same bytes later to learn it).
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

    /// What the client may conclude about a submitted transaction.
    pub fn fate(&self) -> Fate {
        match self {
            ClientError::Rejected { fate, .. } => *fate,
            ClientError::Unavailable(_) => Fate::Unknown,
            ClientError::Local(_) => Fate::NotApplied,
        }
    }

    pub fn local(m: impl Into<String>) -> Self {
        ClientError::Local(m.into())
    }

    /// A refusal made here, not by the registry.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        ClientError::Rejected {
            code,
            message: message.into(),
            outcome: None,
            fate: Fate::Unspecified,
        }
    }

    /// Whether retrying the same request elsewhere may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Unavailable(_))
    }

    /// The registry's error detail (from a status, or a SubmitBatch result).
    pub fn from_detail(d: ErrorDetail) -> Self {
        if d.code() == ErrorCode::Unavailable {
            return ClientError::Unavailable(d.message);
        }
        ClientError::Rejected {
            code: d.code(),
            fate: d.fate(),
            message: d.message,
            outcome: d.outcome.map(Box::new),
        }
    }

    pub fn from_status(s: &tonic::Status) -> Self {
        if let Some(d) = carbon_proto::status::detail(s) {
            return Self::from_detail(d);
        }
        // A status without the registry's detail comes from the transport (a connection's
        // request limit, a proxy, TLS): say what it was, and retry what a retry may cure.
        let text = format!("{}: {}", s.code(), s.message());
        match s.code() {
            tonic::Code::NotFound => ClientError::rejected(ErrorCode::NotFound, text),
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
                ClientError::rejected(ErrorCode::PermissionDenied, text)
            }
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => {
                ClientError::rejected(ErrorCode::Malformed, text)
            }
            tonic::Code::Unimplemented => ClientError::rejected(ErrorCode::InvalidArgument, text),
            _ => ClientError::Unavailable(text),
        }
    }
}
