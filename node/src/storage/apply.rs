//! Applying one committed log entry to the state tree: decode the entry's transactions, run the
//! ledger, and write the ledger's writes together with the applied log id, the membership and the
//! ledger time in ONE sled batch (a crash leaves whole entries).
//!
//! Hot path: runs for every committed entry on every replica, on a blocking thread
//! (`spawn_blocking`, see super::state).

use super::state_db::{meta_bytes, Change, DbError, SledView, APPLIED, LAST_TIMESTAMP, MEMBERSHIP};
use crate::ledger::{self, Ctx, EntryError};
use crate::raft::{Applied, Batch, Entry, LogId, StoredMembership};
use carbon_proto::v1::{SignedTx, TxRecord};
use carbon_proto::VerifiedTx;
use openraft::{EntryPayload, RaftLogId};
use prost::Message;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Ledger(#[from] EntryError),
    #[error("log entry {index} holds a transaction that does not decode: {reason}")]
    Undecodable { index: u64, reason: String },
}

/// What one applied entry gives back: the proposer's response and the records of the newly
/// committed transactions (for Watch).
pub struct EntryResult {
    pub response: Applied,
    pub records: Vec<TxRecord>,
}

/// Applies `entry` on top of `view`, whose last applied id must be `applied`.
pub fn apply(
    view: &SledView,
    applied: Option<LogId>,
    entry: Entry,
) -> Result<EntryResult, ApplyError> {
    let log_id = *entry.get_log_id();
    if let Some(a) = applied {
        // Contiguity on the way out of the log (openraft hands entries over in order).
        assert_eq!(
            log_id.index,
            a.index + 1,
            "applying log index {} after {}",
            log_id.index,
            a.index
        );
    }
    let mut changes: Vec<Change> = Vec::new();
    let mut result = EntryResult {
        response: Applied::default(),
        records: Vec::new(),
    };
    match entry.payload {
        EntryPayload::Blank => {}
        EntryPayload::Membership(m) => {
            let stored = StoredMembership::new(Some(log_id), m);
            changes.push((MEMBERSHIP.to_vec(), Some(meta_bytes(&stored))));
        }
        EntryPayload::Normal(b) => result = apply_batch(view, log_id, b, &mut changes)?,
    }
    changes.push((APPLIED.to_vec(), Some(meta_bytes(&Some(log_id)))));
    crate::crash_point!("apply-before-write");
    // Fault injection (tests): a storage error here must stop the node (serve::run).
    fail::fail_point!("apply-fails", |_| Err(ApplyError::Db(DbError::Corrupt {
        key: "(none)".into(),
        reason: "fault injected by the apply-fails point".into(),
    })));
    view.commit(changes)?;
    Ok(result)
}

/// Decodes the entry's transactions (verified by the leader that proposed them).
fn decode_txs(index: u64, b: &Batch) -> Result<Vec<VerifiedTx>, ApplyError> {
    let undecodable = |e: String| ApplyError::Undecodable { index, reason: e };
    b.txs
        .iter()
        .map(|bytes| {
            let signed =
                SignedTx::decode(bytes.as_ref()).map_err(|e| undecodable(e.to_string()))?;
            VerifiedTx::from_verified_log(signed).map_err(|e| undecodable(e.to_string()))
        })
        .collect()
}

fn apply_batch(
    view: &SledView,
    log_id: LogId,
    b: Batch,
    changes: &mut Vec<Change>,
) -> Result<EntryResult, ApplyError> {
    let ctx = Ctx {
        log_index: log_id.index,
        // Ledger time never goes backwards, whatever the leader's clock said.
        timestamp_ms: b.timestamp_ms.max(view.ledger_time_ms()?),
        ledger_version: b.ledger_version,
    };
    let txs = decode_txs(log_id.index, &b)?;
    drop(b);
    let applied = ledger::apply_entry(view, ctx, &txs)?;
    changes.reserve(applied.writes.len().saturating_add(2));
    changes.extend(applied.writes.into_iter().map(|w| match w {
        ledger::Write::Put(k, v) => (k, Some(v)),
        ledger::Write::Delete(k) => (k, None),
    }));
    changes.push((LAST_TIMESTAMP.to_vec(), Some(meta_bytes(&ctx.timestamp_ms))));
    Ok(EntryResult {
        response: Applied {
            outcomes: applied.outcomes,
        },
        records: applied.records,
    })
}
