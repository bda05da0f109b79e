//! The Raft log on sled: entries, vote, committed id and last purged id, in a sled `Db` of its
//! own (so that log flushes never wait for state-machine writes).
//!
//! Durability contract (openraft storage-v2): `append` makes entries readable at once and calls
//! the flushed callback only after `Db::flush` returned; `save_vote`, `truncate` and `purge` flush
//! before they return. sled 0.34 flushes with `sync_file_range` on Linux (see
//! docs/ARCHITECTURE.md, "Durability").

// openraft's storage traits return its own (large) `StorageError`; helpers return it too.
#![allow(clippy::result_large_err)]

use crate::raft::{decode, encode, Entry, LogId, StorageError, TypeConfig, Vote};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId, StorageIOError};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"last_purged";

fn err_write(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

fn err_read(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

/// The log store; cheap to clone (sled handles are shared).
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    entries: sled::Tree,
    meta: sled::Tree,
}

impl LogStore {
    pub fn open(db: sled::Db) -> Result<Self, sled::Error> {
        Ok(LogStore {
            entries: db.open_tree("entries")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// Flushes the whole log `Db` to disk on a blocking thread.
    async fn flush(&self) -> Result<(), StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(err_write)?
            .map_err(err_write)?;
        Ok(())
    }

    fn get_meta<T: for<'de> serde::Deserialize<'de>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.meta.get(key).map_err(err_read)? {
            None => Ok(None),
            Some(v) => Ok(Some(decode(&v).map_err(err_read)?)),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &[u8], v: &T) -> Result<(), StorageError> {
        let bytes = encode(v).map_err(err_write)?;
        self.meta.insert(key, bytes).map_err(err_write)?;
        Ok(())
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        match self.entries.last().map_err(err_read)? {
            None => Ok(None),
            Some((_, v)) => {
                let e: Entry = decode(&v).map_err(err_read)?;
                Ok(Some(*e.get_log_id()))
            }
        }
    }
}

fn index_key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => Bound::Included(index_key(i)),
            Bound::Excluded(&i) => Bound::Excluded(index_key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Bound::Included(index_key(i)),
            Bound::Excluded(&i) => Bound::Excluded(index_key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for kv in self.entries.range::<[u8; 8], _>((start, end)) {
            let (_, v) = kv.map_err(err_read)?;
            out.push(decode(&v).map_err(err_read)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(PURGED)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Made durable by the next flush (append, vote, sled's own 500 ms flusher); the state
        // machine's applied id is what restarts rely on.
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
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
        let mut batch = sled::Batch::default();
        for e in entries {
            let bytes = encode(&e).map_err(err_write)?;
            batch.insert(&index_key(e.get_log_id().index), bytes);
        }
        self.entries.apply_batch(batch).map_err(err_write)?;
        let result = self.flush().await;
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.entries.range(index_key(log_id.index)..) {
            let (k, _) = kv.map_err(err_read)?;
            batch.remove(k);
        }
        self.entries.apply_batch(batch).map_err(err_write)?;
        self.flush().await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first, so that a crash midway leaves no hole.
        self.put_meta(PURGED, &log_id)?;
        let mut batch = sled::Batch::default();
        for kv in self.entries.range(..=index_key(log_id.index)) {
            let (k, _) = kv.map_err(err_read)?;
            batch.remove(k);
        }
        self.entries.apply_batch(batch).map_err(err_write)?;
        self.flush().await
    }
}
