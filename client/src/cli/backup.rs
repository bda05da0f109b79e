//! `cluster backup`: receives a node's backup stream into a file — under a temporary name,
//! checked against the hash and size the node sent, synced, then renamed into place — so that a
//! file under the final name is always a complete backup.

use super::ctx::Res;
use carbon_client::ClientError;
use carbon_proto::v1::BackupChunk;
use std::io::Write;
use std::path::Path;

/// Writes the stream to `out`; returns the backup's position, hash and size (no data).
pub async fn save(mut stream: tonic::Streaming<BackupChunk>, out: &Path) -> Res<BackupChunk> {
    let local = |e: std::io::Error| ClientError::local(format!("{}: {e}", out.display()));
    if out.exists() {
        return Err(ClientError::local(format!(
            "{} exists: a backup never overwrites a file",
            out.display()
        )));
    }
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial).map_err(local)?;
    let mut hasher = blake3::Hasher::new();
    let mut summary: Option<BackupChunk> = None;
    let mut written = 0u64;
    let result = loop {
        let chunk = match stream.message().await {
            Ok(Some(c)) => c,
            Ok(None) => {
                break Err(ClientError::Unavailable(
                    "the backup stream ended early".into(),
                ))
            }
            Err(s) => break Err(ClientError::from_status(&s)),
        };
        if summary.is_none() {
            summary = Some(BackupChunk {
                data: Vec::new(),
                ..chunk.clone()
            });
        }
        hasher.update(&chunk.data);
        written += chunk.data.len() as u64;
        if let Err(e) = file.write_all(&chunk.data) {
            break Err(local(e));
        }
        if !chunk.file_blake3.is_empty() {
            let hash = hasher.finalize();
            if hash.as_bytes().as_slice() != chunk.file_blake3.as_slice()
                || written != chunk.file_bytes
            {
                break Err(ClientError::local(format!(
                    "the backup arrived damaged: {written} bytes with blake3 {hash}, the node sent \
                     {} bytes with blake3 {}",
                    chunk.file_bytes,
                    hex::encode(&chunk.file_blake3)
                )));
            }
            let mut s = summary.take().unwrap_or_default();
            s.file_blake3 = chunk.file_blake3;
            s.file_bytes = chunk.file_bytes;
            break Ok(s);
        }
    };
    let done = result.and_then(|s| {
        file.sync_all().map_err(local)?;
        drop(file);
        std::fs::rename(&partial, out).map_err(local)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(local)?;
        }
        Ok(s)
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}
