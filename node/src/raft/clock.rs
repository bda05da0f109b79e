//! The node's wall clock, and how it is compared with the other members' clocks.
//!
//! [`now_ms`] is the only wall clock the node reads (ingress expiry, read authentication, admin
//! requests, the leader's entry timestamps, probe answers). The ledger itself reads no clock: it
//! uses the entry's timestamp (see `ledger::Ctx`).
//!
//! Test knob: `CARBON_CLOCK_OFFSET_MS` (signed milliseconds, e.g. `2592000000` for 30 days ahead)
//! shifts everything this node takes as "now". It exists to test the clock check on real
//! processes; never set it in production.
//!
//! The clock check: a leader proposes only while its clock agrees, within `clock_tolerance_ms`,
//! with the clocks of a majority of the voters, itself included (TigerBeetle derives cluster
//! time from a quorum of clocks in the same spirit). Each peer's offset is measured NTP-style
//! from a probe: `offset = peer_clock - (sent + received) / 2`, both ends of the round trip on
//! this node's clock; a sample counts while it is younger than `SAMPLE_AGE_MAX`.

use super::NodeId;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable of the test knob.
pub const OFFSET_ENV: &str = "CARBON_CLOCK_OFFSET_MS";
/// How old a clock sample may be and still count.
pub const SAMPLE_AGE_MAX: Duration = Duration::from_secs(5);

static OFFSET_MS: OnceLock<i64> = OnceLock::new();

/// Reads the test knob once; a malformed value is an error (the node refuses to start).
pub fn init_from_env() -> Result<i64, String> {
    let offset = match std::env::var(OFFSET_ENV) {
        Err(_) => 0,
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|e| format!("{OFFSET_ENV}={v:?} is not a whole number of ms: {e}"))?,
    };
    Ok(*OFFSET_MS.get_or_init(|| offset))
}

/// This node's wall clock, Unix ms (shifted by the test knob).
pub fn now_ms() -> u64 {
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let offset = OFFSET_MS.get().copied().unwrap_or(0);
    system.saturating_add_signed(offset)
}

/// One measurement of a peer's clock against ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Peer clock minus ours, ms.
    pub offset_ms: i64,
    /// Round trip of the probe, ms.
    pub rtt_ms: u64,
    pub taken: Instant,
}

impl Sample {
    /// From a probe sent at `sent_ms` (our clock) that took `rtt` and carried `peer_ms`.
    pub fn measure(sent_ms: u64, rtt: Duration, peer_ms: u64, taken: Instant) -> Sample {
        let rtt_ms = rtt.as_millis() as u64;
        let midpoint = sent_ms as i128 + rtt_ms as i128 / 2;
        let offset = (peer_ms as i128 - midpoint).clamp(i64::MIN as i128, i64::MAX as i128);
        Sample {
            offset_ms: offset as i64,
            rtt_ms,
            taken,
        }
    }
}

/// Why this node's clock cannot be trusted for ledger time now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// Measured: too many voters' clocks differ from this one for a majority to agree with it,
    /// whatever the voters not measured say.
    #[error(
        "this node's clock differs by more than clock_tolerance_ms={tolerance_ms} from the \
         clocks of voters that leave it without a majority ({agreeing} of {voters} agree, \
         {quorum} needed); offsets (theirs minus ours, ms): {offsets}"
    )]
    Disagrees {
        agreeing: usize,
        voters: usize,
        quorum: usize,
        tolerance_ms: u64,
        offsets: String,
    },
    /// Not enough recent samples to tell.
    #[error(
        "this node's clock is confirmed by {agreeing} of {voters} voters (itself included), \
         {quorum} needed, and the others have no recent sample; offsets (theirs minus ours, \
         ms): {offsets}"
    )]
    Unconfirmed {
        agreeing: usize,
        voters: usize,
        quorum: usize,
        offsets: String,
    },
}

/// Checks this node's clock against the fresh samples of the other voters.
pub fn check(
    me: NodeId,
    voters: &[NodeId],
    samples: &BTreeMap<NodeId, Sample>,
    tolerance_ms: u64,
    now: Instant,
) -> Result<(), ClockError> {
    let quorum = voters.len() / 2 + 1;
    let mut agreeing = usize::from(voters.contains(&me));
    let mut disagreeing = 0;
    let mut offsets = Vec::new();
    for v in voters.iter().filter(|&&v| v != me) {
        match samples.get(v) {
            Some(s) if now.saturating_duration_since(s.taken) <= SAMPLE_AGE_MAX => {
                // A slow round trip leaves the offset uncertain by half of it: a sample counts
                // as agreeing only if it agrees even in the worst case.
                if s.offset_ms.unsigned_abs() + s.rtt_ms / 2 <= tolerance_ms {
                    agreeing += 1;
                } else if s.offset_ms.unsigned_abs() > tolerance_ms + s.rtt_ms / 2 {
                    disagreeing += 1;
                }
                offsets.push(format!("node {v}: {:+}", s.offset_ms));
            }
            _ => offsets.push(format!("node {v}: no recent sample")),
        }
    }
    let offsets = offsets.join(", ");
    let voters = voters.len();
    if agreeing >= quorum {
        Ok(())
    } else if voters - disagreeing < quorum {
        Err(ClockError::Disagrees {
            agreeing,
            voters,
            quorum,
            tolerance_ms,
            offsets,
        })
    } else {
        Err(ClockError::Unconfirmed {
            agreeing,
            voters,
            quorum,
            offsets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset_ms: i64, rtt_ms: u64, taken: Instant) -> Sample {
        Sample {
            offset_ms,
            rtt_ms,
            taken,
        }
    }

    #[test]
    fn the_offset_is_measured_from_the_midpoint_of_the_round_trip() {
        let t = Instant::now();
        // Sent at 1000 on our clock, 40 ms round trip, the peer said 1520: 500 ms ahead.
        let s = Sample::measure(1_000, Duration::from_millis(40), 1_520, t);
        assert_eq!((s.offset_ms, s.rtt_ms), (500, 40));
        let s = Sample::measure(1_000, Duration::from_millis(40), 20, t);
        assert_eq!(s.offset_ms, -1_000);
    }

    #[test]
    fn a_majority_within_tolerance_is_needed() {
        let now = Instant::now();
        let voters = [1, 2, 3];
        let mut samples = BTreeMap::new();
        samples.insert(2, at(200, 2, now));
        assert_eq!(check(1, &voters, &samples, 3_000, now), Ok(()));
        // One skewed follower does not matter.
        samples.insert(3, at(30 * 86_400_000, 2, now));
        assert_eq!(check(1, &voters, &samples, 3_000, now), Ok(()));
        // A node a month ahead of both others agrees with nobody.
        let mut ahead = BTreeMap::new();
        ahead.insert(1, at(-30 * 86_400_000, 2, now));
        ahead.insert(2, at(-30 * 86_400_000, 2, now));
        let e = check(3, &voters, &ahead, 3_000, now).expect_err("skewed");
        assert!(
            matches!(e, ClockError::Disagrees { agreeing: 1, .. }),
            "{e}"
        );
        // Without samples nothing is measured: unconfirmed, not disagreeing.
        let e = check(1, &voters, &BTreeMap::new(), 3_000, now).expect_err("unconfirmed");
        assert!(
            matches!(e, ClockError::Unconfirmed { agreeing: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn stale_or_uncertain_samples_do_not_count() {
        let now = Instant::now();
        let old = now - SAMPLE_AGE_MAX - Duration::from_millis(1);
        let voters = [1, 2, 3];
        let mut samples = BTreeMap::new();
        samples.insert(2, at(0, 2, old));
        assert!(check(1, &voters, &samples, 3_000, now).is_err());
        // 2.9 s offset with a 400 ms round trip could be 3.1 s.
        samples.insert(2, at(2_900, 400, now));
        assert!(check(1, &voters, &samples, 3_000, now).is_err());
        samples.insert(2, at(2_900, 100, now));
        assert!(check(1, &voters, &samples, 3_000, now).is_ok());
    }

    #[test]
    fn a_single_voter_agrees_with_itself() {
        let now = Instant::now();
        assert!(check(1, &[1], &BTreeMap::new(), 3_000, now).is_ok());
    }
}
