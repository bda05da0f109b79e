//! How the state machine and the reads see one state tree, and how applied entries reach it.
//!
//! * **Hot records** (`ledger::keys::is_hot`: accounts, holdings, counters, contracts — all but
//!   the records kept forever) are held in memory, whole, and read from there: no tree walk,
//!   whatever the number of accounts.
//! * **Write-back.** An applied entry's changes go to memory first (hot records, and a buffer of
//!   the cold ones); every [`WRITE_BACK_ENTRIES_MAX`] entries, or when the buffer holds
//!   [`WRITE_BACK_BYTES_MAX`] bytes, they reach sled in ONE atomic batch, with the applied log
//!   id of the last entry: a record rewritten by many entries in between (an account's
//!   holdings, its open history page, a chain bucket) is written once. sled pays more per key
//!   written than for anything else on the apply path.
//! * **In the background.** The batch is built under the memory lock (a copy of the changed
//!   records) and applied to sled by a `state-write-back` thread while entries go on being
//!   applied: the cold changes it carries stay readable in memory (`writing`) until sled has
//!   them. One write-back is in flight at most; the next waits for it ([`SledView::wait_written`]),
//!   and so do a snapshot's cut and shutdown. A batch of tens of thousands of records (the
//!   write-back after a bulk load) took seconds, and every transaction waited for it.
//! * **Deleted hot records leave memory at once** (sled's copy is removed at the next
//!   write-back): a key rewritten under a new name by every transaction (the receiving block of
//!   a holding, whose key is its last serial) would otherwise leave thousands of tombstones for
//!   every scan of that holding to step over.
//!
//! What this keeps true: sled always holds a prefix of whole entries (its applied id says
//! which); the state database is a cache of "snapshot + log" (docs/ARCHITECTURE.md,
//! Durability), so a crash loses at most the entries since the last write-back, which openraft
//! applies again from the log (they are never purged before a snapshot, and a snapshot is built
//! from written-back state). Reads always see every applied entry: memory first, then sled.

use super::state_db::DbError;
use crate::ledger::{self, StateView, ViewFault};
use crate::raft::{decode, LogId, StoredMembership};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use super::state_db::{APPLIED, LAST_TIMESTAMP, MEMBERSHIP};

pub use crate::limits::{WRITE_BACK_BYTES_MAX, WRITE_BACK_ENTRIES_MAX};

/// One change to the state tree (a ledger write or a state-machine record).
pub type Change = (Vec<u8>, Option<Vec<u8>>);

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A hot record in memory: its value and whether it changed since the last write-back.
struct HotRecord {
    value: Vec<u8>,
    dirty: bool,
}

/// What memory holds of one state tree.
#[derive(Default)]
struct Memory {
    /// Every hot record.
    hot: BTreeMap<Vec<u8>, HotRecord>,
    /// Keys of the hot records changed or deleted since the last write-back (a key absent from
    /// `hot` is a deletion); holdings are noted by their pack instead ([`pack_of`]).
    dirty: Vec<Vec<u8>>,
    /// Packs whose holdings changed since the last write-back.
    dirty_packs: std::collections::BTreeSet<Vec<u8>>,
    /// Cold changes since the last write-back.
    cold: ColdChanges,
    cold_bytes: usize,
    entries: usize,
    /// The cold changes of the write-back being applied to sled (empty when none is): read
    /// after `cold`, before sled.
    writing: Arc<ColdChanges>,
}

type ColdChanges = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The write-back in flight: its thread's answer.
type Writer = std::thread::JoinHandle<Result<(), sled::Error>>;

impl Memory {
    /// One hot record changed (`None`: deleted, and gone from memory at once).
    fn put_hot(&mut self, k: Vec<u8>, v: Option<Vec<u8>>) {
        if let Some(pack) = pack_of(&k) {
            if !self.dirty_packs.contains(pack) {
                self.dirty_packs.insert(pack.to_vec());
            }
            match v {
                Some(value) => self.hot.insert(
                    k,
                    HotRecord {
                        value,
                        dirty: false,
                    },
                ),
                None => self.hot.remove(&k),
            };
            return;
        }
        let Some(value) = v else {
            // Noted dirty once, so that the write-back removes sled's copy.
            if self.hot.remove(&k).is_none_or(|r| !r.dirty) {
                self.dirty.push(k);
            }
            return;
        };
        match self.hot.get_mut(&k) {
            Some(r) => {
                r.value = value;
                if !r.dirty {
                    r.dirty = true;
                    self.dirty.push(k);
                }
            }
            None => {
                // New, or deleted earlier since the last write-back (then `dirty` may hold the
                // key already; written twice, the same value).
                self.hot.insert(k.clone(), HotRecord { value, dirty: true });
                self.dirty.push(k);
            }
        }
    }
}

/// Read access to one state tree, for the ledger and the reads; cheap to clone (clones share
/// the memory of the tree).
#[derive(Clone)]
pub struct SledView {
    tree: sled::Tree,
    memory: Arc<RwLock<Memory>>,
    writer: Arc<Mutex<Option<Writer>>>,
}

fn fault(e: sled::Error) -> ViewFault {
    ViewFault(e.to_string())
}

fn hot_prefix(prefix: &[u8]) -> bool {
    !prefix.is_empty() && ledger::keys::is_hot(prefix)
}

/// The pack a holding's record is kept in, in sled: every serial block of one account is ONE
/// sled record, keyed by the account's holdings prefix (`ledger::keys::holdings_owner`), which
/// no block's own key equals. A transfer rewrites two or three blocks (split, new, merged) and
/// sled pays per key written, so a write-back writes one key per account touched instead of
/// one per block changed. Memory still holds each block as its own hot record; only sled's
/// copy is packed. `None`: not a holding (or a pack's own key).
fn pack_of(key: &[u8]) -> Option<&[u8]> {
    ledger::keys::holdings_owner(key)
}

/// Whether a sled key is a pack's ([`pack_of`]).
fn is_pack(key: &[u8]) -> bool {
    ledger::keys::is_holdings_of(key)
}

/// A pack's value: each record as its key after the pack's prefix and its value, each a
/// 4-byte little-endian length and its bytes, in key order.
fn encode_pack<'a>(records: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (suffix, value) in records {
        for part in [suffix, value] {
            let n = u32::try_from(part.len()).expect("a hot record is far below 4 GiB");
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// The records of a pack, keys whole; `Err` names what is wrong with a damaged one.
fn decode_pack(pack: &[u8], mut bytes: &[u8]) -> Result<ledger::store::Rows, DbError> {
    let corrupt = |reason: &str| DbError::Corrupt {
        key: String::from_utf8_lossy(pack).into_owned(),
        reason: format!("holdings pack: {reason}"),
    };
    let part = |bytes: &mut &[u8]| -> Result<Vec<u8>, DbError> {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("cut length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        let (part, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| corrupt("cut record"))?;
        *bytes = rest;
        Ok(part.to_vec())
    };
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let mut key = pack.to_vec();
        key.extend_from_slice(&part(&mut bytes)?);
        let value = part(&mut bytes)?;
        records.push((key, value));
    }
    Ok(records)
}

/// Adds the dirty packs to `batch` (each rewritten whole from memory, or removed when its
/// account holds nothing), and marks them clean.
fn write_packs(memory: &mut Memory, batch: &mut sled::Batch) {
    for pack in std::mem::take(&mut memory.dirty_packs) {
        let records = memory
            .hot
            .range::<[u8], _>((Bound::Included(pack.as_slice()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&pack))
            .map(|(k, r)| (&k[pack.len()..], r.value.as_slice()));
        let value = encode_pack(records);
        if value.is_empty() {
            batch.remove(pack);
        } else {
            batch.insert(pack, value);
        }
    }
}

impl SledView {
    /// A view of `tree` with its hot records read into memory (at open, and for a tree that
    /// becomes current).
    ///
    /// Holdings stored one record per block (a loaded snapshot's records, or a data directory
    /// of layout 3) are packed here, in one atomic batch, before the view is used.
    pub fn load(tree: sled::Tree) -> Result<Self, DbError> {
        let mut memory = Memory::default();
        let mut unpacked = Vec::new();
        for r in tree.iter() {
            let (k, v) = r?;
            if !ledger::keys::is_hot(&k) {
                continue;
            }
            let hot = |value: Vec<u8>| HotRecord {
                value,
                dirty: false,
            };
            if is_pack(&k) {
                for (key, value) in decode_pack(&k, &v)? {
                    memory.hot.insert(key, hot(value));
                }
                continue;
            }
            if let Some(pack) = pack_of(&k) {
                memory.dirty_packs.insert(pack.to_vec());
                unpacked.push(k.to_vec());
            }
            memory.hot.insert(k.to_vec(), hot(v.to_vec()));
        }
        if !unpacked.is_empty() {
            let mut batch = sled::Batch::default();
            for k in unpacked {
                batch.remove(k);
            }
            write_packs(&mut memory, &mut batch);
            tree.apply_batch(batch)?;
            tree.flush()?;
        }
        Ok(SledView {
            tree,
            memory: Arc::new(RwLock::new(memory)),
            writer: Arc::default(),
        })
    }

    /// A view of a tree being filled (a snapshot being loaded): written with [`Self::write_unloaded`]
    /// and read into memory when it becomes current.
    pub fn unloaded(tree: sled::Tree) -> Self {
        SledView {
            tree,
            memory: Arc::default(),
            writer: Arc::default(),
        }
    }

    pub fn into_tree(self) -> sled::Tree {
        self.tree
    }

    fn memory(&self) -> RwLockReadGuard<'_, Memory> {
        self.memory.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Rows of the tree and of the memory's cold changes under `prefix` from `start`, merged.
    fn cold_range(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<ledger::store::Rows, ViewFault> {
        let start = start.max(prefix);
        let memory = self.memory();
        let from = (Bound::Included(start), Bound::Unbounded);
        // The newer change of a key wins: `cold` over `writing`.
        let mut changed: BTreeMap<&Vec<u8>, &Option<Vec<u8>>> = BTreeMap::new();
        for layer in [&*memory.writing, &memory.cold] {
            let rows = layer
                .range::<[u8], _>(from)
                .take_while(|(k, _)| k.starts_with(prefix));
            changed.extend(rows);
        }
        let read = limit.saturating_add(changed.len());
        let mut rows: Map = self
            .tree
            .range(start..)
            .take_while(|r| r.as_ref().map_or(true, |(k, _)| k.starts_with(prefix)))
            .take(read)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(fault))
            .collect::<Result<_, _>>()?;
        let last = rows.keys().next_back().cloned();
        for (k, v) in changed {
            // Beyond the last row read, a change could be followed by rows not read: leave it.
            let complete = rows.len() < read;
            if !complete && last.as_ref().is_some_and(|l| k > l) {
                break;
            }
            match v {
                Some(v) => rows.insert(k.clone(), v.clone()),
                None => rows.remove(k),
            };
        }
        Ok(rows.into_iter().take(limit).collect())
    }
}

/// A snapshot's cut of the state: its hot records copied at one applied entry, and the chain
/// sequence then; its cold records are read from sled afterwards, through
/// `ledger::index::cold_as_of`, while applies go on (cold records are only ever added, each
/// carrying the sequence that wrote it). Made under the state machine's lock after a
/// write-back, so sled holds every cold record up to the cut.
pub struct Cut {
    tree: sled::Tree,
    hot: Vec<(Vec<u8>, Vec<u8>)>,
    sequence: u64,
}

impl SledView {
    /// Writes back and waits for sled to hold it, then copies what the cut needs (see [`Cut`]).
    pub fn cut(&self) -> Result<Cut, DbError> {
        self.write_back()?;
        self.wait_written()?;
        let sequence = ledger::queries::chain(self)
            .map_err(|e| DbError::Corrupt {
                key: "chain".into(),
                reason: e.0,
            })?
            .map_or(0, |c| c.sequence);
        let hot = self
            .memory()
            .hot
            .iter()
            .map(|(k, r)| (k.clone(), r.value.clone()))
            .collect();
        Ok(Cut {
            tree: self.tree.clone(),
            hot,
            sequence,
        })
    }
}

impl Cut {
    /// Every record of the cut, in key order.
    pub fn records(&self) -> impl Iterator<Item = std::io::Result<(Vec<u8>, Vec<u8>)>> + '_ {
        let cold = self.tree.iter().filter_map(move |r| {
            let (k, v) = match r {
                Ok(kv) => kv,
                Err(e) => return Some(Err(std::io::Error::other(e))),
            };
            if ledger::keys::is_hot(&k) {
                return None;
            }
            match ledger::index::cold_as_of(&k, &v, self.sequence) {
                Ok(Some(v)) => Some(Ok((k.to_vec(), v))),
                Ok(None) => None,
                Err(e) => Some(Err(std::io::Error::other(e))),
            }
        });
        Merged {
            hot: self.hot.iter().peekable(),
            cold: cold.peekable(),
        }
    }
}

/// Two key-ordered streams of records, merged in key order (their keys never coincide).
struct Merged<'a, C: Iterator<Item = std::io::Result<(Vec<u8>, Vec<u8>)>>> {
    hot: std::iter::Peekable<std::slice::Iter<'a, (Vec<u8>, Vec<u8>)>>,
    cold: std::iter::Peekable<C>,
}

impl<C: Iterator<Item = std::io::Result<(Vec<u8>, Vec<u8>)>>> Iterator for Merged<'_, C> {
    type Item = std::io::Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let hot_first = match (self.hot.peek(), self.cold.peek()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) | (_, Some(Err(_))) => false,
            (Some((h, _)), Some(Ok((c, _)))) => h < c,
        };
        if hot_first {
            self.hot.next().map(|(k, v)| Ok((k.clone(), v.clone())))
        } else {
            self.cold.next()
        }
    }
}

impl StateView for SledView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        {
            let memory = self.memory();
            if ledger::keys::is_hot(key) {
                return Ok(memory.hot.get(key).map(|r| r.value.clone()));
            }
            if let Some(v) = memory.cold.get(key).or_else(|| memory.writing.get(key)) {
                return Ok(v.clone());
            }
        }
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(fault)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<ledger::store::Rows, ViewFault> {
        self.scan_from(prefix, prefix, usize::MAX)
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<ledger::store::Rows, ViewFault> {
        if hot_prefix(prefix) {
            return Ok(self
                .memory()
                .hot
                .range::<[u8], _>((Bound::Included(start.max(prefix)), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, r)| (k.clone(), r.value.clone()))
                .take(limit)
                .collect());
        }
        self.cold_range(prefix, start, limit)
    }
}

impl SledView {
    /// A record the state machine keeps for itself (applied id, membership, last timestamp).
    pub fn meta<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> Result<Option<T>, DbError> {
        let corrupt = |reason: String| DbError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        match self.get(key).map_err(|e| corrupt(e.0))? {
            None => Ok(None),
            Some(v) => decode(&v).map(Some).map_err(|e| corrupt(e.to_string())),
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

    /// Takes one applied entry's changes (module docs: into memory, written back to sled every
    /// so many entries). Hot path: once per applied entry; may block (sled), so never called on
    /// a tokio worker.
    pub fn commit(&self, changes: Vec<Change>) -> Result<(), DbError> {
        let full = {
            let mut m = self.memory.write().unwrap_or_else(|p| p.into_inner());
            for (k, v) in changes {
                if ledger::keys::is_hot(&k) {
                    m.put_hot(k, v);
                } else {
                    let n = k.len().saturating_add(v.as_ref().map_or(0, Vec::len));
                    m.cold_bytes = m.cold_bytes.saturating_add(n);
                    m.cold.insert(k, v);
                }
            }
            m.entries = m.entries.saturating_add(1);
            m.entries >= WRITE_BACK_ENTRIES_MAX || m.cold_bytes >= WRITE_BACK_BYTES_MAX
        };
        if full {
            self.write_back()?;
        }
        Ok(())
    }

    /// Writes what memory holds back to sled in one atomic batch, on the write-back thread
    /// (module docs); first waits for the write-back before it. Returns once the batch is
    /// handed over: [`Self::wait_written`] waits for sled to hold it. May block (sled).
    pub fn write_back(&self) -> Result<(), DbError> {
        self.wait_written()?;
        let Some(batch) = self.take_batch() else {
            return Ok(());
        };
        let tree = self.tree.clone();
        let memory = Arc::clone(&self.memory);
        let writer = std::thread::Builder::new()
            .name("state-write-back".into())
            .spawn(move || {
                crate::crash_point!("write-back-before-batch");
                tree.apply_batch(batch)?;
                let mut m = memory.write().unwrap_or_else(|p| p.into_inner());
                m.writing = Arc::default();
                Ok(())
            })
            .map_err(|_| DbError::WriteBack("could not be started"))?;
        *self.writer_slot() = Some(writer);
        Ok(())
    }

    /// Waits for the write-back in flight, if any, and returns what sled answered it. A failed
    /// write-back keeps its changes readable in memory; the error stops the state machine.
    pub fn wait_written(&self) -> Result<(), DbError> {
        let Some(writer) = self.writer_slot().take() else {
            return Ok(());
        };
        match writer.join() {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(DbError::WriteBack("panicked")),
        }
    }

    fn writer_slot(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Under the memory lock: the batch of everything changed since the last write-back, its
    /// cold changes moved to `writing`, the hot records marked clean. `None`: nothing changed.
    fn take_batch(&self) -> Option<sled::Batch> {
        let mut m = self.memory.write().unwrap_or_else(|p| p.into_inner());
        if m.entries == 0 && m.dirty.is_empty() && m.dirty_packs.is_empty() && m.cold.is_empty() {
            return None;
        }
        debug_assert!(m.writing.is_empty(), "one write-back in flight at most");
        let mut batch = sled::Batch::default();
        for (k, v) in &m.cold {
            match v {
                Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                None => batch.remove(k.as_slice()),
            }
        }
        let memory = &mut *m;
        for k in std::mem::take(&mut memory.dirty) {
            match memory.hot.get_mut(&k) {
                Some(r) => {
                    batch.insert(k.as_slice(), r.value.as_slice());
                    r.dirty = false;
                }
                None => batch.remove(k),
            }
        }
        write_packs(memory, &mut batch);
        memory.writing = Arc::new(std::mem::take(&mut memory.cold));
        memory.cold_bytes = 0;
        memory.entries = 0;
        Some(batch)
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
        let memory = self.memory();
        self.tree.is_empty() && memory.hot.is_empty() && memory.writing.is_empty()
    }

    /// Hot records held in memory.
    pub fn hot_records(&self) -> usize {
        self.memory().hot.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("opens");
        db.open_tree("t").expect("tree")
    }

    // `H…` keys are hot (holdings), `T…` keys cold (ledger::keys::is_hot).
    fn change(k: &str, v: Option<&str>) -> Change {
        (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))
    }

    fn rows(view: &SledView, prefix: &str) -> Vec<(String, String)> {
        let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
        view.scan_prefix(prefix.as_bytes())
            .expect("scans")
            .into_iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_deleted_hot_record_leaves_memory_and_sled() {
        let view = SledView::load(tree()).expect("loads");
        view.commit(vec![change("Ha1", Some("x")), change("Ha2", Some("y"))])
            .expect("commits");
        view.write_back().expect("writes back");
        view.wait_written().expect("written");
        view.commit(vec![change("Ha1", None), change("Ha3", Some("z"))])
            .expect("commits");
        view.commit(vec![change("Ha3", None), change("Ha3", Some("w"))])
            .expect("commits");
        assert_eq!(view.memory().hot.len(), 2, "no tombstones in memory");
        assert_eq!(rows(&view, "Ha"), pairs(&[("Ha2", "y"), ("Ha3", "w")]));
        view.write_back().expect("writes back");
        view.wait_written().expect("written");
        let again = SledView::load(view.clone().into_tree()).expect("loads");
        assert_eq!(rows(&again, "Ha"), pairs(&[("Ha2", "y"), ("Ha3", "w")]));
    }

    #[test]
    fn changes_being_written_back_stay_readable_and_reach_sled() {
        let view = SledView::load(tree()).expect("loads");
        view.commit(vec![change("Tb1", Some("1")), change("Tb2", Some("2"))])
            .expect("commits");
        view.write_back().expect("writes back");
        // Newer changes over the batch in flight: the newer wins, before and after sled has it.
        view.commit(vec![change("Tb2", None), change("Tb3", Some("3"))])
            .expect("commits");
        let want = pairs(&[("Tb1", "1"), ("Tb3", "3")]);
        assert_eq!(rows(&view, "Tb"), want);
        assert_eq!(view.get(b"Tb2").expect("reads"), None);
        view.write_back().expect("writes back");
        view.wait_written().expect("written");
        assert!(view.memory().writing.is_empty(), "nothing left in flight");
        assert_eq!(rows(&view, "Tb"), want);
        let again = SledView::load(view.clone().into_tree()).expect("loads");
        assert_eq!(rows(&again, "Tb"), want);
    }

    fn holding(account: &str, last: u64) -> Vec<u8> {
        let class = carbon_proto::v1::UnitClass {
            kind: 1,
            vintage: 2025,
            project_id: String::new(),
        };
        ledger::keys::holding(account, &class, last)
    }

    fn sled_keys(view: &SledView) -> Vec<Vec<u8>> {
        view.tree
            .iter()
            .keys()
            .map(|k| k.expect("reads").to_vec())
            .collect()
    }

    #[test]
    fn holdings_are_one_sled_record_per_account_and_read_back_whole() {
        let view = SledView::load(tree()).expect("loads");
        let put = |k: Vec<u8>, v: &str| (k, Some(v.as_bytes().to_vec()));
        view.commit(vec![
            put(holding("a", 1), "a1"),
            put(holding("a", 2), "a2"),
            put(holding("b", 1), "b1"),
        ])
        .expect("commits");
        view.commit(vec![(holding("a", 1), None), put(holding("a", 3), "a3")])
            .expect("commits");
        view.write_back().expect("writes back");
        view.wait_written().expect("written");
        assert_eq!(sled_keys(&view), vec![b"Ha\0".to_vec(), b"Hb\0".to_vec()]);
        let again = SledView::load(view.clone().into_tree()).expect("loads");
        let want = vec![
            (holding("a", 2), b"a2".to_vec()),
            (holding("a", 3), b"a3".to_vec()),
        ];
        assert_eq!(again.scan_prefix(b"Ha\0").expect("scans"), want);
        // An account left with nothing has no pack.
        again
            .commit(vec![(holding("b", 1), None)])
            .expect("commits");
        again.write_back().expect("writes back");
        again.wait_written().expect("written");
        assert_eq!(sled_keys(&again), vec![b"Ha\0".to_vec()]);
    }

    #[test]
    fn holdings_stored_one_record_per_block_are_packed_at_load() {
        // What a loaded snapshot, or a data directory of layout 3, holds.
        let t = tree();
        t.insert(holding("a", 1), b"a1".as_slice())
            .expect("inserts");
        t.insert(holding("a", 2), b"a2".as_slice())
            .expect("inserts");
        t.insert(b"Tx".as_slice(), b"cold".as_slice())
            .expect("inserts");
        let view = SledView::load(t).expect("loads");
        assert_eq!(sled_keys(&view), vec![b"Ha\0".to_vec(), b"Tx".to_vec()]);
        let again = SledView::load(view.into_tree()).expect("loads");
        let want = vec![
            (holding("a", 1), b"a1".to_vec()),
            (holding("a", 2), b"a2".to_vec()),
        ];
        assert_eq!(again.scan_prefix(b"Ha\0").expect("scans"), want);
    }

    #[test]
    fn a_damaged_pack_is_refused_at_load() {
        let t = tree();
        t.insert(b"Ha\0".as_slice(), [9u8, 0, 0, 0, 1].as_slice())
            .expect("inserts");
        assert!(matches!(SledView::load(t), Err(DbError::Corrupt { .. })));
    }
}
