//! The state database: one sled `Db` whose registry state lives in one *current* tree among
//! numbered generations.
//!
//! ```text
//! root tree:  "current"    -> name of the current state tree ("kv-<generation>")
//!             "generation" -> the last generation number handed out (u64, big-endian)
//!             "snapshot"   -> the current snapshot record (see super::snapshots)
//! kv-<n>:     the registry's state: ledger records plus the state machine's own records
//!             (applied log id, membership, last leader timestamp) under 0xFF-prefixed keys
//! ```
//!
//! A new tree (for a snapshot install) always takes a generation number that was never used
//! before, persisted before the tree is created: names never repeat across restarts, so an
//! install can never open, fill or drop the live tree. Trees other than the current one are
//! leftovers of an install that crashed before its switch and are dropped when the database
//! opens. Switching generations is one durable write of the root pointer.

use crate::ledger::{self, StateView, ViewFault};
use crate::raft::{decode, encode, LogId, StoredMembership};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

/// Keys of the state machine's own records inside the state tree (0xFF never starts a ledger key).
pub const APPLIED: &[u8] = b"\xffapplied";
pub const MEMBERSHIP: &[u8] = b"\xffmembership";
pub const LAST_TIMESTAMP: &[u8] = b"\xfflast_timestamp";

const ROOT_CURRENT: &[u8] = b"current";
const ROOT_GENERATION: &[u8] = b"generation";
const TREE_PREFIX: &str = "kv-";

/// Bytes of page cache the state database may use (sled's README warns it can use too much).
pub const STATE_CACHE_BYTES_MAX: u64 = 128 << 20;

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("record {key:?} does not decode: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("new state tree {0} is not empty: the generation counter went backwards")]
    TreeNotFresh(String),
}

/// The hot records of one state tree, in memory (`ledger::keys::is_hot`: accounts, holdings,
/// counters, contracts — everything but the records kept forever). Every transaction reads them;
/// here it reads them without a tree walk, whatever the number of accounts. Written through: a
/// commit goes to sled first, then here, under the write lock.
#[derive(Default)]
pub struct Hot {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Hot {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the hot records of `tree` (at open, and for a tree that becomes current).
    fn load(tree: &sled::Tree) -> Result<Self, DbError> {
        let mut map = BTreeMap::new();
        for r in tree.iter() {
            let (k, v) = r?;
            if ledger::keys::is_hot(&k) {
                map.insert(k.to_vec(), v.to_vec());
            }
        }
        Ok(Hot {
            map: RwLock::new(map),
        })
    }

    fn range(&self, prefix: &[u8], start: &[u8], limit: usize) -> ledger::store::Rows {
        self.read()
            .range::<[u8], _>((Bound::Included(start.max(prefix)), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Records in memory (a metric).
    pub fn records(&self) -> usize {
        self.read().len()
    }
}

/// Read access to one state tree, for the ledger and the reads: hot records from memory, the
/// rest from sled.
#[derive(Clone)]
pub struct SledView {
    pub(super) tree: sled::Tree,
    hot: Arc<Hot>,
}

/// One change to the state tree (a ledger write or a state-machine record).
pub type Change = (Vec<u8>, Option<Vec<u8>>);

fn fault(e: sled::Error) -> ViewFault {
    ViewFault(e.to_string())
}

fn hot_prefix(prefix: &[u8]) -> bool {
    !prefix.is_empty() && ledger::keys::is_hot(prefix)
}

impl StateView for SledView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        if ledger::keys::is_hot(key) {
            return Ok(self.hot.read().get(key).cloned());
        }
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(fault)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<ledger::store::Rows, ViewFault> {
        if hot_prefix(prefix) {
            return Ok(self.hot.range(prefix, prefix, usize::MAX));
        }
        self.tree
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(fault))
            .collect()
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<ledger::store::Rows, ViewFault> {
        if hot_prefix(prefix) {
            return Ok(self.hot.range(prefix, start, limit));
        }
        let start = start.max(prefix);
        self.tree
            .range(start..)
            .take_while(|r| r.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(fault))
            .collect()
    }
}

impl SledView {
    /// A record the state machine keeps for itself (applied id, membership, last timestamp).
    pub fn meta<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> Result<Option<T>, DbError> {
        let value = match self.get(key) {
            Ok(v) => v,
            Err(e) => {
                return Err(DbError::Corrupt {
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason: e.0,
                })
            }
        };
        match value {
            None => Ok(None),
            Some(v) => decode(&v).map(Some).map_err(|e| DbError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// The last applied log id.
    pub fn applied(&self) -> Result<Option<LogId>, DbError> {
        Ok(self.meta::<Option<LogId>>(APPLIED)?.flatten())
    }

    pub fn membership(&self) -> Result<StoredMembership, DbError> {
        Ok(self.meta(MEMBERSHIP)?.unwrap_or_default())
    }

    /// The ledger's time: the largest leader timestamp applied so far (0 before any entry).
    pub fn ledger_time_ms(&self) -> Result<u64, DbError> {
        Ok(self.meta(LAST_TIMESTAMP)?.unwrap_or(0))
    }

    /// Every record, in key order (for snapshots).
    pub fn records(&self) -> impl Iterator<Item = std::io::Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.tree.iter().map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(std::io::Error::other)
        })
    }

    /// Applies changes atomically: one sled batch (a crash leaves all of it or none), then the
    /// hot records in memory, under their write lock (a reader sees all of an entry's hot
    /// changes or none). Hot path: once per applied entry; blocks (sled), so never called on a
    /// tokio worker.
    pub fn commit(&self, changes: Vec<Change>) -> Result<(), DbError> {
        let mut batch = sled::Batch::default();
        let mut hot = Vec::new();
        for (k, v) in changes {
            let is_hot = ledger::keys::is_hot(&k);
            match &v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
            if is_hot {
                hot.push((k, v));
            }
        }
        self.tree.apply_batch(batch)?;
        let mut map = self.hot.map.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in hot {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    /// Applies a sled batch to a tree that is not current yet (a snapshot being loaded): its
    /// hot records are read into memory when it becomes current (`StateDb::switch_to`).
    pub fn write_unloaded(&self, batch: sled::Batch) -> Result<(), DbError> {
        Ok(self.tree.apply_batch(batch)?)
    }

    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.tree.name()).into_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Hot records held in memory.
    pub fn hot_records(&self) -> usize {
        self.hot.records()
    }
}

/// Encodes a state-machine record for a batch.
pub fn meta_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    // postcard cannot fail on these plain types (no maps with non-string keys, no io).
    encode(v).unwrap_or_default()
}

pub struct StateDb {
    db: sled::Db,
    root: sled::Tree,
    current: RwLock<SledView>,
}

impl StateDb {
    /// Opens the database and drops the trees an interrupted install left behind.
    pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(STATE_CACHE_BYTES_MAX)
            .flush_every_ms(Some(500))
            .open()?;
        let root = db.open_tree("root")?;
        let name = match root.get(ROOT_CURRENT)? {
            Some(n) => String::from_utf8_lossy(&n).into_owned(),
            None => {
                let first = format!("{TREE_PREFIX}0");
                root.insert(ROOT_GENERATION, &0u64.to_be_bytes())?;
                root.insert(ROOT_CURRENT, first.as_bytes())?;
                db.flush()?;
                first
            }
        };
        for t in db.tree_names() {
            let t = String::from_utf8_lossy(&t).into_owned();
            if t.starts_with(TREE_PREFIX) && t != name {
                tracing::info!(tree = %t, "dropping a state tree left by an interrupted install");
                db.drop_tree(t.as_bytes())?;
            }
        }
        let tree = db.open_tree(name.as_bytes())?;
        let hot = Arc::new(Hot::load(&tree)?);
        Ok(StateDb {
            db,
            root,
            current: RwLock::new(SledView { tree, hot }),
        })
    }

    /// The current state (consistent per key; applied entries appear whole).
    pub fn view(&self) -> SledView {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn root(&self) -> &sled::Tree {
        &self.root
    }

    /// Makes every write so far durable (sled's flush; see docs/ARCHITECTURE.md, Durability).
    pub fn flush(&self) -> Result<(), DbError> {
        self.db.flush()?;
        Ok(())
    }

    /// A generation number never handed out before (persisted before it is used).
    pub fn next_generation(&self) -> Result<u64, DbError> {
        let last = match self.root.get(ROOT_GENERATION)? {
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| DbError::Corrupt {
                    key: "generation".into(),
                    reason: "not 8 bytes".into(),
                })?,
            None => 0,
        };
        let next = last.checked_add(1).ok_or_else(|| DbError::Corrupt {
            key: "generation".into(),
            reason: "exhausted".into(),
        })?;
        self.root.insert(ROOT_GENERATION, &next.to_be_bytes())?;
        self.db.flush()?;
        Ok(next)
    }

    /// A new, empty state tree of a fresh generation (for a snapshot install).
    pub fn fresh_tree(&self) -> Result<SledView, DbError> {
        let name = format!("{TREE_PREFIX}{}", self.next_generation()?);
        let tree = self.db.open_tree(name.as_bytes())?;
        if !tree.is_empty() {
            return Err(DbError::TreeNotFresh(name));
        }
        Ok(SledView {
            tree,
            hot: Arc::default(),
        })
    }

    /// Makes `tree` the current state: flushes it and switches the root pointer durably. A crash
    /// before the switch leaves the old state current (the new tree is dropped at the next
    /// open); after it, the new one. The replaced tree is kept until the next switch (reads that
    /// started on it finish on it) and dropped then or at the next open.
    pub fn switch_to(&self, tree: SledView) -> Result<(), DbError> {
        let tree = SledView {
            hot: Arc::new(Hot::load(&tree.tree)?),
            tree: tree.tree,
        };
        let new_name = tree.name();
        assert_ne!(new_name, self.view().name(), "switch to the live tree");
        self.db.flush()?;
        self.root.insert(ROOT_CURRENT, new_name.as_bytes())?;
        self.db.flush()?;
        crate::crash_point!("install-after-switch");
        let replaced = {
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *cur, tree)
        };
        let keep = [new_name, replaced.name()];
        for t in self.db.tree_names() {
            let t = String::from_utf8_lossy(&t).into_owned();
            if t.starts_with(TREE_PREFIX) && !keep.contains(&t) {
                self.db.drop_tree(t.as_bytes())?;
            }
        }
        Ok(())
    }
}
