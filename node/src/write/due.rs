//! Rule 15's clock: pending transfers execute in the first entry whose ledger time passed their
//! due time (`ledger::safeguards`). When one is due and no entry comes, the leader proposes an
//! entry without transactions, stamped with its clock, as it does to settle an expired
//! transaction (`super::deliver`): applying it executes what is due. Every replica executes
//! the same transfers at the same index, since the ledger alone decides from the entry's time.

use crate::api::forward::leader;
use crate::ledger::safeguards;
use crate::node::Node;
use std::sync::Weak;
use std::time::Duration;

/// How often the leader looks at the earliest due time.
const TICK: Duration = Duration::from_millis(200);

pub async fn run(node: Weak<Node>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
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
