//! Rule 15's clock: pending transfers execute in the first entry whose ledger time passed their
//! due time (`ledger::safeguards`). When one is due and no entry comes, the leader proposes an
//! entry without transactions, stamped with its clock, as it does to settle an expired
//! transaction (`super::deliver`): applying it executes what is due. Every replica executes
//! the same transfers at the same index, since the ledger alone decides from the entry's time.
//!
//! The same loop keeps the version floor of every node (`Liveness::note_committed_version`): a
//! leader never proposes a ledger version older than the newest committed one.

use crate::forward::leader;
use crate::ledger::safeguards;
use crate::node::Node;
use std::sync::Weak;
use std::time::Duration;

/// How often the leader looks at the earliest due time.
const TICK: Duration = Duration::from_millis(200);

/// Keeps the leader's version floor: the version of the newest committed transaction applied
/// here (`Liveness::ledger_version`).
fn note_committed_version(node: &Node) {
    let view = node.state.view();
    let newest = crate::ledger::queries::chain(&view)
        .ok()
        .flatten()
        .filter(|c| c.sequence > 0)
        .and_then(|c| {
            crate::ledger::queries::record_at(&view, c.sequence)
                .ok()
                .flatten()
        })
        .and_then(|r| r.outcome)
        .map(|o| o.ledger_version);
    if let Some(v) = newest {
        node.liveness.note_committed_version(v);
    }
}

pub async fn run(node: Weak<Node>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        note_committed_version(&node);
        if leader(&node.raft).is_none_or(|(id, _)| id != node.id)
            || node.liveness.ledger_version() < safeguards::SAFEGUARDS_VERSION
        {
            continue;
        }
        let due = match safeguards::next_due(&node.state.view()) {
            Ok(Some(due)) => due,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("cannot read the pending transfers' due index: {}", e.0);
                continue;
            }
        };
        if crate::raft::clock::now_ms() <= due {
            continue;
        }
        if let Err(e) = node.proposer.advance_ledger_time().await {
            tracing::debug!(
                "a pending transfer is due; moving the ledger's time failed: {}",
                e.message
            );
        }
    }
}
