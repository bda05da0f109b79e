//! The Raft log and vote in a write-ahead log of their own: the `raft-log` crate (by openraft's
//! author, used by databend's meta service). It keeps the log in append-only, checksummed chunk
//! files, repairs a torn tail when it opens, and syncs with `fdatasync` in a flush worker thread
//! that covers every write waiting with one sync (group commit). Chunk files are created and
//! removed with a sync of the directory. Why this crate and not sled or our own WAL:
//! docs/DECISIONS.md, "The Raft log".
//!
//! Durability contract (openraft storage-v2), kept here:
//! * `append` makes the entries readable at once; openraft's `LogFlushed` callback fires only
//!   after the flush worker synced every byte of them.
//! * `save_vote`, `truncate` and `purge` return only after their record is synced.
//! * `save_committed` is not synced on its own: the next sync (any append or vote) covers it,
//!   and a restart that lost it re-applies from the state machine's applied id.
//!
//! Blocking: `append` encodes and queues (it blocks only when `WAL_QUEUE_BYTES_MAX` bytes wait
//! for the flush worker); reads served from the payload cache do not touch the disk, reads of
//! older entries do (replication of a lagging follower).

// openraft's storage traits return its own (large) `StorageError`; helpers return it too.
#![allow(clippy::result_large_err)]

use crate::crash_point;
use crate::raft::{decode, encode, Entry, LogId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{CommittedLeaderId, LeaderId, OptionalSend, RaftLogId, StorageIOError};
use raft_log::api::raft_log_writer::RaftLogWriter;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, RwLock};

pub use crate::limits::{WAL_CACHE_BYTES_MAX, WAL_CHUNK_BYTES_MAX, WAL_QUEUE_BYTES_MAX};
/// How long the flush worker waits for more writes before it syncs what it has. raft-log's
/// default (1 ms) added a millisecond to every append on the leader and again on each follower;
/// openraft 0.9 waits for each append's flush, so writes that queue while a sync runs are what
/// group commit covers, and a short wait only picks up writes already queued.
pub const WAL_GROUP_WAIT: std::time::Duration = std::time::Duration::from_micros(50);

/// The WAL's view of our types: log ids are `((term, leader node), index)`, votes
/// `((term, node), committed)`, ordered exactly as openraft orders them (its leader ids are totally
/// ordered by term, then node), so that raft-log's own check refuses a vote that goes backwards.
/// A payload is one postcard-encoded openraft `Entry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalTypes;

type WalLogId = ((u64, u64), u64);
type WalVote = ((u64, u64), bool);

impl raft_log::Types for WalTypes {
    type LogId = WalLogId;
    type LogPayload = Vec<u8>;
    type Vote = WalVote;
    type Callback = Flushed;
    type UserData = ();

    fn log_index(log_id: &WalLogId) -> u64 {
        log_id.1
    }

    fn payload_size(payload: &Vec<u8>) -> u64 {
        payload.len() as u64
    }
}

/// Who waits for a sync: openraft (an append) or one of our own calls (vote, truncate, purge).
pub enum Flushed {
    /// With the time of the append (the append-to-sync latency is a metric).
    Raft(LogFlushed<TypeConfig>, std::time::Instant),
    Wait(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for Flushed {
    fn send(self, res: io::Result<()>) {
        match self {
            Flushed::Raft(cb, appended) => {
                crate::metrics::get()
                    .wal_sync_seconds
                    .observe_duration(appended.elapsed());
                cb.log_io_completed(res)
            }
            Flushed::Wait(tx) => {
                let _ = tx.send(res);
            }
        }
    }
}

fn wal_log_id(l: &LogId) -> WalLogId {
    ((l.leader_id.term, l.leader_id.node_id), l.index)
}

fn raft_log_id(l: &WalLogId) -> LogId {
    let ((term, node_id), index) = *l;
    LogId::new(CommittedLeaderId::new(term, node_id), index)
}

fn wal_vote(v: &Vote) -> WalVote {
    ((v.leader_id.term, v.leader_id.node_id), v.committed)
}

fn raft_vote(v: &WalVote) -> Vote {
    let ((term, node_id), committed) = *v;
    Vote {
        leader_id: LeaderId { term, node_id },
        committed,
    }
}

fn err_write(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

fn err_read(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn err_vote(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_vote(&e).into()
}

type Wal = raft_log::RaftLog<WalTypes>;

fn flush_worker_stopped() -> io::Error {
    io::Error::other("the WAL flush worker stopped")
}

/// The log store; cheap to clone (the WAL is shared).
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<RwLock<Wal>>,
}

impl LogStore {
    /// Opens (or creates) the WAL in `dir`, repairing a torn last record.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = raft_log::Config::new(dir.to_string_lossy());
        config.log_cache_capacity = Some(WAL_CACHE_BYTES_MAX);
        config.wal.chunk_max_size = Some(WAL_CHUNK_BYTES_MAX);
        config.wal.flush_queue_max_bytes = Some(WAL_QUEUE_BYTES_MAX);
        config.wal.truncate_incomplete_record = Some(true);
        config.wal.flush_batch_wait = Some(WAL_GROUP_WAIT);
        let wal = Wal::open(Arc::new(config))?;
        Ok(LogStore {
            wal: Arc::new(RwLock::new(wal)),
        })
    }

    fn read_wal(&self) -> std::sync::RwLockReadGuard<'_, Wal> {
        self.wal.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_wal(&self) -> std::sync::RwLockWriteGuard<'_, Wal> {
        self.wal.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The flush worker's counters since the WAL opened (syncs, their time, bytes written).
    pub fn flush_metrics(&self) -> raft_log::FlushMetrics {
        self.read_wal().stat().flush_metrics
    }

    /// Queues a sync of everything written so far; the receiver hears when it is on stable
    /// storage.
    fn queue_sync(&self) -> io::Result<tokio::sync::oneshot::Receiver<io::Result<()>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.write_wal().flush(true, Some(Flushed::Wait(tx)))?;
        Ok(rx)
    }

    /// Queues a sync of everything written so far and waits until it is on stable storage.
    async fn sync(&self) -> io::Result<()> {
        self.queue_sync()?
            .await
            .map_err(|_| flush_worker_stopped())?
    }

    /// Saves a vote and waits until it is on stable storage, outside any async runtime (making
    /// a data directory from a backup).
    pub fn save_vote_blocking(&self, vote: &Vote) -> io::Result<()> {
        self.write_wal().save_vote(wal_vote(vote))?;
        self.queue_sync()?
            .blocking_recv()
            .map_err(|_| flush_worker_stopped())?
    }

    /// Appends entries and queues their sync; `done` hears when every byte is on stable storage.
    /// Hot path: every proposal on the leader and every replicated batch on a follower.
    fn append_entries(
        &self,
        entries: impl IntoIterator<Item = Entry>,
        done: Flushed,
    ) -> Result<(), StorageError> {
        let mut records = Vec::new();
        for e in entries {
            records.push((wal_log_id(e.get_log_id()), encode(&e).map_err(err_write)?));
        }
        let mut wal = self.write_wal();
        if let (Some(first), Some(last)) = (records.first(), wal.log_state().last()) {
            // Contiguity on the way in: openraft truncates before it overwrites.
            assert_eq!(
                first.0 .1,
                last.1 + 1,
                "append at index {} after last log index {}",
                first.0 .1,
                last.1
            );
        }
        wal.append(records).map_err(err_write)?;
        crash_point!("wal-append-before-sync");
        wal.flush(true, Some(done)).map_err(err_write)?;
        Ok(())
    }

    /// The entries in `[from, to)`, decoded and checked against the ids the WAL filed them under.
    fn read_range(&self, from: u64, to: u64) -> Result<Vec<Entry>, StorageError> {
        let wal = self.read_wal();
        let mut out = Vec::new();
        for r in wal.read(from, to) {
            let (id, bytes) = r.map_err(err_read)?;
            let entry: Entry = decode(&bytes).map_err(err_read)?;
            if wal_log_id(entry.get_log_id()) != id {
                return Err(err_read(io::Error::other(format!(
                    "WAL record filed as {id:?} holds entry {}",
                    entry.get_log_id()
                ))));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

fn index_range(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (from, to) = index_range(&range);
        self.read_range(from, to)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let wal = self.read_wal();
        let st = wal.log_state();
        let last_purged_log_id = st.purged().map(raft_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id: st.last().map(raft_log_id).or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_wal()
            .save_vote(wal_vote(vote))
            .map_err(err_vote)?;
        crash_point!("wal-vote-before-sync");
        self.sync().await.map_err(err_vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.read_wal().log_state().vote().map(raft_vote))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(c) = committed {
            self.write_wal().commit(wal_log_id(&c)).map_err(err_write)?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_wal().log_state().committed().map(raft_log_id))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_entries(entries, Flushed::Raft(callback, std::time::Instant::now()))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_wal().truncate(log_id.index).map_err(err_write)?;
        crash_point!("wal-truncate-before-sync");
        self.sync().await.map_err(err_write)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_wal()
            .purge(wal_log_id(&log_id))
            .map_err(err_write)?;
        crash_point!("wal-purge-before-sync");
        self.sync().await.map_err(err_write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::Batch;
    use openraft::EntryPayload;

    fn entry(term: u64, index: u64, n: usize) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 0), index),
            payload: EntryPayload::Normal(Batch {
                timestamp_ms: index,
                ledger_version: 1,
                txs: vec![vec![index as u8; n].into()],
            }),
        }
    }

    async fn append(store: &mut LogStore, entries: Vec<Entry>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        store
            .append_entries(entries, Flushed::Wait(tx))
            .expect("appends");
        rx.await.expect("callback").expect("synced");
    }

    #[tokio::test]
    async fn entries_vote_and_purge_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = LogStore::open(dir.path()).expect("opens");
            append(&mut s, (1..=5).map(|i| entry(1, i, 300_000)).collect()).await;
            s.save_vote(&Vote::new_committed(1, 2)).await.expect("vote");
            s.save_committed(Some(*entry(1, 4, 0).get_log_id()))
                .await
                .expect("commit");
            s.purge(*entry(1, 2, 0).get_log_id()).await.expect("purge");
            s.truncate(*entry(1, 5, 0).get_log_id())
                .await
                .expect("truncate");
            append(&mut s, vec![entry(2, 5, 10)]).await;
        }
        let mut s = LogStore::open(dir.path()).expect("reopens");
        let st = s.get_log_state().await.expect("state");
        assert_eq!(st.last_purged_log_id.map(|l| l.index), Some(2));
        assert_eq!(st.last_log_id, Some(*entry(2, 5, 0).get_log_id()));
        assert_eq!(
            s.read_vote().await.expect("vote"),
            Some(Vote::new_committed(1, 2))
        );
        assert_eq!(
            s.read_committed()
                .await
                .expect("committed")
                .map(|l| l.index),
            Some(4)
        );
        let got = s.try_get_log_entries(3..=5).await.expect("reads");
        assert_eq!(
            got,
            vec![entry(1, 3, 300_000), entry(1, 4, 300_000), entry(2, 5, 10)]
        );
    }

    #[tokio::test]
    async fn a_torn_last_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = LogStore::open(dir.path()).expect("opens");
            append(&mut s, (1..=3).map(|i| entry(1, i, 1000)).collect()).await;
        }
        // Cut the last chunk file in the middle of its last record, as a power loss can.
        let chunk = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|f| f.ok())
            .map(|f| f.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .max()
            .expect("a chunk file");
        let len = std::fs::metadata(&chunk).expect("meta").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&chunk)
            .expect("open");
        f.set_len(len - 500).expect("cut");
        drop(f);
        let mut s = LogStore::open(dir.path()).expect("reopens after repair");
        let st = s.get_log_state().await.expect("state");
        assert_eq!(st.last_log_id.map(|l| l.index), Some(2));
        append(&mut s, vec![entry(1, 3, 7)]).await;
        let got = s.try_get_log_entries(1..4).await.expect("reads");
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], entry(1, 3, 7));
    }

    #[test]
    fn votes_keep_openraft_order_in_the_wal() {
        let votes = [
            Vote::default(),
            Vote::new(1, 3),
            Vote::new_committed(1, 3),
            Vote::new(2, 1),
            Vote::new_committed(2, 1),
            Vote::new(3, 2),
        ];
        for w in votes.windows(2) {
            assert!(w[0] < w[1]);
            assert!(wal_vote(&w[0]) < wal_vote(&w[1]));
            assert_eq!(raft_vote(&wal_vote(&w[1])), w[1]);
        }
    }
}
