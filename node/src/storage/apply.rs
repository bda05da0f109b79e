//! Applying one committed log entry to the state tree: decode the entry's transactions, run the
//! ledger, and write the ledger's writes together with the applied log id, the membership and the
//! ledger time in ONE sled batch (a crash leaves whole entries).
//!
//! Hot path: runs for every committed entry on every replica, on a blocking thread
//! (`spawn_blocking`, see super::state).

use super::state_db::{meta_bytes, DbError, SledView, APPLIED, LAST_TIMESTAMP, MEMBERSHIP};
use crate::ledger::{self, Ctx, EntryError};
use crate::raft::{Applied, Batch, Entry, LogId, StoredMembership};
use carbon_proto::v1::{CommittedTx, Outcome, SignedTx};
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

/// What one applied entry gives back: the proposer's response and the newly committed
/// transactions (for Watch).
pub struct EntryResult {
    pub response: Applied,
    pub commits: Vec<CommittedTx>,
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
    let mut batch = sled::Batch::default();
    let mut result = EntryResult {
        response: Applied::default(),
        commits: Vec::new(),
    };
    match entry.payload {
        EntryPayload::Blank => {}
        EntryPayload::Membership(m) => {
            batch.insert(
                MEMBERSHIP,
                meta_bytes(&StoredMembership::new(Some(log_id), m)),
            );
        }
        EntryPayload::Normal(b) => result = apply_batch(view, log_id, b, &mut batch)?,
    }
    batch.insert(APPLIED, meta_bytes(&Some(log_id)));
    crate::crash_point!("apply-before-write");
    // Fault injection (tests): a storage error here must stop the node (node::run).
    fail::fail_point!("apply-fails", |_| Err(ApplyError::Db(DbError::Corrupt {
        key: "(none)".into(),
        reason: "fault injected by the apply-fails point".into(),
    })));
    view.write(batch)?;
    Ok(result)
}

fn apply_batch(
    view: &SledView,
    log_id: LogId,
    b: Batch,
    batch: &mut sled::Batch,
) -> Result<EntryResult, ApplyError> {
    let ctx = Ctx {
        log_index: log_id.index,
        // Ledger time never goes backwards, whatever the leader's clock said.
        timestamp_ms: b.timestamp_ms.max(view.ledger_time_ms()?),
        ledger_version: b.ledger_version,
    };
    let mut txs = Vec::with_capacity(b.txs.len());
    for bytes in &b.txs {
        let undecodable = |e: String| ApplyError::Undecodable {
            index: log_id.index,
            reason: e,
        };
        let signed = SignedTx::decode(bytes.as_slice()).map_err(|e| undecodable(e.to_string()))?;
        txs.push(VerifiedTx::from_verified_log(signed).map_err(|e| undecodable(e.to_string()))?);
    }
    let before = ledger::queries::chain(view)
        .map_err(EntryError::from)?
        .map_or(0, |c| c.sequence);
    let applied = ledger::apply_entry(view, ctx, &txs)?;
    for w in applied.writes {
        match w {
            ledger::Write::Put(k, v) => batch.insert(k, v),
            ledger::Write::Delete(k) => batch.remove(k),
        }
    }
    batch.insert(LAST_TIMESTAMP, meta_bytes(&ctx.timestamp_ms));
    let commits = txs
        .into_iter()
        .zip(&applied.outcomes)
        .filter(|(_, o)| o.sequence > before)
        .map(|(tx, o)| CommittedTx {
            tx: Some(tx.signed),
            outcome: Some(o.clone()),
        })
        .collect();
    Ok(EntryResult {
        response: Applied {
            outcomes: applied
                .outcomes
                .iter()
                .map(Outcome::encode_to_vec)
                .collect(),
        },
        commits,
    })
}
