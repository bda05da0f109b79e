//! The indexes over committed transactions, written once per transaction by `apply_entry`:
//!
//! * the **chain**: the records of committed transactions by chain sequence, in buckets of
//!   [`keys::SEQUENCE_BUCKET_TXS`] consecutive sequences (Watch, exports and audits read the
//!   chain in order), and the sequence of each tx id;
//! * an account's **history**: the chain sequences of the transactions that concerned it, in
//!   pages of [`keys::HISTORY_PAGE_TXS`]; the newest page is open (rewritten in place under
//!   `keys::history_open`) and is sealed under `keys::history_page` when it is full.
//!
//! Both are laid out so that a transaction adds one new key (its tx id's) most of the time: the
//! state store pays much more for a new key than for rewriting a small value. A history page is
//! a list of varints: the first sequence, then the increase to each next one.

use super::keys;
use super::store::{Overlay, StateView, ViewFault};

type R<T> = Result<T, ViewFault>;

/// Indexes a committed transaction's chain sequence under its tx id.
pub fn put_tx_id(st: &mut Overlay<'_, dyn StateView + '_>, tx_id: &[u8; 32], seq: u64) {
    st.put(keys::tx(tx_id), seq.to_be_bytes().to_vec());
}

/// Records an entry's committed transactions (encoded `TxRecord`s) from chain position `first`
/// (the next after the chain's sequence before the entry) in the chain's buckets: each bucket
/// read and written once per entry.
pub fn put_records(
    st: &mut Overlay<'_, dyn StateView + '_>,
    first: u64,
    records: &[Vec<u8>],
) -> R<()> {
    let mut seq = first;
    let mut rest = records;
    while !rest.is_empty() {
        let key = keys::sequence_bucket(seq);
        let mut bucket = st.get(&key)?.unwrap_or_default();
        let held = slots(&bucket)?.len();
        // The chain grows one sequence at a time (sequence 0 is the genesis: never recorded).
        if held != slot(seq) {
            return Err(ViewFault(format!(
                "the chain bucket of sequence {seq} holds {held} records, {} expected",
                slot(seq)
            )));
        }
        let room = bucket_room(seq);
        let (now, later) = rest.split_at(room.min(rest.len()));
        for r in now {
            let len = u32::try_from(r.len())
                .map_err(|_| ViewFault(format!("the record of sequence {seq} is too large")))?;
            bucket.extend_from_slice(&len.to_le_bytes());
            bucket.extend_from_slice(r);
            seq = seq.saturating_add(1);
        }
        st.put(key, bucket);
        rest = later;
    }
    Ok(())
}

/// Records the bucket of `seq` still takes, `seq`'s included.
fn bucket_room(seq: u64) -> usize {
    let position = seq % keys::SEQUENCE_BUCKET_TXS;
    usize::try_from(keys::SEQUENCE_BUCKET_TXS.saturating_sub(position)).unwrap_or(1)
}

/// Where `seq` sits in its bucket (bucket 0 starts at sequence 1).
fn slot(seq: u64) -> usize {
    let position = seq % keys::SEQUENCE_BUCKET_TXS;
    let slot = if seq < keys::SEQUENCE_BUCKET_TXS {
        position.saturating_sub(1)
    } else {
        position
    };
    usize::try_from(slot).unwrap_or(usize::MAX)
}

/// The byte ranges of a bucket's records.
fn slots(bucket: &[u8]) -> R<Vec<std::ops::Range<usize>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bucket.len() {
        let len = bucket
            .get(at..at.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| ViewFault("a chain bucket is cut short".into()))?;
        let start = at.saturating_add(4);
        let end = start.saturating_add(len as usize);
        if end > bucket.len() {
            return Err(ViewFault("a chain bucket is cut short".into()));
        }
        out.push(start..end);
        at = end;
    }
    Ok(out)
}

/// The encoded record at chain position `seq`, if the chain reached it.
pub fn record_at(v: &(impl StateView + ?Sized), seq: u64) -> R<Option<Vec<u8>>> {
    if seq == 0 {
        return Ok(None);
    }
    let Some(bucket) = v.get(&keys::sequence_bucket(seq))? else {
        return Ok(None);
    };
    Ok(slots(&bucket)?
        .get(slot(seq))
        .map(|r| bucket[r.clone()].to_vec()))
}

/// The encoded records from chain position `from` (at least 1) to the end of its bucket.
pub fn records_in_bucket_from(v: &(impl StateView + ?Sized), from: u64) -> R<Vec<Vec<u8>>> {
    let Some(bucket) = v.get(&keys::sequence_bucket(from))? else {
        return Ok(Vec::new());
    };
    Ok(slots(&bucket)?
        .into_iter()
        .skip(slot(from))
        .map(|r| bucket[r].to_vec())
        .collect())
}

/// The chain sequence of a committed tx id.
pub fn sequence_of(v: &(impl StateView + ?Sized), tx_id: &[u8; 32]) -> R<Option<u64>> {
    match v.get(&keys::tx(tx_id))? {
        None => Ok(None),
        Some(b) => <[u8; 8]>::try_from(b.as_slice())
            .map(|b| Some(u64::from_be_bytes(b)))
            .map_err(|_| ViewFault("a tx id maps to no sequence".into())),
    }
}

/// Records in the chain buckets (for the audit).
pub fn records_in_chain(v: &(impl StateView + ?Sized)) -> R<u64> {
    let mut n = 0u64;
    for (_, bucket) in v.scan_prefix(keys::SEQUENCES)? {
        n = n.saturating_add(slots(&bucket)?.len() as u64);
    }
    Ok(n)
}

/// Adds chain sequence `seq` to the account's history (sequences only grow).
pub fn put_history(st: &mut Overlay<'_, dyn StateView + '_>, account: &str, seq: u64) -> R<()> {
    let open_key = keys::history_open(account);
    let mut seqs = match st.get(&open_key)? {
        Some(v) => decode_page(&v)?,
        None => Vec::new(),
    };
    if seqs.last().is_some_and(|&last| last >= seq) {
        return Err(ViewFault(format!(
            "history of {account:?} already reaches sequence {seq}"
        )));
    }
    seqs.push(seq);
    if seqs.len() >= keys::HISTORY_PAGE_TXS {
        st.put(keys::history_page(account, seq), encode_page(&seqs));
        st.delete(open_key);
    } else {
        st.put(open_key, encode_page(&seqs));
    }
    Ok(())
}

/// The chain sequences in the account's history from `from` on (inclusive), at most `limit`,
/// in order. Reads only the pages that hold them.
pub fn history(
    v: &(impl StateView + ?Sized),
    account: &str,
    from: u64,
    limit: usize,
) -> R<Vec<u64>> {
    let mut out = Vec::new();
    let prefix = keys::history_of(account);
    let mut start = keys::history_page(account, from);
    'pages: while out.len() < limit {
        let pages = v.scan_from(&prefix, &start, 8)?;
        let Some((last_key, _)) = pages.last() else {
            break;
        };
        start = next_key(last_key);
        for (k, page) in &pages {
            for s in decode_page(page).map_err(|e| at(k, e))? {
                if s >= from {
                    out.push(s);
                    if out.len() == limit {
                        break 'pages;
                    }
                }
            }
        }
        if pages.len() < 8 {
            break;
        }
    }
    if out.len() < limit {
        if let Some(open) = v.get(&keys::history_open(account))? {
            let rest = decode_page(&open)?.into_iter().filter(|&s| s >= from);
            out.extend(rest.take(limit.saturating_sub(out.len())));
        }
    }
    Ok(out)
}

/// What of a cold record (`keys::is_hot` false) belongs to the state as of chain sequence `s`:
/// the record, the part of it written by then (a chain bucket's first records), or nothing (it
/// was written after). Cold records are only ever added, each carrying the sequence that wrote
/// it, so a snapshot can be cut from a state that keeps growing: the hot records as of `s`
/// (copied at once) and the cold ones through this filter (`storage::view::Cut`).
pub fn cold_as_of(key: &[u8], value: &[u8], s: u64) -> R<Option<Vec<u8>>> {
    use carbon_proto::v1::{Cancellation, RetiredBlock, SerialOrigin};
    use prost::Message;
    let keep = |written: u64| Ok((written <= s).then(|| value.to_vec()));
    let undecodable =
        |e: prost::DecodeError| ViewFault(format!("record {}: {e}", hex::encode(key)));
    match key.first() {
        Some(b'T') => match <[u8; 8]>::try_from(value) {
            Ok(b) => keep(u64::from_be_bytes(b)),
            Err(_) => Err(ViewFault("a tx id maps to no sequence".into())),
        },
        Some(b'Q') => {
            let first = keys::trailing_u64(key).unwrap_or(0).max(1);
            if first > s {
                return Ok(None);
            }
            let n =
                usize::try_from(s.saturating_sub(first).saturating_add(1)).unwrap_or(usize::MAX);
            let cut = slots(value)?
                .get(n.saturating_sub(1))
                .map_or(value.len(), |r| r.end);
            Ok(Some(value[..cut].to_vec()))
        }
        Some(b'X' | b'I' | b'g') => keep(keys::trailing_u64(key).unwrap_or(u64::MAX)),
        Some(b'R') => keep(RetiredBlock::decode(value).map_err(undecodable)?.sequence),
        Some(b'O') => keep(SerialOrigin::decode(value).map_err(undecodable)?.sequence),
        Some(b'K') => keep(Cancellation::decode(value).map_err(undecodable)?.sequence),
        _ => Err(ViewFault(format!(
            "record {} is of no cold family this build knows",
            hex::encode(key)
        ))),
    }
}

/// The smallest key after `k`.
fn next_key(k: &[u8]) -> Vec<u8> {
    let mut n = k.to_vec();
    n.push(0);
    n
}

fn at(key: &[u8], e: ViewFault) -> ViewFault {
    ViewFault(format!("history page {}: {}", hex::encode(key), e.0))
}

fn encode_page(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len().saturating_mul(3));
    let mut prev = 0u64;
    for &s in seqs {
        prost::encoding::encode_varint(s.saturating_sub(prev), &mut out);
        prev = s;
    }
    out
}

fn decode_page(mut bytes: &[u8]) -> R<Vec<u64>> {
    let mut out = Vec::new();
    let mut prev = 0u64;
    while !bytes.is_empty() {
        let d = prost::encoding::decode_varint(&mut bytes)
            .map_err(|e| ViewFault(format!("a history page does not decode: {e}")))?;
        prev = prev
            .checked_add(d)
            .ok_or_else(|| ViewFault("a history page overflows".into()))?;
        out.push(prev);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemState;

    #[test]
    fn pages_seal_when_full_and_read_back_from_any_sequence() {
        let mut state = MemState::default();
        let seqs: Vec<u64> = (1..=100u64).map(|i| i * 3).collect();
        {
            let base: &dyn StateView = &MemState::default();
            let mut o = Overlay::new(base);
            for &s in &seqs {
                put_history(&mut o, "A", s).expect("put");
            }
            o.commit_tx();
            state.apply(o.into_writes());
        }
        assert_eq!(history(&state, "A", 0, 1000).expect("read"), seqs);
        assert_eq!(
            history(&state, "A", 97, 3).expect("read"),
            vec![99, 102, 105]
        );
        assert_eq!(history(&state, "A", 298, 10).expect("read"), vec![300]);
        assert!(history(&state, "B", 0, 10).expect("read").is_empty());
        let sealed = state.scan_prefix(&keys::history_of("A")).expect("scan");
        assert_eq!(sealed.len(), 100 / keys::HISTORY_PAGE_TXS);
    }

    #[test]
    fn the_chain_finds_every_record_and_tx_id() {
        let base: &dyn StateView = &MemState::default();
        let mut o = Overlay::new(base);
        let record = |s: u64| s.to_le_bytes()[..(s % 8) as usize].to_vec();
        let mut s = 1u64;
        for n in [1u64, 70, 63, 66] {
            let records: Vec<Vec<u8>> = (s..s + n).map(record).collect();
            put_records(&mut o, s, &records).expect("put");
            for t in s..s + n {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&t.to_be_bytes());
                put_tx_id(&mut o, &id, t);
            }
            s += n;
        }
        for s in 1..=200u64 {
            let r = record_at(&o, s).expect("read").expect("present");
            assert_eq!(r, s.to_le_bytes()[..(s % 8) as usize].to_vec());
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&s.to_be_bytes());
            assert_eq!(sequence_of(&o, &id).expect("read"), Some(s));
        }
        assert_eq!(record_at(&o, 201).expect("read"), None);
        assert_eq!(record_at(&o, 0).expect("read"), None);
        assert_eq!(records_in_bucket_from(&o, 190).expect("read").len(), 2);
        assert_eq!(records_in_chain(&o).expect("count"), 200);
        assert!(
            put_records(&mut o, 202, &[b"x".to_vec()]).is_err(),
            "a gap is refused"
        );
    }

    #[test]
    fn a_cut_keeps_what_was_written_by_its_sequence() {
        let base: &dyn StateView = &MemState::default();
        let mut o = Overlay::new(base);
        let records: Vec<Vec<u8>> = (1..=70u64).map(|s| vec![s as u8; 3]).collect();
        put_records(&mut o, 1, &records).expect("put");
        let b0 = o
            .get(&keys::sequence_bucket(1))
            .expect("read")
            .expect("bucket");
        let cut = cold_as_of(&keys::sequence_bucket(1), &b0, 10)
            .expect("cut")
            .expect("kept");
        assert_eq!(slots(&cut).expect("slots").len(), 10);
        let b1 = o
            .get(&keys::sequence_bucket(64))
            .expect("read")
            .expect("bucket");
        assert_eq!(
            cold_as_of(&keys::sequence_bucket(64), &b1, 63).expect("cut"),
            None
        );
        let whole = cold_as_of(&keys::sequence_bucket(64), &b1, 99).expect("cut");
        assert_eq!(whole, Some(b1.clone()));
        let t = 9u64.to_be_bytes();
        assert!(cold_as_of(&keys::tx(&[1; 32]), &t, 9)
            .expect("cut")
            .is_some());
        assert!(cold_as_of(&keys::tx(&[1; 32]), &t, 8)
            .expect("cut")
            .is_none());
        assert!(cold_as_of(&keys::history_page("A", 40), &[], 39)
            .expect("cut")
            .is_none());
        assert!(
            cold_as_of(b"Zchain", &[], 1).is_err(),
            "hot records are not cut"
        );
    }
}
