//! Backups. A backup is a snapshot file (format: `storage::snapshot_file`, blake3 over the whole
//! file) of one node's applied state, built under the apply lock — so it is one consistent
//! log position — and streamed by `Registry.Backup` (`api::backup`; `carbonctl cluster backup`).
//! The state holds every committed transaction, so a backup alone verifies the whole chain.
//!
//! * [`check_file`]: restores a backup into a scratch directory and runs the offline check
//!   (`storage::check`): every invariant, the chain from the genesis.
//! * [`restore`]: makes a member's data directory from a backup — the snapshot file and its
//!   pointer, an empty Raft log — and checks it. At start the node restores its state from the
//!   snapshot and openraft continues from the backup's log position: a new cluster (every member
//!   restored from the same file) elects a leader and goes on from there; a replacement member
//!   catches up from the leader's log or a newer snapshot.

use crate::raft::{NodeAddr, NodeId, SnapshotMeta, StoredMembership};
use crate::storage::check::{check_data_dir, CheckError, CheckReport};
use crate::storage::snapshots::Snapshots;
use crate::storage::{self, snapshot_file};
use carbon_proto::v1::Genesis;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} exists and is not empty: restore only into a new data directory")]
    NotEmpty(String),
    #[error("the restored data directory does not check: {0}")]
    Check(#[from] CheckError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks a backup file: restored into a scratch directory (deleted afterwards), then checked.
pub fn check_file(backup: &Path, genesis: &Genesis) -> Result<CheckReport, BackupError> {
    let scratch = scratch_dir()?;
    let result = restore(backup, &scratch, genesis, None);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn scratch_dir() -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "carbon-backup-check-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Creates `data_dir` from a backup and checks it. With `members`, the restored membership
/// becomes exactly those voters (a new cluster on other addresses): every member of the new
/// cluster must then be restored with the same `members`.
pub fn restore(
    backup: &Path,
    data_dir: &Path,
    genesis: &Genesis,
    members: Option<BTreeMap<NodeId, NodeAddr>>,
) -> Result<CheckReport, BackupError> {
    restore_with_members(backup, data_dir, genesis, members).map(|(report, _)| report)
}

/// [`restore`], also returning the ids of the restored membership (voters and learners): a
/// member restored under an id that is not among them waits for a leader that never adds it.
pub fn restore_with_members(
    backup: &Path,
    data_dir: &Path,
    genesis: &Genesis,
    members: Option<BTreeMap<NodeId, NodeAddr>>,
) -> Result<(CheckReport, BTreeSet<NodeId>), BackupError> {
    let file_err = |source| BackupError::File {
        path: backup.display().to_string(),
        source,
    };
    if std::fs::read_dir(data_dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(BackupError::NotEmpty(data_dir.display().to_string()));
    }
    // Checks the backup's hash before anything is written.
    let (mut meta, records) = snapshot_file::open(backup).map_err(file_err)?;
    if let Some(members) = members {
        meta = with_membership(meta, members);
    }
    let ids: BTreeSet<NodeId> = meta
        .last_membership
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .collect();
    // A fresh data directory (format marker, empty log, genesis state), whose vote is the
    // term of the backup's last entry: openraft refuses to lead in a term below the last log
    // id it holds, so a first election in term 1 over a term-2 snapshot would stop the member.
    let (log, _state) = storage::open(data_dir, genesis).map_err(CheckError::Open)?;
    if let Some(last) = meta.last_log_id {
        let vote = crate::raft::Vote::new(last.leader_id.term, last.leader_id.node_id);
        log.save_vote_blocking(&vote).map_err(file_err)?;
    }
    drop((log, _state));
    // ...whose current snapshot is the backup: the state is restored from it when it opens.
    let snapshots = Snapshots::open(data_dir.join("snapshots"))?;
    let (path, _) = snapshots.write(&meta, 0, records).map_err(file_err)?;
    snapshots.advance(&meta, &path)?;
    Ok((check_data_dir(data_dir, genesis)?, ids))
}

fn with_membership(mut meta: SnapshotMeta, members: BTreeMap<NodeId, NodeAddr>) -> SnapshotMeta {
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = openraft::Membership::new(vec![voters], members);
    meta.last_membership = StoredMembership::new(*meta.last_membership.log_id(), membership);
    meta
}
