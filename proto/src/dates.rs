//! Calendar dates of the protocol: China Standard Time (UTC+8, no daylight saving), the
//! registry's legal time zone. Dates are yyyymmdd integers, months yyyymm. Pure functions: the
//! ledger applies them to the leader's timestamp, clients to their own clock.

const MS_PER_DAY: u64 = 86_400_000;
const CST_OFFSET_MS: u64 = 8 * 3_600_000;

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian (after H. Hinnant's
/// public-domain `civil_from_days` algorithm).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y as u32, m as u32, d as u32)
}

/// The CST calendar date (yyyymmdd) of a Unix-ms timestamp.
pub fn date_of(timestamp_ms: u64) -> u32 {
    let (y, m, d) = civil_from_days(timestamp_ms.saturating_add(CST_OFFSET_MS) / MS_PER_DAY);
    y * 10_000 + m * 100 + d
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `date` is a real yyyymmdd date between 2000 and 2199.
pub fn is_valid_date(date: u32) -> bool {
    let (y, m, d) = (date / 10_000, date / 100 % 100, date % 100);
    (2000..2200).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// yyyymm of the calendar month before the one `date` falls in.
pub fn previous_month(date: u32) -> u32 {
    let (y, m) = (date / 10_000, date / 100 % 100);
    if m == 1 {
        (y - 1) * 100 + 12
    } else {
        y * 100 + m - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_in_china_standard_time() {
        assert_eq!(date_of(0), 19700101);
        // 2025-12-31T16:00:00Z is already 2026-01-01 in Beijing.
        assert_eq!(date_of(1_767_196_800_000), 20260101);
        assert_eq!(date_of(1_767_196_799_999), 20251231);
        // A leap day.
        assert_eq!(date_of(1_709_164_800_000), 20240229);
    }

    #[test]
    fn validity_and_previous_month() {
        assert!(is_valid_date(20240229));
        assert!(!is_valid_date(20250229));
        assert!(!is_valid_date(20251301));
        assert!(!is_valid_date(20250100));
        assert_eq!(previous_month(20260115), 202512);
        assert_eq!(previous_month(20261231), 202611);
    }
}
