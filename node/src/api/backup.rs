//! `Registry.Backup`: a consistent backup of this node's state, streamed to an operator.
//!
//! The request is an `AdminRequest` with the `backup` action, signed by the cluster admin key (a
//! backup holds private data). The node has openraft build a snapshot now — built under the apply
//! lock, so it is one log position — waits until it covers everything applied when asked, and
//! streams that file: the first chunk names the log position, the last carries the blake3 hash
//! and size of the whole file. The file is opened before streaming starts, so a newer snapshot
//! replacing it meanwhile does not matter. `carbonctl cluster backup` writes it; `carbon-node
//! check FILE` verifies it fully; `carbon-node restore` makes a data directory of it
//! (`crate::backup`).

use super::admin;
use crate::errors::ApiError;
use crate::limits::{BACKUP_CHUNKS_AHEAD_MAX, BACKUP_CHUNK_BYTES_MAX};
use crate::node::Node;
use carbon_proto::v1::{admin_body::Action, AdminRequest, BackupChunk, ErrorCode};
use std::io::Read;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::Stream;
use tonic::Status;

/// How long the snapshot for a backup may take to build.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(120);

pub type BackupStream = Pin<Box<dyn Stream<Item = Result<BackupChunk, Status>> + Send>>;

pub async fn start(node: Arc<Node>, req: AdminRequest) -> Result<BackupStream, ApiError> {
    let body = admin::verify(&node, &req)?;
    if !matches!(body.action, Some(Action::Backup(_))) {
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            "the Backup RPC takes the backup action",
        ));
    }
    let applied = node.raft.metrics().borrow().last_applied;
    node.raft
        .trigger()
        .snapshot()
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot build a snapshot: {e}")))?;
    node.raft
        .wait(Some(SNAPSHOT_WAIT))
        .metrics(|m| m.snapshot >= applied, "a snapshot of the applied state")
        .await
        .map_err(|e| ApiError::unavailable(format!("the snapshot for the backup: {e}")))?;
    let (meta, path) = node
        .state
        .current_snapshot()
        .map_err(|e| ApiError::unavailable(format!("snapshot: {e}")))?
        .ok_or_else(|| ApiError::unavailable("no snapshot to back up"))?;
    let file = std::fs::File::open(&path)
        .map_err(|e| ApiError::unavailable(format!("snapshot file: {e}")))?;
    tracing::info!(snapshot = %meta.snapshot_id, "streaming a backup");
    let first = BackupChunk {
        last_log_index: meta.last_log_id.map_or(0, |l| l.index),
        last_log_term: meta.last_log_id.map_or(0, |l| l.leader_id.term),
        snapshot_id: meta.snapshot_id,
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::mpsc::channel(BACKUP_CHUNKS_AHEAD_MAX);
    // Blocking file reads on a blocking thread; stops when the client goes away.
    tokio::task::spawn_blocking(move || stream_file(file, first, tx));
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

fn stream_file(
    mut file: std::fs::File,
    mut chunk: BackupChunk,
    tx: tokio::sync::mpsc::Sender<Result<BackupChunk, Status>>,
) {
    let mut hasher = blake3::Hasher::new();
    let mut total = 0u64;
    loop {
        let mut buf = vec![0u8; BACKUP_CHUNK_BYTES_MAX];
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let status: Status =
                    ApiError::unavailable(format!("reading the snapshot: {e}")).into();
                let _ = tx.blocking_send(Err(status));
                return;
            }
        };
        buf.truncate(n);
        hasher.update(&buf);
        total += n as u64;
        chunk.data = buf;
        if n == 0 {
            chunk.file_blake3 = hasher.finalize().as_bytes().to_vec();
            chunk.file_bytes = total;
            let _ = tx.blocking_send(Ok(chunk));
            return;
        }
        if tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
            return;
        }
    }
}
