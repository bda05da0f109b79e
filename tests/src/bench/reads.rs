//! Reads beside writes' phases: `GetChainHead` from R concurrent readers on the leader, local
//! and linearizable, so the cost of a linearizable read (a leadership confirmation shared by
//! the reads waiting, then the local read) is printed next to a local one's.

use super::drive::histogram;
use super::target::Client;
use carbon_proto::v1::{GetChainHeadRequest, ReadConsistency};
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// What one read phase measured.
#[derive(Clone)]
pub struct ReadPhase {
    pub linearizable: bool,
    pub readers: usize,
    pub ok: u64,
    pub failed: u64,
    /// Per read, µs.
    pub latency: Histogram<u64>,
    pub secs: f64,
}

impl ReadPhase {
    pub fn name(&self) -> String {
        let c = if self.linearizable {
            "linearizable"
        } else {
            "local"
        };
        format!("GetChainHead {c} x{}", self.readers)
    }

    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }
}

/// The reader counts and consistencies measured, in order.
pub const READ_PHASES: [(bool, usize); 4] = [(false, 1), (true, 1), (false, 8), (true, 8)];

/// Runs `readers` readers on the clients of `pool` for `secs`.
pub async fn run(pool: &[Client], linearizable: bool, readers: usize, secs: f64) -> ReadPhase {
    let consistency = if linearizable {
        ReadConsistency::Linearizable
    } else {
        ReadConsistency::Local
    } as i32;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..readers {
        let mut c = pool[r % pool.len()].clone();
        tasks.push(tokio::spawn(async move {
            let (mut h, mut ok, mut failed) = (histogram(), 0u64, 0u64);
            while Instant::now() < until {
                let t = Instant::now();
                match c.get_chain_head(GetChainHeadRequest { consistency }).await {
                    Ok(_) => {
                        ok += 1;
                        let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    Err(_) => failed += 1,
                }
            }
            (h, ok, failed)
        }));
    }
    let mut out = ReadPhase {
        linearizable,
        readers,
        ok: 0,
        failed: 0,
        latency: histogram(),
        secs: 0.0,
    };
    for t in tasks {
        if let Ok((h, ok, failed)) = t.await {
            let _ = out.latency.add(&h);
            out.ok += ok;
            out.failed += failed;
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    out
}
