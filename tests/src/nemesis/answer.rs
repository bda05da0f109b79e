//! How the nemesis reads an answer to `Submit` or `SubmitBatch`: the ONE place that interprets
//! the registry's write contract. Everything else works on [`Answer`].

use carbon_proto::v1::{
    ErrorCode, ErrorDetail, Outcome, SubmitBatchResponse, SubmitResponse, SubmitResult,
};
use prost::Message;
use tonic::{Response, Status};

/// What a client may conclude about one transaction from one answer.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    /// Committed: its first (and only) outcome, a success or a rejection by the ledger.
    Committed(Outcome),
    /// Certainly not committed, now or later: a client may sign a new transaction.
    NotApplied { code: ErrorCode, message: String },
    /// Fate unknown: retry the same bytes.
    Unknown(String),
    /// A contract violation: status OK without an outcome. Its fate is unknown.
    OkWithoutOutcome,
}

impl Answer {
    /// Whether the same bytes must be sent again.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Answer::Unknown(_) | Answer::OkWithoutOutcome)
    }
}

/// The answer to one `Submit`.
pub fn submit(r: Result<Response<SubmitResponse>, Status>) -> Answer {
    match r {
        Ok(r) => match r.into_inner().outcome {
            Some(o) => Answer::Committed(o),
            None => Answer::OkWithoutOutcome,
        },
        Err(status) => from_status(&status),
    }
}

/// The answers to one `SubmitBatch` of `n` transactions, in order.
pub fn batch(r: Result<Response<SubmitBatchResponse>, Status>, n: usize) -> Vec<Answer> {
    match r {
        Ok(r) => {
            let results = r.into_inner().results;
            if results.len() != n {
                let why = format!("{} results for {n} transactions", results.len());
                return vec![Answer::Unknown(why); n];
            }
            results.into_iter().map(batch_item).collect()
        }
        Err(status) => vec![from_status(&status); n],
    }
}

fn batch_item(r: SubmitResult) -> Answer {
    match r.outcome {
        Some(o) => Answer::Committed(o),
        None => match r.ingress_code() {
            ErrorCode::Ok => Answer::OkWithoutOutcome,
            code => from_code(code, r.ingress_message),
        },
    }
}

fn from_status(status: &Status) -> Answer {
    match ErrorDetail::decode(status.details()) {
        Ok(d) if d.code != 0 || d.outcome.is_some() => match d.outcome {
            Some(o) => Answer::Committed(o),
            None => from_code(d.code(), d.message),
        },
        // No detail: a transport failure, a timeout, a node going away.
        _ => Answer::Unknown(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// An error code without an outcome. UNAVAILABLE leaves the fate open; every other code is an
/// ingress refusal, which never reaches the log.
fn from_code(code: ErrorCode, message: String) -> Answer {
    match code {
        ErrorCode::Unavailable => Answer::Unknown(message),
        code => Answer::NotApplied { code, message },
    }
}
