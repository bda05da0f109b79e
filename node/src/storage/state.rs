//! openraft's state machine: applies committed entries ([`super::apply`]) to the state database
//! ([`super::state_db`]), builds and installs snapshots ([`super::snapshots`]), and broadcasts
//! newly committed transactions for `Watch`.
//!
//! One lock serialises apply, the cut of a snapshot and snapshot install, and holds the last
//! applied log id: a snapshot is a consistent view of one applied id, an install never
//! interleaves with an apply, and applied indexes are checked to be contiguous. Building a
//! snapshot pauses applies only while it writes back and copies the hot records
//! (`view::Cut`); the file is written while applies go on.
//!
//! Every method that touches sled or files runs on a blocking thread (`spawn_blocking`), never on
//! a tokio worker.

// openraft's storage traits return its own (large) `StorageError`; helpers return it too.
#![allow(clippy::result_large_err)]

use super::apply::{self, ApplyError};
use super::snapshots::{Current, Snapshots};
use super::state_db::{meta_bytes, DbError, SledView, StateDb, APPLIED, MEMBERSHIP};
use super::{snapshot_file, OpenError};
use crate::ledger;
use crate::raft::{Applied, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use carbon_proto::v1::{Genesis, TxRecord};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, StorageIOError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

use crate::limits::INSTALL_BATCH_RECORDS_MAX;
pub use crate::limits::WATCH_BUFFER_ENTRIES_MAX;

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::new(&e),
    )
    .into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

impl From<ApplyError> for StorageError {
    fn from(e: ApplyError) -> Self {
        tracing::error!("cannot apply a committed entry: {e}");
        sm_err(ErrorVerb::Write, e)
    }
}

impl From<DbError> for StorageError {
    fn from(e: DbError) -> Self {
        sm_err(ErrorVerb::Write, e)
    }
}

/// Newly committed transactions of one entry, in chain order.
pub type Commits = Arc<Vec<TxRecord>>;

struct Inner {
    db: StateDb,
    snapshots: Snapshots,
    /// Serialises apply, the cut of a snapshot being built, and install; holds the last
    /// applied log id.
    applied: Mutex<Option<LogId>>,
    /// Serialises building and installing snapshots (a build reads the tree an install drops).
    snapshotting: Mutex<()>,
    /// The snapshot being received from the leader.
    incoming: Mutex<Option<PathBuf>>,
    commits: broadcast::Sender<Commits>,
}

/// The state machine; cheap to clone.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

impl StateMachine {
    /// Opens the state database and the snapshot directory. Writes the genesis on first start,
    /// refuses a data directory of another genesis, and restores the state from the current
    /// snapshot when the state database is behind it (an install cut short, or writes the
    /// state database lost).
    pub fn open(
        state_dir: &Path,
        snapshot_dir: PathBuf,
        genesis: &Genesis,
    ) -> Result<Self, OpenError> {
        let db = StateDb::open(state_dir)?;
        let snapshots = Snapshots::open(snapshot_dir)?;
        let mut view = db.view();
        if let Some((meta, path)) = snapshots.current()? {
            if meta.last_log_id > view.applied()? {
                tracing::warn!(
                    snapshot = %meta.snapshot_id,
                    applied = ?view.applied()?,
                    "the state is behind the current snapshot: restoring it from the snapshot"
                );
                restore(&db, &meta, &path)?;
                view = db.view();
            }
        }
        write_genesis_or_check(&db, &view, genesis)?;
        let (commits, _) = broadcast::channel(WATCH_BUFFER_ENTRIES_MAX);
        Ok(StateMachine {
            inner: Arc::new(Inner {
                applied: Mutex::new(view.applied()?),
                db,
                snapshots,
                snapshotting: Mutex::new(()),
                incoming: Mutex::new(None),
                commits,
            }),
        })
    }

    /// A read view of the current state (consistent per key; applied entries appear whole).
    pub fn view(&self) -> SledView {
        self.inner.db.view()
    }

    /// Flushes the state database (on shutdown).
    pub fn flush(&self) -> Result<(), DbError> {
        self.inner.db.flush()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Commits> {
        self.inner.commits.subscribe()
    }

    /// The current snapshot's meta and file, if any.
    pub fn current_snapshot(&self) -> std::io::Result<Option<Current>> {
        self.inner.snapshots.current()
    }

    fn lock(&self) -> MutexGuard<'_, Option<LogId>> {
        self.inner.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply_all(&self, entries: Vec<crate::raft::Entry>) -> Result<Vec<Applied>, StorageError> {
        let mut applied = self.lock();
        let view = self.view();
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let id = e.log_id;
            let started = std::time::Instant::now();
            let r = apply::apply(&view, *applied, e)?;
            crate::metrics::get()
                .apply_seconds
                .observe_duration(started.elapsed());
            *applied = Some(id);
            // No subscriber is fine: Watch re-reads from state.
            if !r.records.is_empty() && self.inner.commits.receiver_count() > 0 {
                let _ = self.inner.commits.send(Arc::new(r.records));
            }
            out.push(r.response);
        }
        Ok(out)
    }

    /// Builds a snapshot without holding off applies for longer than it takes to write back
    /// and copy the hot records: the cut is made under the lock, the file is written after.
    fn build(&self) -> Result<Current, StorageError> {
        let started = std::time::Instant::now();
        let _building = self
            .inner
            .snapshotting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (meta, cut, generation) = {
            let applied = self.lock();
            let view = self.view();
            let cut = view.cut()?;
            let generation = self.inner.db.next_generation()?;
            let snapshot_id = match *applied {
                Some(l) => format!("{}-{}-g{generation}", l.leader_id.term, l.index),
                None => format!("0-0-g{generation}"),
            };
            let meta = SnapshotMeta {
                last_log_id: view.applied()?,
                last_membership: view.membership()?,
                snapshot_id,
            };
            assert_eq!(meta.last_log_id, *applied, "state and applied id disagree");
            (meta, cut, generation)
        };
        let (path, records) = self
            .inner
            .snapshots
            .write(&meta, generation, cut.records())
            .map_err(snap_err)?;
        crate::crash_point!("snapshot-build-after-file");
        let current = self
            .inner
            .snapshots
            .advance(&meta, &path)
            .map_err(snap_err)?;
        let m = crate::metrics::get();
        m.snapshot_build_seconds.observe_duration(started.elapsed());
        m.snapshot_build_bytes.set(file_len(&current.1));
        tracing::info!(snapshot = %current.0.snapshot_id, records, "built snapshot");
        Ok(current)
    }

    fn install(&self, meta: &SnapshotMeta, received: PathBuf) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let _installing = self
            .inner
            .snapshotting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut applied = self.lock();
        let (file_meta, _) = snapshot_file::open(&received).map_err(snap_err)?;
        if file_meta.snapshot_id != meta.snapshot_id || file_meta.last_log_id != meta.last_log_id {
            return Err(snap_err(std::io::Error::other(
                "snapshot file does not match its announced meta",
            )));
        }
        assert!(
            meta.last_log_id > *applied,
            "installing snapshot {:?} over applied {:?}",
            meta.last_log_id,
            *applied
        );
        let path = self
            .inner
            .snapshots
            .adopt(&received, meta)
            .map_err(snap_err)?;
        // The file and the pointer first: from here a crash restores from them at the next open.
        self.inner
            .snapshots
            .advance(meta, &path)
            .map_err(snap_err)?;
        crate::crash_point!("install-after-pointer");
        restore(&self.inner.db, meta, &path)?;
        *applied = meta.last_log_id;
        let m = crate::metrics::get();
        m.snapshot_install_seconds
            .observe_duration(started.elapsed());
        m.snapshot_install_bytes.set(file_len(&path));
        tracing::info!(snapshot = %meta.snapshot_id, "installed snapshot");
        Ok(())
    }
}

/// A file's size for the metrics (0 when it cannot be read).
fn file_len(path: &Path) -> i64 {
    std::fs::metadata(path).map_or(0, |m| m.len() as i64)
}

/// Loads a snapshot file into a fresh tree and makes it the current state.
fn restore(db: &StateDb, meta: &SnapshotMeta, path: &Path) -> Result<(), StorageError> {
    let (file_meta, records) = snapshot_file::open(path).map_err(snap_err)?;
    if file_meta.last_log_id != meta.last_log_id {
        return Err(snap_err(std::io::Error::other(
            "snapshot file does not match its pointer",
        )));
    }
    let tree = db.fresh_tree()?;
    assert!(tree.is_empty(), "restore into a used tree");
    let mut batch = sled::Batch::default();
    let mut n = 0usize;
    for r in records {
        let (k, v) = r.map_err(snap_err)?;
        batch.insert(k, v);
        n += 1;
        if n.is_multiple_of(INSTALL_BATCH_RECORDS_MAX) {
            tree.write_unloaded(std::mem::take(&mut batch))?;
        }
    }
    // The snapshot's own record of applied id and membership is what its meta says.
    batch.insert(APPLIED, meta_bytes(&meta.last_log_id));
    batch.insert(MEMBERSHIP, meta_bytes(&meta.last_membership));
    tree.write_unloaded(batch)?;
    crate::crash_point!("install-after-load");
    db.switch_to(tree)?;
    assert_eq!(db.view().applied()?, meta.last_log_id, "restored state");
    Ok(())
}

fn write_genesis_or_check(
    db: &StateDb,
    view: &SledView,
    genesis: &Genesis,
) -> Result<(), OpenError> {
    match ledger::queries::genesis(view).map_err(|e| OpenError::Genesis(e.0))? {
        None => {
            let writes =
                ledger::genesis_writes(genesis).map_err(|e| OpenError::Genesis(e.to_string()))?;
            let changes = writes
                .into_iter()
                .map(|w| match w {
                    ledger::Write::Put(k, v) => (k, Some(v)),
                    ledger::Write::Delete(k) => (k, None),
                })
                .collect();
            view.commit(changes)?;
            db.flush()?;
        }
        Some(stored) => {
            if ledger::genesis_head(&stored) != ledger::genesis_head(genesis) {
                return Err(OpenError::OtherGenesis {
                    expected: genesis.chain_id.clone(),
                    found: stored.chain_id,
                });
            }
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))?
}

/// Whether an open file is the file at `path` (same device and inode).
async fn same_file(f: &tokio::fs::File, path: &Path) -> Result<bool, StorageError> {
    use std::os::unix::fs::MetadataExt;
    let a = f.metadata().await.map_err(snap_err)?;
    let b = tokio::fs::metadata(path).await.map_err(snap_err)?;
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

async fn open_snapshot(current: Current) -> Result<Snapshot<TypeConfig>, StorageError> {
    let (meta, path) = current;
    let file = tokio::fs::File::open(&path).await.map_err(snap_err)?;
    Ok(Snapshot {
        meta,
        snapshot: Box::new(file),
    })
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let me = self.clone();
        open_snapshot(blocking(move || me.build()).await?).await
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let view = self.view();
        Ok((view.applied()?, view.membership()?))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = crate::raft::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let me = self.clone();
        blocking(move || me.apply_all(entries)).await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let me = self.clone();
        let path = blocking(move || {
            let generation = me.inner.db.next_generation()?;
            Ok(me.inner.snapshots.temp_path("incoming", generation))
        })
        .await?;
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(snap_err)?;
        *self
            .inner
            .incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(path);
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let path = self
            .inner
            .incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| snap_err(std::io::Error::other("no snapshot is being received")))?;
        let mut snapshot = *snapshot;
        if !same_file(&snapshot, &path).await? {
            // Handed a file other than the one we gave out: take its bytes into ours.
            use tokio::io::AsyncSeekExt;
            snapshot
                .seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(snap_err)?;
            let mut ours = tokio::fs::File::create(&path).await.map_err(snap_err)?;
            tokio::io::copy(&mut snapshot, &mut ours)
                .await
                .map_err(snap_err)?;
            snapshot = ours;
        }
        snapshot.sync_all().await.map_err(snap_err)?;
        drop(snapshot);
        let me = self.clone();
        let meta = meta.clone();
        blocking(move || me.install(&meta, path)).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let me = self.clone();
        match blocking(move || me.inner.snapshots.current().map_err(snap_err)).await? {
            None => Ok(None),
            Some(c) => Ok(Some(open_snapshot(c).await?)),
        }
    }
}
