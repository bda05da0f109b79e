//! Watches the cluster commit: every `POLL` it asks every node for its chain head (a local read)
//! and notes when the highest sequence any node has applied grows. The gaps between those
//! moments are the no-commit gaps the report attributes to faults.

use super::workload::channel;
use carbon_proto::v1::{GetChainHeadRequest, ReadConsistency};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const POLL: Duration = Duration::from_millis(100);
const READ_TIMEOUT: Duration = Duration::from_millis(300);

/// When the highest applied chain sequence grew, and to what.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    pub commits: Vec<(Instant, u64)>,
    pub end: Option<Instant>,
}

impl Timeline {
    /// The longest time without a commit that began inside `[from, to)`, counted from `from` at
    /// the earliest (a gap that started before `from` counts only its part after `from`).
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let end = self.end.unwrap_or_else(Instant::now);
        let mut last = from;
        let mut longest = Duration::ZERO;
        for &(t, _) in &self.commits {
            if t < from {
                continue;
            }
            if last >= to {
                break;
            }
            longest = longest.max(t - last);
            last = t;
        }
        if last < to {
            longest = longest.max(end - last);
        }
        longest
    }

    /// The time from `at` to the first commit after it.
    pub fn first_commit_after(&self, at: Instant) -> Duration {
        let end = self.end.unwrap_or_else(Instant::now);
        self.commits
            .iter()
            .find(|(t, _)| *t >= at)
            .map_or(end.saturating_duration_since(at), |(t, _)| *t - at)
    }
}

/// Polls until `stop` turns true; returns the timeline.
pub async fn run(addrs: Vec<String>, mut stop: watch::Receiver<bool>) -> Timeline {
    let conns: Vec<_> = addrs.iter().map(|a| channel(a, READ_TIMEOUT)).collect();
    let mut timeline = Timeline::default();
    let mut highest = 0;
    loop {
        let reads = conns.iter().map(|c| {
            let mut c = c.clone();
            async move {
                let req = GetChainHeadRequest {
                    consistency: ReadConsistency::Local as i32,
                };
                c.get_chain_head(req)
                    .await
                    .ok()
                    .map(|r| r.into_inner().sequence)
            }
        });
        let seen = futures_max(reads).await;
        if seen > highest {
            highest = seen;
            timeline.commits.push((Instant::now(), seen));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    timeline.end = Some(Instant::now());
    timeline
}

/// The highest answer of concurrent reads (0 if none answered).
async fn futures_max<F>(reads: impl Iterator<Item = F>) -> u64
where
    F: std::future::Future<Output = Option<u64>> + Send + 'static,
{
    let handles: Vec<_> = reads.map(tokio::spawn).collect();
    let mut max = 0;
    for h in handles {
        if let Ok(Some(s)) = h.await {
            max = max.max(s);
        }
    }
    max
}
