//! Storage: the Raft log and vote in a write-ahead log ([`log`]), the registry's state in sled
//! ([`state_db`], seen and written through [`view`]: hot records in memory, writes back to sled
//! every so many entries) applied entry by entry ([`apply`]) by openraft's state machine
//! ([`state`]), and
//! snapshot files ([`snapshots`], format in [`snapshot_file`]).
//!
//! ```text
//! <data_dir>/FORMAT      what this data directory holds and in which layout version
//! <data_dir>/wal/        raft-log chunk files: entries, vote, committed and purge point (fsynced)
//! <data_dir>/state/      sled Db: the registry's state trees and their root pointer
//! <data_dir>/snapshots/  snapshot files and the CURRENT pointer (fsynced)
//! ```
//!
//! What is durable when: the WAL and snapshot files are synced before anything depends on them;
//! the state database is a cache of "snapshot + log" that a restart repairs (docs/ARCHITECTURE.md,
//! Durability).

pub mod apply;
pub mod check;
pub mod log;
pub mod snapshot_file;
pub mod snapshots;
pub mod state;
pub mod state_db;
pub mod view;

pub use log::LogStore;
pub use state::StateMachine;
pub use state_db::SledView;

use carbon_proto::v1::Genesis;
use std::path::Path;

/// The first line of `<data_dir>/FORMAT`; a data directory of another layout is refused.
pub const DATA_FORMAT: &str =
    "carbon-registry data directory, layout 4 (raft-log WAL + sled state, records with statements, paged indexes, holdings packed per account)";

/// The layout before 4, which opens in place: its holdings, one sled record per serial block,
/// are packed when the state is loaded (`storage::view`), and the marker says layout 4 from
/// then on (it is rewritten before, so a binary of layout 3 never reads a pack).
const DATA_FORMAT_3: &str =
    "carbon-registry data directory, layout 3 (raft-log WAL + sled state, records with statements, paged indexes)";

/// Errors opening a node's storage.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("state database: {0}")]
    Db(#[from] state_db::DbError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage: {0}")]
    Storage(String),
    #[error("invalid genesis: {0}")]
    Genesis(String),
    #[error(
        "this data directory holds chain {found:?} from another genesis; refusing to start with {expected:?}"
    )]
    OtherGenesis { expected: String, found: String },
    #[error(
        "{dir} is not a data directory of this version (FORMAT says {found:?}; expected {DATA_FORMAT:?}): \
         replace this member under a new id (docs/OPERATIONS.md, \"Replace a member\"), or restore the cluster from a backup"
    )]
    OtherFormat { dir: String, found: String },
}

impl From<crate::raft::StorageError> for OpenError {
    fn from(e: crate::raft::StorageError) -> Self {
        OpenError::Storage(e.to_string())
    }
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Checks (or, in an empty directory, writes) the data-directory format marker.
fn check_format(data_dir: &Path) -> Result<(), OpenError> {
    let marker = data_dir.join("FORMAT");
    match std::fs::read_to_string(&marker) {
        Ok(text) => {
            let found = text.lines().next().unwrap_or_default().to_string();
            if found == DATA_FORMAT_3 {
                return write_format(data_dir);
            }
            if found != DATA_FORMAT {
                return Err(OpenError::OtherFormat {
                    dir: data_dir.display().to_string(),
                    found,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A directory that holds storage of ours but no marker is from an older layout
            // (other files, e.g. the certificates `dev` keeps in `certs/`, do not count).
            const STORAGE: [&str; 4] = ["wal", "state", "snapshots", "log"];
            let used = STORAGE.iter().any(|d| data_dir.join(d).exists());
            if used {
                return Err(OpenError::OtherFormat {
                    dir: data_dir.display().to_string(),
                    found: "(no FORMAT file)".into(),
                });
            }
            write_format(data_dir)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the format marker durably (a new file renamed over the old).
fn write_format(data_dir: &Path) -> Result<(), OpenError> {
    let tmp = data_dir.join("FORMAT.tmp");
    std::fs::write(&tmp, format!("{DATA_FORMAT}\n"))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, data_dir.join("FORMAT"))?;
    sync_dir(data_dir)?;
    Ok(())
}

/// Opens (or creates) both stores of a node.
pub fn open(data_dir: &Path, genesis: &Genesis) -> Result<(LogStore, StateMachine), OpenError> {
    std::fs::create_dir_all(data_dir)?;
    check_format(data_dir)?;
    let log = LogStore::open(&data_dir.join("wal"))?;
    let state = StateMachine::open(&data_dir.join("state"), data_dir.join("snapshots"), genesis)?;
    Ok((log, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("FORMAT")).expect("marker")
    }

    #[test]
    fn layout_3_opens_as_layout_4_and_other_layouts_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("FORMAT"), format!("{DATA_FORMAT_3}\n")).expect("writes");
        check_format(dir.path()).expect("layout 3 opens");
        assert_eq!(marker(dir.path()), format!("{DATA_FORMAT}\n"));
        check_format(dir.path()).expect("layout 4 opens");
        std::fs::write(
            dir.path().join("FORMAT"),
            "carbon-registry data directory, layout 2\n",
        )
        .expect("writes");
        assert!(matches!(
            check_format(dir.path()),
            Err(OpenError::OtherFormat { .. })
        ));
    }
}
