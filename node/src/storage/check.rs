//! The offline check of a stopped node's data directory: open it as the node would (including
//! the repairs a restart makes), check every invariant of the registry's rules, and verify the
//! whole hash chain from the genesis through every committed transaction the state keeps, then
//! replay that history through the rules from the genesis (every outcome as recorded: rule 15's
//! executions, rule 17's exports and adjustments...) and compare the rebuilt state with the
//! stored one.

use super::OpenError;
use crate::ledger::{audit, queries};
use carbon_proto::v1::Genesis;
use std::path::Path;

/// What a clean data directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Chain position and head.
    pub sequence: u64,
    pub head: Vec<u8>,
    /// Last applied Raft log index (0 before any entry).
    pub applied_index: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Audit(String),
}

/// Checks a data directory. The node must not be running on it.
pub fn check_data_dir(data_dir: &Path, genesis: &Genesis) -> Result<CheckReport, CheckError> {
    let (_log, state) = super::open(data_dir, genesis)?;
    let view = state.view();
    let audit = |e: audit::AuditError| CheckError::Audit(e.0);
    audit::check_invariants(&view).map_err(audit)?;
    let chain = queries::chain(&view)
        .map_err(|e| CheckError::Audit(e.0))?
        .ok_or_else(|| CheckError::Audit("no chain state".into()))?;
    let history =
        queries::committed_since(&view, 1, usize::MAX).map_err(|e| CheckError::Audit(e.0))?;
    let head = audit::verify_chain(genesis, &history).map_err(audit)?;
    if head.as_slice() != chain.head.as_slice() || history.len() as u64 != chain.sequence {
        return Err(CheckError::Audit(format!(
            "the stored chain state (sequence {}) does not match its history ({} transactions)",
            chain.sequence,
            history.len()
        )));
    }
    replay_matches(genesis, &history, &view)?;
    let applied_index = view
        .applied()
        .map_err(|e| CheckError::Audit(e.to_string()))?
        .map_or(0, |l| l.index);
    Ok(CheckReport {
        sequence: chain.sequence,
        head: chain.head,
        applied_index,
    })
}

/// Replays `history` from the genesis (`audit::replay`: every outcome must come out as
/// recorded) and requires every record the replay rebuilds to be stored alike.
fn replay_matches(
    genesis: &Genesis,
    history: &[carbon_proto::v1::CommittedTx],
    stored: &dyn crate::ledger::StateView,
) -> Result<(), CheckError> {
    let replayed = audit::replay(genesis, history).map_err(|e| CheckError::Audit(e.0))?;
    for (k, v) in &replayed.map {
        let here = stored
            .get(k)
            .map_err(|e| CheckError::Audit(e.to_string()))?;
        if here.as_deref() != Some(v.as_slice()) {
            return Err(CheckError::Audit(format!(
                "replaying the history from the genesis gives record {} otherwise than stored",
                hex::encode(k)
            )));
        }
    }
    Ok(())
}
