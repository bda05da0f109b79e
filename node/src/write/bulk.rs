//! Pacing of rule 16's bulk transactions on the leader, so that a platform opening a million
//! personal accounts or recording a day of reductions cannot starve other users.
//!
//! A bulk transaction (`OpenPersonalAccounts`, `RecordReductions`: up to 10,000 rows each)
//! costs every replica ~15 µs of apply per row, serially, and its rows reach sled as new
//! records: unpaced, one platform sending them back to back held other users' transfers for
//! ~1 s at the median (docs/BENCHMARKS.md, "Carbon inclusion at scale"). The leader admits at
//! most `bulk_rows_per_second` rows a second (config), with a burst of one second's worth: a
//! bulk transaction beyond it waits on the leader for its turn, up to
//! [`BULK_WAIT_MS_MAX`]; beyond that it is refused with RESOURCE_EXHAUSTED (fate NOT_APPLIED:
//! the same bytes may be sent again later). Transactions without rows are never paced.
//!
//! The schedule is a virtual clock (GCRA): each admitted transaction moves `next_free` by its
//! rows / rate, and goes once its rows' end is within one burst of now.

use crate::errors::{exhausted, ApiError};
use crate::limits::BULK_WAIT_MS_MAX;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::TxBody;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// A transaction forwarded by a follower must be answered before the follower gives up on the
// attempt and delivers the same bytes again (which would reserve a second turn).
const _: () =
    assert!((BULK_WAIT_MS_MAX as u128) < super::deliver::FORWARD_ATTEMPT_TIMEOUT.as_millis());

/// The rows a transaction adds in bulk (0 for every other operation).
pub fn rows(body: &TxBody) -> u64 {
    let n = match &body.operation {
        Some(Operation::OpenPersonalAccounts(o)) => o.accounts.len(),
        Some(Operation::RecordReductions(r)) => r.rows.len(),
        _ => 0,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

pub struct BulkPacer {
    /// Rows admitted per second; 0: unpaced.
    rows_per_second: u64,
    /// When the rows admitted so far have all had their time (a quiet spell gives no credit
    /// beyond the burst).
    next_free: Mutex<Option<Instant>>,
}

impl BulkPacer {
    pub fn new(rows_per_second: u64) -> BulkPacer {
        BulkPacer {
            rows_per_second,
            next_free: Mutex::new(None),
        }
    }

    /// Waits for the turn of `rows` bulk rows, or refuses them when that turn is more than
    /// [`BULK_WAIT_MS_MAX`] away (nothing is reserved then).
    pub async fn admit(&self, rows: u64) -> Result<(), ApiError> {
        let metrics = crate::metrics::get();
        let wait = self.reserve(rows, Instant::now()).inspect_err(|_| {
            metrics.bulk_rows_refused.inc_by(rows);
        })?;
        if let Some(wait) = wait {
            metrics.bulk_rows_waited.inc_by(rows);
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Reserves the turn of `rows` at `now`: how long to wait first (`None`: go now).
    fn reserve(&self, rows: u64, now: Instant) -> Result<Option<Duration>, ApiError> {
        if rows == 0 || self.rows_per_second == 0 {
            return Ok(None);
        }
        let cost = Duration::from_secs_f64(rows as f64 / self.rows_per_second as f64);
        // One second's worth, or one transaction on an idle leader, goes at once.
        let burst = cost.max(Duration::from_secs(1));
        let mut next = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        let free = next.map_or(now, |t| t.max(now));
        let start = (free + cost).checked_sub(burst).unwrap_or(now).max(now);
        let wait = start.saturating_duration_since(now);
        if wait > Duration::from_millis(BULK_WAIT_MS_MAX) {
            return Err(exhausted(format!(
                "this leader paces bulk rows to {} a second (bulk_rows_per_second) and {rows} \
                 more would wait {} ms, more than {BULK_WAIT_MS_MAX} ms; nothing was recorded: \
                 send the same transaction again later",
                self.rows_per_second,
                wait.as_millis()
            )));
        }
        *next = Some(free + cost);
        Ok((!wait.is_zero()).then_some(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Option<Duration>) -> u128 {
        d.map_or(0, |d| d.as_millis())
    }

    #[test]
    fn a_burst_goes_at_once_then_rows_wait_their_turn() {
        let p = BulkPacer::new(10_000);
        let t = Instant::now();
        // One second's worth goes at once, the next waits a second, ... up to BULK_WAIT_MS_MAX.
        let turns = u128::from(BULK_WAIT_MS_MAX / 1_000) + 1;
        for turn in 0..turns {
            let wait = p.reserve(10_000, t).expect("admitted");
            assert_eq!(ms(wait), turn * 1_000);
        }
        // Beyond it refused, whatever the size, and nothing reserved.
        assert!(p.reserve(10_000, t).is_err());
        assert!(p.reserve(50_000, t).is_err());
        let later = t + Duration::from_secs(1);
        assert_eq!(
            ms(p.reserve(10_000, later).expect("admitted")),
            (turns - 1) * 1_000
        );
    }

    #[test]
    fn a_quiet_spell_gives_back_one_burst_and_no_more() {
        let p = BulkPacer::new(10_000);
        let t = Instant::now();
        assert_eq!(ms(p.reserve(10_000, t).expect("admitted")), 0);
        let later = t + Duration::from_secs(60);
        assert_eq!(ms(p.reserve(10_000, later).expect("admitted")), 0);
        assert_eq!(ms(p.reserve(10_000, later).expect("admitted")), 1_000);
    }

    #[test]
    fn rowless_transactions_and_an_unpaced_leader_never_wait() {
        let p = BulkPacer::new(10_000);
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(ms(p.reserve(0, t).expect("admitted")), 0);
        }
        let unpaced = BulkPacer::new(0);
        for _ in 0..10 {
            assert_eq!(ms(unpaced.reserve(10_000, t).expect("admitted")), 0);
        }
    }
}
