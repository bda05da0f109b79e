//! Watch: a stream of committed transactions and outcomes in chain order, from any sequence.
//! It first reads the backlog from state, then follows new commits; a subscriber that falls
//! behind the broadcast buffer re-reads from state, so nothing is skipped or repeated.
//!
//! Each item is shown as the watcher may see it (`reads::as_seen_by`): the public stream
//! redacts private transactions, the regulator's shows everything, an account's shows whole
//! what concerns it. The credential is checked when the stream opens; a stream with one ends
//! (PERMISSION_DENIED) once its account's key set changes or the account closes.
//!
//! Slots (`limits`): public streams, streams of regulator accounts and streams of other
//! accounts each have their own pool, and one account holds at most
//! `WATCH_STREAMS_PER_ACCOUNT_MAX` streams on a node, so that nobody can lock the regulator
//! or the other accounts out.

use super::auth::{authorise, Reader};
use super::reads::as_seen_by;
use crate::errors::exhausted;
use crate::errors::ApiError;
use crate::ledger::queries;
use crate::limits::{
    PAGE_RECORDS_MAX, WATCH_ACCOUNT_STREAMS_MAX, WATCH_PUBLIC_STREAMS_MAX,
    WATCH_REGULATOR_STREAMS_MAX, WATCH_STREAMS_PER_ACCOUNT_MAX, WATCH_STREAM_BUFFER_TXS_MAX,
};
use crate::node::Node;
use carbon_proto::v1::{AccountStatus, CommittedTx, TxRecord, WatchRequest};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, Semaphore, SemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

pub type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<CommittedTx, Status>> + Send>>;

fn seq(t: &TxRecord) -> u64 {
    t.outcome.as_ref().map_or(0, |o| o.sequence)
}

/// Open public Watch streams of this process (`limits::WATCH_PUBLIC_STREAMS_MAX`).
static PUBLIC_STREAMS: Semaphore = Semaphore::const_new(WATCH_PUBLIC_STREAMS_MAX);
/// Open Watch streams of regulator accounts (`limits::WATCH_REGULATOR_STREAMS_MAX`).
static REGULATOR_STREAMS: Semaphore = Semaphore::const_new(WATCH_REGULATOR_STREAMS_MAX);
/// Open Watch streams of other accounts: the rest of `limits::WATCH_STREAMS_MAX`.
static ACCOUNT_STREAMS: Semaphore = Semaphore::const_new(WATCH_ACCOUNT_STREAMS_MAX);
/// Streams open per account (other than the regulator's).
static PER_ACCOUNT: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn per_account() -> std::sync::MutexGuard<'static, BTreeMap<String, usize>> {
    match PER_ACCOUNT.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A stream's slot: a permit of its pool and, for an account's stream, its share of the
/// account's streams; both are given back when the stream ends.
struct Slot {
    _permit: SemaphorePermit<'static>,
    account: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(a) = self.account.take() {
            let mut open = per_account();
            if let Some(n) = open.get_mut(&a) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&a);
                }
            }
        }
    }
}

fn full(limit: usize, name: &str) -> ApiError {
    exhausted(format!(
        "{limit} {name} are open on this node; retry later or another node"
    ))
}

/// Takes a slot for `who`'s stream, or says which limit is reached.
fn take_slot(who: &Reader) -> Result<Slot, ApiError> {
    let Some(account) = who.account_id() else {
        let permit = PUBLIC_STREAMS.try_acquire().map_err(|_| {
            full(
                WATCH_PUBLIC_STREAMS_MAX,
                "public Watch streams (WATCH_PUBLIC_STREAMS_MAX)",
            )
        })?;
        return Ok(Slot {
            _permit: permit,
            account: None,
        });
    };
    if who.is_regulator() {
        let permit = REGULATOR_STREAMS.try_acquire().map_err(|_| {
            full(
                WATCH_REGULATOR_STREAMS_MAX,
                "Watch streams of the regulator (WATCH_REGULATOR_STREAMS_MAX)",
            )
        })?;
        return Ok(Slot {
            _permit: permit,
            account: None,
        });
    }
    let mut open = per_account();
    let n = open.get(account).copied().unwrap_or(0);
    if n >= WATCH_STREAMS_PER_ACCOUNT_MAX {
        return Err(exhausted(format!(
            "{account:?} has {n} Watch streams open on this node \
             (WATCH_STREAMS_PER_ACCOUNT_MAX = {WATCH_STREAMS_PER_ACCOUNT_MAX}); close one first"
        )));
    }
    let permit = ACCOUNT_STREAMS.try_acquire().map_err(|_| {
        full(
            WATCH_ACCOUNT_STREAMS_MAX,
            "Watch streams of accounts (WATCH_STREAMS_MAX - public - regulator)",
        )
    })?;
    open.insert(account.to_string(), n.saturating_add(1));
    Ok(Slot {
        _permit: permit,
        account: Some(account.to_string()),
    })
}

/// Opens a stream for `req` (its credential decides what the watcher sees); refuses with
/// RESOURCE_EXHAUSTED while its pool, or its account's share, is full.
pub fn open(node: Arc<Node>, req: WatchRequest) -> Result<WatchStream, ApiError> {
    let who = authorise(&node.state.view(), &node.genesis.chain_id, &req)?;
    let slot = take_slot(&who)?;
    Ok(start(node, req.from_sequence, who, slot))
}

/// Why a stream opened with a credential must end now: its account changed its key set (the
/// credential's key may be one a thief held) or closed since. `None` for the public stream.
fn revoked(node: &Node, who: &Reader) -> Option<Status> {
    let opened = who.account()?;
    let now = match queries::account(&node.state.view(), &opened.account_id) {
        Ok(a) => a,
        Err(e) => return Some(Status::unavailable(e.0)),
    };
    let why = match now {
        None => "no longer exists",
        Some(a) if a.status() == AccountStatus::Closed => "was closed",
        Some(a) if a.public_keys != opened.public_keys => "changed its keys",
        Some(_) => return None,
    };
    Some(
        ApiError::denied(format!(
            "account {:?} {why} after this stream opened: the stream ends; open a new one with a \
             fresh credential",
            opened.account_id
        ))
        .into(),
    )
}

/// One item as `who` sees it.
fn shown(who: &Reader, t: TxRecord) -> Result<CommittedTx, Status> {
    Ok(as_seen_by(who, t))
}

fn start(node: Arc<Node>, from_sequence: u64, who: Reader, slot: Slot) -> WatchStream {
    let (tx, rx) = mpsc::channel(WATCH_STREAM_BUFFER_TXS_MAX);
    tokio::spawn(async move {
        let _slot = slot; // held while the stream lives
        let mut next = from_sequence.max(1);
        let mut sub = node.state.subscribe();
        loop {
            // Backlog from state.
            loop {
                let page = match queries::records_since(&node.state.view(), next, PAGE_RECORDS_MAX)
                {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Status::unavailable(e.0))).await;
                        return;
                    }
                };
                if page.is_empty() {
                    break;
                }
                if let Some(end) = revoked(&node, &who) {
                    let _ = tx.send(Err(end)).await;
                    return;
                }
                for t in page {
                    next = seq(&t) + 1;
                    if tx.send(shown(&who, t)).await.is_err() {
                        return;
                    }
                }
            }
            // Live commits. A watcher that went away frees its slot at once, not at the next
            // commit (on a quiet registry that could be never).
            loop {
                let received = tokio::select! {
                    r = sub.recv() => r,
                    () = tx.closed() => return,
                };
                match received {
                    Ok(commits) => {
                        if let Some(end) = revoked(&node, &who) {
                            let _ = tx.send(Err(end)).await;
                            return;
                        }
                        for t in commits.iter() {
                            let s = seq(t);
                            if s < next {
                                continue;
                            }
                            if s > next {
                                break; // a gap: fall back to reading state
                            }
                            next = s + 1;
                            if tx.send(shown(&who, t.clone())).await.is_err() {
                                return;
                            }
                        }
                        // Re-read state if anything was skipped (gap), otherwise keep following.
                        if commits.last().map_or(0, seq) >= next {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
