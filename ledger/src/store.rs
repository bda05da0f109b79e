//! How the ledger sees state: a read-only ordered key-value view, plus an overlay that stages the
//! writes of one log entry, with per-transaction rollback.
//!
//! The ledger never touches storage. The node implements [`StateView`] over sled; tests use
//! [`MemState`]. What the ledger returns is a list of [`Write`]s that the caller applies in one
//! atomic batch.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A storage read failed. Not a rejection of the transaction: the replica must stop applying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct ViewFault(pub String);

/// Key-value pairs in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Read access to committed state. Keys and values are opaque bytes; scans are in key order.
pub trait StateView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault>;
    /// Every entry whose key starts with `prefix`, in ascending key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Rows, ViewFault>;

    /// At most `limit` entries whose key starts with `prefix` and is at least `start`, in
    /// ascending key order: one page of a list read. (The default reads the whole prefix; the
    /// node's views read only the page.)
    fn scan_from(&self, prefix: &[u8], start: &[u8], limit: usize) -> Result<Rows, ViewFault> {
        Ok(self
            .scan_prefix(prefix)?
            .into_iter()
            .filter(|(k, _)| k.as_slice() >= start)
            .take(limit)
            .collect())
    }
}

/// One change to state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// State held in memory: used by tests and as the reference model of the sled view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemState {
    pub fn apply(&mut self, writes: impl IntoIterator<Item = Write>) {
        for w in writes {
            match w {
                Write::Put(k, v) => {
                    self.map.insert(k, v);
                }
                Write::Delete(k) => {
                    self.map.remove(&k);
                }
            }
        }
    }
}

impl StateView for MemState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        Ok(self.map.get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Rows, ViewFault> {
        Ok(self
            .map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_from(&self, prefix: &[u8], start: &[u8], limit: usize) -> Result<Rows, ViewFault> {
        Ok(self
            .map
            .range::<[u8], _>((Bound::Included(start.max(prefix)), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

type Staged = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes staged over a base view: `entry` holds what earlier transactions of the same log entry
/// wrote, `tx` what the current transaction has written so far. Reads see base, then entry, then
/// tx. [`Overlay::commit_tx`] keeps the transaction's writes, [`Overlay::abort_tx`] drops them.
pub struct Overlay<'v, V: StateView + ?Sized> {
    base: &'v V,
    entry: Staged,
    tx: Staged,
}

impl<'v, V: StateView + ?Sized> Overlay<'v, V> {
    pub fn new(base: &'v V) -> Self {
        Overlay {
            base,
            entry: BTreeMap::new(),
            tx: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        if let Some(v) = self.tx.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.entry.get(key) {
            return Ok(v.clone());
        }
        self.base.get(key)
    }

    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Rows, ViewFault> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix)?.into_iter().collect();
        for layer in [&self.entry, &self.tx] {
            for (k, v) in layer
                .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.tx.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.tx.insert(key, None);
    }

    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.entry.extend(tx);
    }

    pub fn abort_tx(&mut self) {
        self.tx.clear();
    }

    /// The writes of every committed transaction, in key order. Uncommitted writes are dropped.
    pub fn into_writes(self) -> Vec<Write> {
        self.entry
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => Write::Put(k, v),
                None => Write::Delete(k),
            })
            .collect()
    }
}

impl<V: StateView + ?Sized> StateView for Overlay<'_, V> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewFault> {
        Overlay::get(self, key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Rows, ViewFault> {
        Overlay::scan_prefix(self, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_layers_shadow_and_roll_back() {
        let mut base = MemState::default();
        base.apply([
            Write::Put(b"a1".to_vec(), b"x".to_vec()),
            Write::Put(b"a2".to_vec(), b"y".to_vec()),
            Write::Put(b"b1".to_vec(), b"z".to_vec()),
        ]);
        let mut o = Overlay::new(&base);
        o.delete(b"a1".to_vec());
        o.put(b"a3".to_vec(), b"w".to_vec());
        o.commit_tx();
        o.put(b"a4".to_vec(), b"v".to_vec());
        o.delete(b"a2".to_vec());
        let keys = |o: &Overlay<MemState>| -> Vec<Vec<u8>> {
            o.scan_prefix(b"a")
                .expect("scan")
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(&o), vec![b"a3".to_vec(), b"a4".to_vec()]);
        o.abort_tx();
        assert_eq!(keys(&o), vec![b"a2".to_vec(), b"a3".to_vec()]);
        assert_eq!(o.get(b"a1").expect("get"), None);
        let writes = o.into_writes();
        assert_eq!(
            writes,
            vec![
                Write::Delete(b"a1".to_vec()),
                Write::Put(b"a3".to_vec(), b"w".to_vec())
            ]
        );
    }
}
