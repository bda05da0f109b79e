//! Linearizable reads confirmed in rounds on the leader: one confirmation (openraft's
//! `ensure_linearizable`: a heartbeat a majority answers in this leader's term, then this
//! node's state applied up to the read index) serves every read that arrived before the round
//! began. N readers cost one round at a time, not N: the heartbeats do not grow with the readers.
//!
//! Why it is linearizable: a round that *starts* after a read arrived confirms that this node
//! led at some instant after the read arrived, and waits until everything committed by then is
//! applied; answering the read from that state is what a round of the read's own would give.
//! Rounds are numbered as they start; a read remembers the number started when it arrived and
//! is served by any later round that succeeded.
//!
//! **A lease read first.** A leader whose heartbeat sent at `t` was acknowledged by a majority
//! (itself included) answers from its own state until `t + LEASE_READ_WINDOW` (200 ms, half the
//! shortest election timeout) without a round, once it has committed an entry of its own term
//! (its commit index then covers everything committed before it) and has applied up to its
//! commit index. Why no other leader can have committed anything by then: a new leader needs the
//! votes of a majority, which includes a member that acknowledged `t`; none helps before
//! `t + election_timeout_min` — a follower's openraft refuses votes for `election_timeout_max`
//! after its leader's traffic, the watchdog campaigns only `election_timeout_min` after it,
//! a member refuses every vote for the window after it starts (it may have acknowledged `t`
//! before a crash), and this leader refuses votes within the window of its last send
//! (`watchdog::Liveness::refuses_votes`). The other half of the election timeout is margin for
//! clocks running at different rates (monotonic clocks; no wall clock is used). The argument
//! is in docs/DECISIONS.md ("Lease reads"). During a joint membership change reads take rounds.
//!
//! May block: `confirm` awaits a network round and apply (async; never blocks a tokio worker).

use super::watchdog::Liveness;
use super::Raft;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub struct ReadIndex {
    raft: Raft,
    liveness: Arc<Liveness>,
    /// Rounds started so far.
    started: AtomicU64,
    /// The number of the newest round that succeeded.
    confirmed: AtomicU64,
    /// One round at a time; tokio's mutex is fair, so waiters take their turn in arrival order.
    turn: tokio::sync::Mutex<()>,
}

impl ReadIndex {
    pub fn new(raft: Raft, liveness: Arc<Liveness>) -> ReadIndex {
        ReadIndex {
            raft,
            liveness,
            started: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Returns once this node has been confirmed leader after the call began, with everything
    /// committed by then applied here; or why that could not be confirmed.
    pub async fn confirm(&self) -> Result<(), String> {
        if let Some(index) = self.lease_read_index().await {
            crate::metrics::get().read_index_lease.inc();
            return self.applied(index).await;
        }
        self.round().await
    }

    /// The commit index to read at under this leader's read lease (module docs), if it holds.
    async fn lease_read_index(&self) -> Option<u64> {
        let (vote, voters) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            if m.state != openraft::ServerState::Leader || membership.get_joint_config().len() != 1
            {
                return None;
            }
            (m.vote, membership.voter_ids().collect::<Vec<_>>())
        };
        let now = Instant::now();
        if now >= self.liveness.read_lease_until(&vote, &voters, now)? {
            return None;
        }
        let committed = self.raft.with_raft_state(|st| st.committed).await.ok()??;
        // An entry of this leader's term committed: its commit index covers every entry
        // committed before its term.
        (committed.leader_id.term == vote.leader_id().term).then_some(committed.index)
    }

    async fn applied(&self, index: u64) -> Result<(), String> {
        let applied = self
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index);
        if applied >= index {
            return Ok(());
        }
        self.raft
            .wait(None)
            .applied_index_at_least(Some(index), "lease read")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A confirmation round, shared with the reads that arrived before it began.
    async fn round(&self) -> Result<(), String> {
        let arrived_after = self.started.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        if self.confirmed.load(Ordering::SeqCst) > arrived_after {
            crate::metrics::get().read_index_shared.inc();
            return Ok(());
        }
        let round = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        crate::metrics::get().read_index_rounds.inc();
        self.raft
            .ensure_linearizable()
            .await
            .map_err(|e| e.to_string())?;
        debug_assert!(self.confirmed.load(Ordering::SeqCst) < round);
        self.confirmed.store(round, Ordering::SeqCst);
        Ok(())
    }
}
