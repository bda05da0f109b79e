//! What the kernel says a process used: CPU time (`/proc/PID/stat` utime + stime), bytes it
//! caused to be written to storage (`/proc/PID/io` `write_bytes`), resident memory
//! (`/proc/PID/status` `VmRSS`), and the apparent sizes of a data directory's parts.
//!
//! `write_bytes` counts page-cache pages the process dirtied (and direct I/O), when it dirtied
//! them: every write of the process — WAL, sled, snapshots — counted once per page made dirty,
//! whether the kernel writes it back now or later. It cannot say which file; the directory
//! sizes and the node's own WAL counter give the split.

use std::path::Path;

/// Clock ticks per second of `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`; 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU, seconds.
    pub cpu_s: f64,
    /// `write_bytes` of `/proc/PID/io`.
    pub write_bytes: u64,
    /// Resident set, KiB.
    pub rss_kib: u64,
}

/// Reads process `pid` (`None` when it is gone or unreadable).
pub fn sample(pid: u32) -> Option<ProcSample> {
    Some(ProcSample {
        cpu_s: cpu_seconds(&format!("/proc/{pid}/stat"))?,
        write_bytes: io_write_bytes(pid).unwrap_or(0),
        rss_kib: rss_kib(pid).unwrap_or(0),
    })
}

/// This process's own CPU (the client's).
pub fn self_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat").unwrap_or(0.0)
}

fn cpu_seconds(stat_file: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat_file).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

fn io_write_bytes(pid: u32) -> Option<u64> {
    field(&format!("/proc/{pid}/io"), "write_bytes:")
}

fn rss_kib(pid: u32) -> Option<u64> {
    field(&format!("/proc/{pid}/status"), "VmRSS:")
}

fn field(file: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Apparent bytes of a data directory's parts: `wal/` (the Raft log), `state/` (sled) and the
/// rest (snapshots, markers).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DirSizes {
    pub wal: u64,
    pub state: u64,
    pub other: u64,
}

pub fn dir_sizes(data_dir: &Path) -> DirSizes {
    let wal = tree_bytes(&data_dir.join("wal"));
    let state = tree_bytes(&data_dir.join("state"));
    let all = tree_bytes(data_dir);
    DirSizes {
        wal,
        state,
        other: all.saturating_sub(wal + state),
    }
}

/// Sum of file lengths under `p` (0 for what cannot be read: files come and go while a node
/// runs).
pub fn tree_bytes(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| tree_bytes(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_process() {
        let s = super::sample(std::process::id()).expect("own /proc");
        assert!(s.rss_kib > 0);
        assert!(super::self_cpu_seconds() >= 0.0);
    }
}
