//! Snapshot files: the whole state-machine key space streamed to disk, never held in memory.
//!
//! Layout: `CRSNAP2\n`, then `u32 len + postcard(SnapshotMeta)`, then records
//! `u32 key len, key, u32 value len, value`, then `u32::MAX` as end marker, then the 32-byte
//! blake3 hash of everything before it. A file whose hash does not match is refused whole.

use crate::raft::{decode, encode, SnapshotMeta};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"CRSNAP2\n";
const END: u32 = u32::MAX;
use crate::limits::SNAPSHOT_RECORD_BYTES_MAX;

struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn invalid(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.into())
}

fn put_chunk(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    let len = u32::try_from(b.len()).map_err(|_| invalid("record too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(b)
}

/// Writes a snapshot of `records` to `path` (created anew, fsynced). Returns the number of
/// records written.
pub fn write(
    path: &Path,
    meta: &SnapshotMeta,
    records: impl Iterator<Item = io::Result<(Vec<u8>, Vec<u8>)>>,
) -> io::Result<u64> {
    let file = File::create(path)?;
    let mut w = HashingWriter {
        inner: BufWriter::new(file),
        hasher: blake3::Hasher::new(),
    };
    w.write_all(MAGIC)?;
    put_chunk(&mut w, &encode(meta).map_err(|e| invalid(e.to_string()))?)?;
    let mut n = 0u64;
    for r in records {
        let (k, v) = r?;
        put_chunk(&mut w, &k)?;
        put_chunk(&mut w, &v)?;
        n += 1;
    }
    w.write_all(&END.to_le_bytes())?;
    let hash = *w.hasher.finalize().as_bytes();
    let mut inner = w.inner;
    inner.write_all(&hash)?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(n)
}

/// Checks the file's hash, then returns its meta and an iterator over its records.
pub fn open(path: &Path) -> io::Result<(SnapshotMeta, Records)> {
    verify_hash(path)?;
    let mut r = BufReader::new(File::open(path)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not a registry snapshot"));
    }
    let meta_bytes = read_chunk(&mut r)?.ok_or_else(|| invalid("snapshot has no meta"))?;
    let meta = decode(&meta_bytes).map_err(|e| invalid(e.to_string()))?;
    Ok((meta, Records { r, done: false }))
}

fn verify_hash(path: &Path) -> io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    if len < 32 + 8 {
        return Err(invalid("snapshot file too short"));
    }
    let mut r = BufReader::new(File::open(path)?);
    let mut h = blake3::Hasher::new();
    let mut left = len - 32;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        r.read_exact(&mut buf[..want])?;
        h.update(&buf[..want]);
        left -= want as u64;
    }
    let mut tail = [0u8; 32];
    r.read_exact(&mut tail)?;
    if *h.finalize().as_bytes() != tail {
        return Err(invalid("snapshot hash does not match its content"));
    }
    Ok(())
}

fn read_chunk(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len == END {
        return Ok(None);
    }
    if len > SNAPSHOT_RECORD_BYTES_MAX {
        return Err(invalid("snapshot record too large"));
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    Ok(Some(b))
}

pub struct Records {
    r: BufReader<File>,
    done: bool,
}

impl Iterator for Records {
    type Item = io::Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let k = match read_chunk(&mut self.r) {
            Ok(Some(k)) => k,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        match read_chunk(&mut self.r) {
            Ok(Some(v)) => Some(Ok((k, v))),
            Ok(None) => {
                self.done = true;
                Some(Err(invalid("snapshot record without value")))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_and_a_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.snap");
        let meta = SnapshotMeta {
            last_log_id: None,
            last_membership: Default::default(),
            snapshot_id: "1-2-3".into(),
        };
        let records: Vec<(Vec<u8>, Vec<u8>)> = (0..1000u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![7u8; (i % 50) as usize]))
            .collect();
        let n = write(&path, &meta, records.clone().into_iter().map(Ok)).expect("writes");
        assert_eq!(n, 1000);
        let (m, rs) = open(&path).expect("opens");
        assert_eq!(m.snapshot_id, "1-2-3");
        let back: Vec<(Vec<u8>, Vec<u8>)> = rs.map(|r| r.expect("record")).collect();
        assert_eq!(back, records);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[100] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        assert!(open(&path).is_err());
    }
}
