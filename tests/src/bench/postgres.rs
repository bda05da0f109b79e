//! The PostgreSQL baseline: runs `tests/bench/pg-baseline.sh` (its own PostgreSQL 15 on a
//! loopback port, synchronous_commit=on, fsync on, the same account count, a transfer like the
//! registry's through pgbench) and reads its `pg-baseline clients=C tps=T ...` lines.

use anyhow::{bail, Context, Result};
use std::process::Command;

#[derive(Debug, Clone, Copy)]
pub struct PgRun {
    pub clients: usize,
    pub tps: f64,
    pub failed: u64,
    pub latency_ms: f64,
}

pub fn script() -> std::path::PathBuf {
    crate::repo_root().join("tests/bench/pg-baseline.sh")
}

/// Runs the baseline for `accounts` accounts, `secs` seconds per client count.
pub fn run(accounts: usize, secs: u64, clients: &[usize]) -> Result<Vec<PgRun>> {
    let port = super::target::loopback_port();
    let out = Command::new("bash")
        .arg(script())
        .arg(accounts.to_string())
        .arg(secs.to_string())
        .args(clients.iter().map(|c| c.to_string()))
        .env("PG_PORT", port.to_string())
        .current_dir(std::env::temp_dir())
        .output()
        .context("run pg-baseline.sh")?;
    if !out.status.success() {
        bail!(
            "pg-baseline.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs: Vec<PgRun> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(parse)
        .collect();
    if runs.is_empty() {
        bail!("pg-baseline.sh printed no result");
    }
    Ok(runs)
}

fn parse(line: &str) -> Option<PgRun> {
    let rest = line.strip_prefix("pg-baseline ")?;
    let get = |k: &str| {
        rest.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
    };
    Some(PgRun {
        clients: get("clients")?.parse().ok()?,
        tps: get("tps")?.parse().ok()?,
        failed: get("failed")?.parse().ok()?,
        latency_ms: get("latency_ms")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_result_line() {
        let r = super::parse("pg-baseline clients=16 tps=2187.3 failed=0 latency_ms=7.31")
            .expect("parses");
        assert_eq!((r.clients, r.failed), (16, 0));
        assert!((r.tps - 2187.3).abs() < 1e-9);
        assert!(super::parse("something else").is_none());
    }
}
