//! Snapshot files and the pointer to the current one.
//!
//! ```text
//! <data_dir>/snapshots/CURRENT            the pointer: postcard(meta, file name) + blake3
//! <data_dir>/snapshots/<id>.snap          snapshot files (super::snapshot_file format)
//! <data_dir>/snapshots/building-<g>.snap  being written by a build (deleted at open)
//! <data_dir>/snapshots/incoming-<g>.snap  being received from the leader (deleted at open)
//! ```
//!
//! Snapshot files and the pointer are the durable truth the state tree can always be rebuilt
//! from: each is written to a temporary name, fsynced, renamed, and the directory fsynced. The
//! pointer only moves forward (to a snapshot of a larger log id); a file the pointer does not
//! name is deleted when the store opens.

use super::snapshot_file;
use super::sync_dir;
use crate::raft::{decode, encode, SnapshotMeta};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const POINTER: &str = "CURRENT";
const POINTER_TMP: &str = "CURRENT.tmp";

#[derive(Serialize, Deserialize)]
struct Pointer {
    meta: SnapshotMeta,
    /// File name inside the snapshot directory.
    file: String,
}

fn invalid(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.into())
}

pub struct Snapshots {
    dir: PathBuf,
}

/// The current snapshot: its meta and its file.
pub type Current = (SnapshotMeta, PathBuf);

impl Snapshots {
    /// Opens the directory and deletes every file the pointer does not name.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let s = Snapshots { dir };
        let keep = s.current()?.map(|(_, p)| p);
        for f in std::fs::read_dir(&s.dir)? {
            let path = f?.path();
            let is_snap = path.extension().is_some_and(|e| e == "snap");
            let is_tmp = path.file_name().is_some_and(|n| n == POINTER_TMP);
            if (is_snap && Some(&path) != keep.as_ref()) || is_tmp {
                tracing::info!(file = %path.display(), "deleting a snapshot file no pointer names");
                std::fs::remove_file(&path)?;
            }
        }
        sync_dir(&s.dir)?;
        Ok(s)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a snapshot of this id lives once it is complete.
    pub fn final_path(&self, snapshot_id: &str) -> PathBuf {
        self.dir.join(format!("{snapshot_id}.snap"))
    }

    /// A temporary file name for a snapshot being built or received.
    pub fn temp_path(&self, what: &str, generation: u64) -> PathBuf {
        self.dir.join(format!("{what}-{generation}.snap"))
    }

    /// The current snapshot, if any.
    pub fn current(&self) -> io::Result<Option<Current>> {
        let bytes = match std::fs::read(self.dir.join(POINTER)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if bytes.len() < 32 {
            return Err(invalid("snapshot pointer too short"));
        }
        let (body, hash) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != hash {
            return Err(invalid("snapshot pointer checksum does not match"));
        }
        let p: Pointer = decode(body).map_err(|e| invalid(e.to_string()))?;
        Ok(Some((p.meta, self.dir.join(p.file))))
    }

    /// Writes a snapshot of `records` to a temporary file, fsyncs it and renames it to its final
    /// name. Returns the final path.
    pub fn write(
        &self,
        meta: &SnapshotMeta,
        generation: u64,
        records: impl Iterator<Item = io::Result<(Vec<u8>, Vec<u8>)>>,
    ) -> io::Result<(PathBuf, u64)> {
        let tmp = self.temp_path("building", generation);
        let n = snapshot_file::write(&tmp, meta, records)?;
        let path = self.final_path(&meta.snapshot_id);
        std::fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        Ok((path, n))
    }

    /// Moves a complete, verified snapshot file (received from the leader) to its final name.
    pub fn adopt(&self, received: &Path, meta: &SnapshotMeta) -> io::Result<PathBuf> {
        let path = self.final_path(&meta.snapshot_id);
        std::fs::rename(received, &path)?;
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// Points at `path` if its snapshot is newer than the current one; deletes whichever file
    /// lost. Returns the current snapshot afterwards.
    pub fn advance(&self, meta: &SnapshotMeta, path: &Path) -> io::Result<Current> {
        let old = self.current()?;
        if let Some((old_meta, old_path)) = &old {
            if old_meta.last_log_id >= meta.last_log_id {
                if old_path != path {
                    std::fs::remove_file(path)?;
                }
                return Ok((old_meta.clone(), old_path.clone()));
            }
        }
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| invalid("snapshot path has no file name"))?;
        let mut body = encode(&Pointer {
            meta: meta.clone(),
            file,
        })
        .map_err(|e| invalid(e.to_string()))?;
        let hash = *blake3::hash(&body).as_bytes();
        body.extend_from_slice(&hash);
        let tmp = self.dir.join(POINTER_TMP);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join(POINTER))?;
        sync_dir(&self.dir)?;
        crate::crash_point!("snapshot-after-pointer");
        if let Some((_, old_path)) = old {
            if old_path != path {
                std::fs::remove_file(old_path)?;
            }
        }
        Ok((meta.clone(), path.to_path_buf()))
    }
}
