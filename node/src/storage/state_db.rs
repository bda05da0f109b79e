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

pub use super::view::{Change, SledView};
use crate::raft::encode;
use serde::Serialize;
use std::sync::RwLock;

/// Keys of the state machine's own records inside the state tree (0xFF never starts a ledger key).
pub const APPLIED: &[u8] = b"\xffapplied";
pub const MEMBERSHIP: &[u8] = b"\xffmembership";
pub const LAST_TIMESTAMP: &[u8] = b"\xfflast_timestamp";

const ROOT_CURRENT: &[u8] = b"current";
const ROOT_GENERATION: &[u8] = b"generation";
const TREE_PREFIX: &str = "kv-";

pub use crate::limits::STATE_CACHE_BYTES_MAX;

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("record {key:?} does not decode: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("new state tree {0} is not empty: the generation counter went backwards")]
    TreeNotFresh(String),
    #[error("the state write-back thread {0}")]
    WriteBack(&'static str),
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
        Ok(StateDb {
            db,
            root,
            current: RwLock::new(SledView::load(tree)?),
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

    /// Writes what the current view holds back into sled, then makes every write so far
    /// durable (sled's flush; see docs/ARCHITECTURE.md, Durability).
    pub fn flush(&self) -> Result<(), DbError> {
        let view = self.view();
        view.write_back()?;
        view.wait_written()?;
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
        Ok(SledView::unloaded(tree))
    }

    /// Makes `tree` the current state: flushes it and switches the root pointer durably. A crash
    /// before the switch leaves the old state current (the new tree is dropped at the next
    /// open); after it, the new one. The replaced tree is kept until the next switch (reads that
    /// started on it finish on it) and dropped then or at the next open.
    pub fn switch_to(&self, tree: SledView) -> Result<(), DbError> {
        // Nothing writes to the replaced tree once it is replaced.
        self.view().wait_written()?;
        let tree = SledView::load(tree.into_tree())?;
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
