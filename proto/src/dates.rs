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

/// (year, month, day) -> days since 1970-01-01, proleptic Gregorian (Hinnant's
/// `days_from_civil`, the inverse of [`civil_from_days`]); dates before 1970 give 0.
fn days_from_civil(y: u32, m: u32, d: u32) -> u64 {
    let y = u64::from(y) - u64::from(m <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (u64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + u64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// The Unix-ms timestamp at which a CST date (a valid yyyymmdd) begins.
pub fn start_ms(date: u32) -> u64 {
    let days = days_from_civil(date / 10_000, date / 100 % 100, date % 100);
    (days * MS_PER_DAY).saturating_sub(CST_OFFSET_MS)
}

/// The CST calendar date (yyyymmdd) of a Unix-ms timestamp.
pub fn date_of(timestamp_ms: u64) -> u32 {
    let (y, m, d) = civil_from_days(timestamp_ms.saturating_add(CST_OFFSET_MS) / MS_PER_DAY);
    y * 10_000 + m * 100 + d
}

/// Days of month `m` (1..=12) of year `y`; zero for a month that does not exist.
pub fn days_in_month(y: u32, m: u32) -> u32 {
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

/// The day after `date` (a valid yyyymmdd date).
pub fn next_day(date: u32) -> u32 {
    let (y, m, d) = (date / 10_000, date / 100 % 100, date % 100);
    if d < days_in_month(y, m) {
        date + 1
    } else if m < 12 {
        y * 10_000 + (m + 1) * 100 + 1
    } else {
        (y + 1) * 10_000 + 101
    }
}

/// The penalty reference window of a surrender deadline (domain rule 11, Decree 775 art. 24:
/// 清缴时限前1个月): the one month ending on the deadline, as inclusive CST dates. It starts the
/// day after the same day of the previous month; when the previous month is shorter, its last
/// day stands in for the missing one. A deadline on the 31st therefore covers exactly its
/// calendar month (2026-12-31 -> 2026-12-01..=2026-12-31), and one on the 30th after a 31-day
/// month starts on that month's 31st (2026-11-30 -> 2026-10-31..=2026-11-30). `deadline` must be
/// a valid date.
pub fn penalty_window(deadline: u32) -> (u32, u32) {
    let (y, m, d) = (deadline / 10_000, deadline / 100 % 100, deadline % 100);
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let same_day = d.min(days_in_month(py, pm));
    (next_day(py * 10_000 + pm * 100 + same_day), deadline)
}

/// Parses a calendar date written `2026-12-31` or `20261231`; the date must exist.
pub fn parse_date(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let digits: String = match t.len() {
        10 if t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => {
            [&t[0..4], &t[5..7], &t[8..10]].concat()
        }
        8 => t.to_string(),
        _ => String::new(),
    };
    let date = if digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u32>().ok()
    } else {
        None
    };
    match date {
        Some(d) if is_valid_date(d) => Ok(d),
        Some(_) => Err(format!(
            "{t:?} is not a date between 2000-01-01 and 2199-12-31"
        )),
        None => Err(format!("{t:?} is not a date: write 2026-12-31 or 20261231")),
    }
}

/// `2026-12-31` for 20261231.
pub fn format_date(date: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date / 10_000,
        date / 100 % 100,
        date % 100
    )
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
    fn validity() {
        assert!(is_valid_date(20240229));
        assert!(!is_valid_date(20250229));
        assert!(!is_valid_date(20251301));
        assert!(!is_valid_date(20250100));
    }

    #[test]
    fn the_penalty_window_is_the_one_month_ending_on_the_deadline() {
        // Last day of a month: exactly that calendar month.
        assert_eq!(penalty_window(20261231), (20261201, 20261231));
        assert_eq!(penalty_window(20261031), (20261001, 20261031));
        // February: one month back from its last day (leap years too).
        assert_eq!(penalty_window(20260228), (20260129, 20260228));
        assert_eq!(penalty_window(20240229), (20240130, 20240229));
        assert_eq!(penalty_window(20250228), (20250129, 20250228));
        // The previous month is shorter: its last day stands in for the missing one.
        assert_eq!(penalty_window(20260331), (20260301, 20260331));
        assert_eq!(penalty_window(20260330), (20260301, 20260330));
        assert_eq!(penalty_window(20260329), (20260301, 20260329));
        assert_eq!(penalty_window(20260328), (20260301, 20260328));
        assert_eq!(penalty_window(20240329), (20240301, 20240329));
        assert_eq!(penalty_window(20240328), (20240229, 20240328));
        // The previous month is longer: the 30th of a month follows the 30th of a 31-day one.
        assert_eq!(penalty_window(20261130), (20261031, 20261130));
        assert_eq!(penalty_window(20260430), (20260331, 20260430));
        // Mid-month, and across a year boundary.
        assert_eq!(penalty_window(20261215), (20261116, 20261215));
        assert_eq!(penalty_window(20270115), (20261216, 20270115));
        assert_eq!(penalty_window(20270131), (20270101, 20270131));
        assert_eq!(penalty_window(20270101), (20261202, 20270101));
    }

    #[test]
    fn dates_parse_in_both_spellings() {
        assert_eq!(parse_date("2026-12-31"), Ok(20261231));
        assert_eq!(parse_date("20261231"), Ok(20261231));
        assert_eq!(parse_date(" 2024-02-29 "), Ok(20240229));
        for bad in [
            "2025-02-29",
            "20251301",
            "2026/12/31",
            "2026-1-31",
            "x",
            "",
            "1999-12-31",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert_eq!(format_date(20260105), "2026-01-05");
        for d in [20240229, 20251231, 20260101, 20261201, 21991231] {
            assert_eq!(date_of(start_ms(d)), d);
            assert!(date_of(start_ms(d) - 1) < d, "{d}");
        }
        assert_eq!(start_ms(20260101), 1_767_196_800_000);
        assert_eq!(next_day(20261231), 20270101);
        assert_eq!(next_day(20240228), 20240229);
        assert_eq!(next_day(20250228), 20250301);
    }
}
