//! Watch: a stream of committed transactions and outcomes in chain order, from any sequence.
//! It first reads the backlog from state, then follows new commits; a subscriber that falls
//! behind the broadcast buffer re-reads from state, so nothing is skipped or repeated.
//!
//! Each item is shown as the watcher may see it (`reads::as_seen_by`): the public stream
//! redacts private transactions, the regulator's shows everything, an account's shows whole
//! what concerns it. The credential is checked once, when the stream opens.

use super::auth::{authorise, Reader};
use super::errors::ApiError;
use super::limits::{exhausted, WATCH_PUBLIC_STREAMS_MAX, WATCH_STREAMS_MAX};
use super::reads::{as_seen_by, MAX_PAGE};
use crate::ledger::queries;
use crate::node::Node;
use carbon_proto::v1::{CommittedTx, TxRecord, WatchRequest};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Semaphore, SemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

pub type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<CommittedTx, Status>> + Send>>;

const STREAM_BUFFER: usize = 256;

fn seq(t: &TxRecord) -> u64 {
    t.outcome.as_ref().map_or(0, |o| o.sequence)
}

/// Open public Watch streams of this process (`limits::WATCH_PUBLIC_STREAMS_MAX`).
static PUBLIC_STREAMS: Semaphore = Semaphore::const_new(WATCH_PUBLIC_STREAMS_MAX);
/// Open Watch streams with a read credential: the rest of `limits::WATCH_STREAMS_MAX`.
static AUTHENTICATED_STREAMS: Semaphore =
    Semaphore::const_new(WATCH_STREAMS_MAX - WATCH_PUBLIC_STREAMS_MAX);

/// Opens a stream for `req` (its credential decides what the watcher sees); refuses with
/// RESOURCE_EXHAUSTED while its pool (public, or with a credential) is full.
pub fn open(node: Arc<Node>, req: WatchRequest) -> Result<WatchStream, ApiError> {
    let who = authorise(&node.state.view(), &node.genesis.chain_id, &req)?;
    let (pool, limit, name) = match who.account() {
        None => (
            &PUBLIC_STREAMS,
            WATCH_PUBLIC_STREAMS_MAX,
            "public Watch streams (WATCH_PUBLIC_STREAMS_MAX)",
        ),
        Some(_) => (
            &AUTHENTICATED_STREAMS,
            WATCH_STREAMS_MAX - WATCH_PUBLIC_STREAMS_MAX,
            "Watch streams with a read credential (WATCH_STREAMS_MAX - WATCH_PUBLIC_STREAMS_MAX)",
        ),
    };
    let slot = pool.try_acquire().map_err(|_| {
        exhausted(format!(
            "{limit} {name} are open on this node; retry later or another node"
        ))
    })?;
    Ok(start(node, req.from_sequence, who, slot))
}

/// One item as `who` sees it.
fn shown(who: &Reader, t: TxRecord) -> Result<CommittedTx, Status> {
    Ok(as_seen_by(who, t))
}

fn start(
    node: Arc<Node>,
    from_sequence: u64,
    who: Reader,
    slot: SemaphorePermit<'static>,
) -> WatchStream {
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let _slot = slot; // held while the stream lives
        let mut next = from_sequence.max(1);
        let mut sub = node.state.subscribe();
        loop {
            // Backlog from state.
            loop {
                let page = match queries::records_since(&node.state.view(), next, MAX_PAGE) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Status::unavailable(e.0))).await;
                        return;
                    }
                };
                if page.is_empty() {
                    break;
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
