//! Storage on sled: the Raft log ([`log`]) and the state machine ([`state`]) in two separate
//! sled databases under the node's data directory, plus snapshot files ([`snapshot`]).
//!
//! ```text
//! <data_dir>/log/        sled Db: Raft entries, vote, committed id, purge point
//! <data_dir>/state/      sled Db: the registry's state (current tree) and the root pointer
//! <data_dir>/snapshots/  snapshot files (the current one, and one being received)
//! ```

pub mod log;
pub mod snapshot;
pub mod state;

pub use log::LogStore;
pub use state::{SledView, StateStore};

use carbon_proto::v1::Genesis;
use std::path::Path;

/// Bytes of page cache each sled database may use (sled's README warns it can use too much).
pub const CACHE_BYTES: u64 = 128 << 20;

fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_BYTES)
        .flush_every_ms(Some(500))
        .open()
}

/// Opens (or creates) both stores of a node.
pub fn open(
    data_dir: &Path,
    genesis: &Genesis,
) -> Result<(LogStore, StateStore), state::OpenError> {
    std::fs::create_dir_all(data_dir)?;
    let log = LogStore::open(open_db(&data_dir.join("log"))?)?;
    let state = StateStore::open(
        open_db(&data_dir.join("state"))?,
        data_dir.join("snapshots"),
        genesis,
    )?;
    Ok((log, state))
}
