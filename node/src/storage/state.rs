//! The state machine on sled: applies committed entries through the ledger, and builds and
//! installs snapshots.
//!
//! * The registry's state lives in one sled tree (the *current* tree, named in the `root` tree).
//!   Each entry's ledger writes, the last applied log id, the membership and the last leader
//!   timestamp go into that tree in ONE `sled::Batch`, so a crash never leaves half an entry.
//! * A snapshot streams the current tree to a file ([`super::snapshot`]). Installing one loads it
//!   into a fresh tree and then switches the `root` pointer: the switch is the atomic step.
//! * Applying, building and installing are serialised by one lock, so a snapshot is a consistent
//!   view of one applied log id.
//! * Every newly committed transaction is broadcast for `Watch` streams.

// openraft's storage traits return its own (large) `StorageError`; helpers return it too.
#![allow(clippy::result_large_err)]

use super::snapshot;
use crate::ledger::{self, Ctx, StateView, ViewFault};
use crate::raft::{
    decode, encode, Applied, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use carbon_proto::v1::{CommittedTx, Genesis, Outcome, SignedTx};
use carbon_proto::VerifiedTx;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftLogId, StorageIOError};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

/// Keys of the state machine's own records inside the state tree (0xFF never starts a ledger key).
const APPLIED: &[u8] = b"\xffapplied";
const MEMBERSHIP: &[u8] = b"\xffmembership";
const LAST_TIMESTAMP: &[u8] = b"\xfflast_timestamp";
const ROOT_CURRENT: &[u8] = b"current";
const ROOT_SNAPSHOT: &[u8] = b"snapshot";
/// How many committed transactions a slow Watch subscriber may fall behind before it re-reads.
const WATCH_BUFFER: usize = 4096;
const INSTALL_BATCH: usize = 10_000;

fn sm_write(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

fn sm_read(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_state_machine(&e).into()
}

fn snap_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

/// Read access to one sled tree, for the ledger.
#[derive(Clone)]
pub struct SledView {
    tree: sled::Tree,
}

impl StateView for SledView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| ViewFault(e.to_string()))
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<ledger::store::Rows, ViewFault> {
        self.tree
            .scan_prefix(prefix)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| ViewFault(e.to_string()))
            })
            .collect()
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<ledger::store::Rows, ViewFault> {
        let start = start.max(prefix);
        self.tree
            .range(start..)
            .take_while(|r| r.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
            .take(limit)
            .map(|r| {
                r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| ViewFault(e.to_string()))
            })
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    file: String,
}

/// Newly committed transactions of one entry, in chain order.
pub type Commits = Arc<Vec<CommittedTx>>;

struct Inner {
    db: sled::Db,
    root: sled::Tree,
    current: RwLock<sled::Tree>,
    /// Serialises apply, snapshot build and snapshot install.
    lock: Mutex<()>,
    snapshot_dir: PathBuf,
    incoming: Mutex<Option<PathBuf>>,
    counter: AtomicU64,
    commits: broadcast::Sender<Commits>,
}

/// The state machine store; cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    inner: Arc<Inner>,
}

/// Errors opening the state machine.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error(
        "this data directory holds chain {found:?} from another genesis; refusing to start with {expected:?}"
    )]
    OtherGenesis { expected: String, found: String },
}

impl StateStore {
    /// Opens the state database, writing the genesis on first start and refusing a data directory
    /// that was started from another genesis.
    pub fn open(db: sled::Db, snapshot_dir: PathBuf, genesis: &Genesis) -> Result<Self, OpenError> {
        std::fs::create_dir_all(&snapshot_dir)?;
        let root = db.open_tree("root")?;
        let name = match root.get(ROOT_CURRENT)? {
            Some(n) => String::from_utf8_lossy(&n).into_owned(),
            None => {
                root.insert(ROOT_CURRENT, b"kv-0".as_slice())?;
                "kv-0".to_string()
            }
        };
        // Trees left behind by an install that crashed before its switch.
        for t in db.tree_names() {
            let t = String::from_utf8_lossy(&t).into_owned();
            if t.starts_with("kv-") && t != name {
                db.drop_tree(t.as_bytes())?;
            }
        }
        let current = db.open_tree(name.as_bytes())?;
        let view = SledView {
            tree: current.clone(),
        };
        match ledger::queries::genesis(&view).map_err(|e| OpenError::Genesis(e.0))? {
            None => {
                let writes = ledger::genesis_writes(genesis)
                    .map_err(|e| OpenError::Genesis(e.to_string()))?;
                current.apply_batch(to_batch(writes))?;
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
        for f in std::fs::read_dir(&snapshot_dir)? {
            let f = f?;
            if f.file_name().to_string_lossy().starts_with("incoming-") {
                let _ = std::fs::remove_file(f.path());
            }
        }
        let (commits, _) = broadcast::channel(WATCH_BUFFER);
        Ok(StateStore {
            inner: Arc::new(Inner {
                db,
                root,
                current: RwLock::new(current),
                lock: Mutex::new(()),
                snapshot_dir,
                incoming: Mutex::new(None),
                counter: AtomicU64::new(0),
                commits,
            }),
        })
    }

    /// A read view of the current state (consistent per key; applied entries appear whole).
    pub fn view(&self) -> SledView {
        let tree = match self.inner.current.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        };
        SledView { tree }
    }

    /// Flushes the state database (on shutdown).
    pub fn flush(&self) -> Result<(), sled::Error> {
        self.inner.db.flush().map(|_| ())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Commits> {
        self.inner.commits.subscribe()
    }

    fn read_meta<T: for<'de> Deserialize<'de>>(
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match tree.get(key).map_err(sm_read)? {
            None => Ok(None),
            Some(v) => Ok(Some(decode(&v).map_err(sm_read)?)),
        }
    }

    fn next_name(&self, what: &str) -> String {
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        format!("{what}-{}-{n}", std::process::id())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.inner.lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Applies one entry atomically; returns the response for the proposer.
    fn apply_one(&self, entry: crate::raft::Entry) -> Result<Applied, StorageError> {
        let _guard = self.lock();
        let view = self.view();
        let tree = &view.tree;
        let log_id = *entry.get_log_id();
        let mut batch = sled::Batch::default();
        let mut response = Applied::default();
        let mut commits = Vec::new();
        match entry.payload {
            EntryPayload::Blank => {}
            EntryPayload::Membership(m) => {
                let stored = StoredMembership::new(Some(log_id), m);
                batch.insert(MEMBERSHIP, encode(&stored).map_err(sm_write)?);
            }
            EntryPayload::Normal(b) => {
                let last: u64 = Self::read_meta(tree, LAST_TIMESTAMP)?.unwrap_or(0);
                let ctx = Ctx {
                    log_index: log_id.index,
                    timestamp_ms: b.timestamp_ms.max(last),
                };
                let mut txs = Vec::with_capacity(b.txs.len());
                for bytes in &b.txs {
                    let signed = SignedTx::decode(bytes.as_slice()).map_err(sm_read)?;
                    txs.push(VerifiedTx::from_verified_log(signed).map_err(sm_read)?);
                }
                let before = ledger::queries::chain(&view)
                    .map_err(sm_read)?
                    .map_or(0, |c| c.sequence);
                let applied = ledger::apply_entry(&view, ctx, &txs).map_err(sm_read)?;
                for w in applied.writes {
                    match w {
                        ledger::Write::Put(k, v) => batch.insert(k, v),
                        ledger::Write::Delete(k) => batch.remove(k),
                    }
                }
                batch.insert(LAST_TIMESTAMP, encode(&ctx.timestamp_ms).map_err(sm_write)?);
                for (tx, o) in txs.into_iter().zip(&applied.outcomes) {
                    if o.sequence > before {
                        commits.push(CommittedTx {
                            tx: Some(tx.signed),
                            outcome: Some(o.clone()),
                        });
                    }
                }
                response.outcomes = applied
                    .outcomes
                    .iter()
                    .map(Outcome::encode_to_vec)
                    .collect();
            }
        }
        batch.insert(APPLIED, encode(&Some(log_id)).map_err(sm_write)?);
        tree.apply_batch(batch).map_err(sm_write)?;
        if !commits.is_empty() {
            // No subscriber is fine: Watch re-reads from state.
            let _ = self.inner.commits.send(Arc::new(commits));
        }
        Ok(response)
    }

    fn build(&self) -> Result<(SnapshotMeta, PathBuf), StorageError> {
        let guard = self.lock();
        let view = self.view();
        self.inner.db.flush().map_err(snap_err)?;
        let applied: Option<LogId> = Self::read_meta(&view.tree, APPLIED)?.flatten();
        let membership: StoredMembership =
            Self::read_meta(&view.tree, MEMBERSHIP)?.unwrap_or_default();
        let id = match applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, self.next_name("s")),
            None => self.next_name("s"),
        };
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id: id.clone(),
        };
        let path = self.inner.snapshot_dir.join(format!("{id}.snap"));
        let records = view.tree.iter().map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(std::io::Error::other)
        });
        snapshot::write(&path, &meta, records).map_err(snap_err)?;
        drop(guard);
        self.set_current_snapshot(&meta, &path)?;
        Ok((meta, path))
    }

    fn set_current_snapshot(
        &self,
        meta: &SnapshotMeta,
        path: &std::path::Path,
    ) -> Result<(), StorageError> {
        let old: Option<SnapshotRecord> =
            match self.inner.root.get(ROOT_SNAPSHOT).map_err(snap_err)? {
                Some(v) => decode(&v).ok(),
                None => None,
            };
        let record = SnapshotRecord {
            meta: meta.clone(),
            file: path.to_string_lossy().into_owned(),
        };
        self.inner
            .root
            .insert(ROOT_SNAPSHOT, encode(&record).map_err(snap_err)?)
            .map_err(snap_err)?;
        self.inner.db.flush().map_err(snap_err)?;
        if let Some(old) = old {
            if old.file != record.file {
                let _ = std::fs::remove_file(old.file);
            }
        }
        Ok(())
    }

    fn install(&self, meta: &SnapshotMeta, path: PathBuf) -> Result<(), StorageError> {
        let (file_meta, records) = snapshot::open(&path).map_err(snap_err)?;
        if file_meta.snapshot_id != meta.snapshot_id || file_meta.last_log_id != meta.last_log_id {
            return Err(snap_err(std::io::Error::other(
                "snapshot file does not match its announced meta",
            )));
        }
        let name = self.next_name("kv");
        let tree = self.inner.db.open_tree(name.as_bytes()).map_err(snap_err)?;
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for r in records {
            let (k, v) = r.map_err(snap_err)?;
            batch.insert(k, v);
            n += 1;
            if n % INSTALL_BATCH == 0 {
                tree.apply_batch(std::mem::take(&mut batch))
                    .map_err(snap_err)?;
            }
        }
        tree.apply_batch(batch).map_err(snap_err)?;
        // The snapshot's own record of applied id and membership is what it says in its meta.
        let mut fix = sled::Batch::default();
        fix.insert(APPLIED, encode(&meta.last_log_id).map_err(snap_err)?);
        fix.insert(MEMBERSHIP, encode(&meta.last_membership).map_err(snap_err)?);
        tree.apply_batch(fix).map_err(snap_err)?;
        self.inner.db.flush().map_err(snap_err)?;
        let old = {
            let _guard = self.lock();
            self.inner
                .root
                .insert(ROOT_CURRENT, name.as_bytes())
                .map_err(snap_err)?;
            self.inner.db.flush().map_err(snap_err)?;
            let mut cur = match self.inner.current.write() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            std::mem::replace(&mut *cur, tree)
        };
        let old_name = old.name();
        drop(old);
        self.inner.db.drop_tree(old_name).map_err(snap_err)?;
        let final_path = self
            .inner
            .snapshot_dir
            .join(format!("{}.snap", meta.snapshot_id));
        std::fs::rename(&path, &final_path).map_err(snap_err)?;
        tracing::info!(snapshot = %meta.snapshot_id, records = n, "installed snapshot");
        self.set_current_snapshot(meta, &final_path)
    }
}

fn to_batch(writes: Vec<ledger::Write>) -> sled::Batch {
    let mut b = sled::Batch::default();
    for w in writes {
        match w {
            ledger::Write::Put(k, v) => b.insert(k, v),
            ledger::Write::Delete(k) => b.remove(k),
        }
    }
    b
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(sm_write)?
}

impl RaftSnapshotBuilder<TypeConfig> for StateStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let me = self.clone();
        let (meta, path) = blocking(move || me.build()).await?;
        let file = tokio::fs::File::open(&path).await.map_err(snap_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateStore {
    type SnapshotBuilder = StateStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let view = self.view();
        let applied: Option<LogId> = Self::read_meta(&view.tree, APPLIED)?.flatten();
        let membership: StoredMembership =
            Self::read_meta(&view.tree, MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = crate::raft::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let me = self.clone();
        blocking(move || entries.into_iter().map(|e| me.apply_one(e)).collect()).await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self
            .inner
            .snapshot_dir
            .join(format!("{}.snap", self.next_name("incoming")));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(snap_err)?;
        match self.inner.incoming.lock() {
            Ok(mut g) => *g = Some(path),
            Err(p) => *p.into_inner() = Some(path),
        }
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        snapshot.sync_all().await.map_err(snap_err)?;
        drop(snapshot);
        let path = match self.inner.incoming.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        }
        .ok_or_else(|| snap_err(std::io::Error::other("no snapshot is being received")))?;
        let me = self.clone();
        let meta = meta.clone();
        blocking(move || me.install(&meta, path)).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(v) = self.inner.root.get(ROOT_SNAPSHOT).map_err(snap_err)? else {
            return Ok(None);
        };
        let record: SnapshotRecord = decode(&v).map_err(snap_err)?;
        let file = match tokio::fs::File::open(&record.file).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(snap_err(e)),
        };
        Ok(Some(Snapshot {
            meta: record.meta,
            snapshot: Box::new(file),
        }))
    }
}
