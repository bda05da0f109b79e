//! How the nemesis reads an answer to `Submit` or `SubmitBatch`: the ONE place that interprets
//! the registry's write contract. Everything else works on [`Answer`].

use carbon_proto::v1::{
    submit_result, ErrorCode, ErrorDetail, Fate, Outcome, SubmitBatchResponse, SubmitResponse,
    SubmitResult,
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
    match r.result {
        Some(submit_result::Result::Outcome(o)) => Answer::Committed(o),
        Some(submit_result::Result::Error(d)) => from_detail(d),
        None => Answer::OkWithoutOutcome,
    }
}

fn from_status(status: &Status) -> Answer {
    if status.details().is_empty() {
        // No detail: a transport failure, a timeout, a node going away.
        return Answer::Unknown(format!("{:?}: {}", status.code(), status.message()));
    }
    match ErrorDetail::decode(status.details()) {
        Ok(d) => from_detail(d),
        Err(e) => Answer::Unknown(format!("undecodable detail ({e}): {}", status.message())),
    }
}

/// The registry's detail, read by its fate. A committed rejection carries its outcome.
fn from_detail(d: ErrorDetail) -> Answer {
    let (fate, code) = (d.fate(), d.code());
    match (fate, d.outcome) {
        (_, Some(o)) => Answer::Committed(o),
        (Fate::NotApplied, None) => Answer::NotApplied {
            code,
            message: d.message,
        },
        (fate, None) => Answer::Unknown(format!("{fate:?} {code:?}: {}", d.message)),
    }
}
