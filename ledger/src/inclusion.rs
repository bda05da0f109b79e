//! Carbon inclusion (碳普惠, domain rule 16, ledger version 4).
//!
//! * A **platform** is an account of role `platform` the regulator opens; once the regulator
//!   allows it ([`allow`]), it opens **personal accounts** in bulk ([`open_personal`], up to
//!   [`PERSONAL_ACCOUNTS_PER_TX_MAX`] per transaction): role individual, custodial (a copy of
//!   the platform's key set) until the owner replaces the keys with `UpdateKeys`.
//! * The regulator approves **inclusion methodologies** ([`approve`]): code, behaviour, the
//!   platforms that may use it, a daily cap per person in grams.
//! * A platform **records reductions** ([`record`]): one methodology, one CST date, up to
//!   [`REDUCTION_ROWS_PER_TX_MAX`] (person, grams) rows, all or nothing, each within the
//!   person's daily cap; a refused row is named by its row number. A person's recorded grams
//!   per methodology and year are their **carbon points**: one cold points line per person,
//!   day, methodology and recording transaction (`keys::points_line`, about 40 bytes), and
//!   one hot total per platform, methodology and year.
//! * **Conversion** ([`convert`]): the regulator issues PHCER (vintage = the year, unit class
//!   project = the methodology) to the platform for the whole tonnes of its recorded, not yet
//!   converted grams; those grams are converted for good.
//!
//! Nothing here runs in an entry of a version older than [`INCLUSION_VERSION`].

use super::dates;
use super::error::{reject, Abort, ErrorCode, LedgerError, Res};
use super::exec::{add, check_id, check_text, mul, read_all, sub, Exec};
use super::keys;
use super::limits::{
    DAILY_CAP_GRAMS_MAX, METHODOLOGY_PLATFORMS_MAX, PERSONAL_ACCOUNTS_PER_TX_MAX,
    PERSONAL_NAME_BYTES_MAX, REDUCTION_ROWS_PER_TX_MAX,
};
use super::store::{StateView, ViewFault};
use carbon_proto::v1::{
    Account, AccountStatus, AllowPersonalAccounts, ApproveMethodology, ConvertReductions, Effects,
    InclusionMethodology, InclusionTotal, OpenPersonalAccounts, PlatformRecord, PointsLine,
    RecordReductions, Role, UnitClass, UnitKind,
};
use prost::Message as _;
use std::collections::BTreeMap;

/// The first ledger version with rule 16.
pub const INCLUSION_VERSION: u32 = 4;
/// Grams CO2e in one tonne (one unit).
pub const GRAMS_PER_TONNE: u64 = 1_000_000;

/// Operations of rule 16 are refused in entries of an older version.
fn require_version(x: &Exec, what: &str) -> Res<()> {
    if x.ctx.ledger_version < INCLUSION_VERSION {
        return reject(
            ErrorCode::VersionNotActive,
            format!(
                "{what} needs ledger version {INCLUSION_VERSION}; this entry applies version {}",
                x.ctx.ledger_version
            ),
        );
    }
    Ok(())
}

/// A row's rejection, its message prefixed with the row number (from 1).
fn at_row<T>(n: usize, r: Res<T>) -> Res<T> {
    r.map_err(|e| match e {
        Abort::Rejected(e) => {
            Abort::Rejected(LedgerError::new(e.code, format!("row {n}: {}", e.message)))
        }
        fault => fault,
    })
}

fn platform_record(x: &Exec, platform_id: &str) -> Res<PlatformRecord> {
    Ok(x.get::<PlatformRecord>(&keys::platform(platform_id))?
        .unwrap_or_else(|| PlatformRecord {
            platform_id: platform_id.to_string(),
            ..Default::default()
        }))
}

pub fn allow(x: &mut Exec, op: &AllowPersonalAccounts) -> Res<Effects> {
    require_version(x, "allowing personal accounts")?;
    x.require_regulator()?;
    x.open_account_of_role(&op.platform_id, Role::Platform, "platform")?;
    let mut p = platform_record(x, &op.platform_id)?;
    p.personal_accounts_allowed = op.allowed;
    x.put(keys::platform(&op.platform_id), &p);
    x.touch(&op.platform_id);
    Ok(Effects::default())
}

fn check_rows(n: usize, max: usize, what: &str) -> Res<()> {
    if n == 0 {
        return reject(ErrorCode::InvalidArgument, format!("no {what} given"));
    }
    if n > max {
        return reject(
            ErrorCode::TooManyRows,
            format!("{n} {what}: one transaction carries at most {max}"),
        );
    }
    Ok(())
}

pub fn open_personal(x: &mut Exec, op: &OpenPersonalAccounts) -> Res<Effects> {
    require_version(x, "opening personal accounts")?;
    x.require_signer(&op.platform_id, "the platform")?;
    let platform = x.open_account_of_role(&op.platform_id, Role::Platform, "opening account")?;
    let mut p = platform_record(x, &op.platform_id)?;
    if !p.personal_accounts_allowed {
        return reject(
            ErrorCode::PersonalAccountsNotAllowed,
            format!(
                "the regulator has not allowed platform {:?} to open personal accounts",
                op.platform_id
            ),
        );
    }
    check_text(&op.region, "region", false)?;
    check_rows(
        op.accounts.len(),
        PERSONAL_ACCOUNTS_PER_TX_MAX,
        "personal accounts",
    )?;
    let region = if op.region.is_empty() {
        platform.region.clone()
    } else {
        op.region.clone()
    };
    for (i, row) in op.accounts.iter().enumerate() {
        let n = i.saturating_add(1);
        at_row(n, check_id(&row.account_id, "account id"))?;
        if row.name.len() > PERSONAL_NAME_BYTES_MAX {
            return reject(
                ErrorCode::InvalidArgument,
                format!("row {n}: the name is longer than {PERSONAL_NAME_BYTES_MAX} bytes"),
            );
        }
        let key = keys::account(&row.account_id);
        if x.st.get(&key)?.is_some() {
            return reject(
                ErrorCode::AccountExists,
                format!("row {n}: account {:?} already exists", row.account_id),
            );
        }
        let a = Account {
            account_id: row.account_id.clone(),
            role: Role::Individual as i32,
            name: row.name.clone(),
            region: region.clone(),
            public_keys: platform.public_keys.clone(),
            threshold: platform.threshold,
            status: AccountStatus::Open as i32,
            outstanding_shortfall: 0,
            platform_id: op.platform_id.clone(),
            custodial: true,
        };
        x.st.put(key, a.encode_to_vec());
    }
    let opened = op.accounts.len() as u64;
    p.accounts_opened = add(p.accounts_opened, opened, "the platform's accounts opened")?;
    x.put(keys::platform(&op.platform_id), &p);
    Ok(Effects {
        accounts_opened: u32::try_from(opened).unwrap_or(u32::MAX),
        ..Default::default()
    })
}

pub fn approve(x: &mut Exec, op: &ApproveMethodology) -> Res<Effects> {
    require_version(x, "approving an inclusion methodology")?;
    x.require_regulator()?;
    let Some(m) = &op.methodology else {
        return reject(ErrorCode::InvalidArgument, "no methodology given");
    };
    check_id(&m.code, "methodology code")?;
    check_text(&m.behaviour, "behaviour", true)?;
    if m.platform_ids.is_empty() || m.platform_ids.len() > METHODOLOGY_PLATFORMS_MAX {
        return reject(
            ErrorCode::InvalidArgument,
            format!("a methodology names 1 to {METHODOLOGY_PLATFORMS_MAX} platforms"),
        );
    }
    for (i, p) in m.platform_ids.iter().enumerate() {
        x.open_account_of_role(p, Role::Platform, "methodology's platform")?;
        if m.platform_ids[..i].contains(p) {
            return reject(
                ErrorCode::InvalidArgument,
                format!("platform {p:?} is listed twice"),
            );
        }
    }
    if m.daily_cap_grams == 0 {
        return reject(
            ErrorCode::ZeroAmount,
            "the daily cap must be more than zero",
        );
    }
    if m.daily_cap_grams > DAILY_CAP_GRAMS_MAX {
        return reject(
            ErrorCode::InvalidArgument,
            format!("a daily cap is at most {DAILY_CAP_GRAMS_MAX} grams (one tonne)"),
        );
    }
    let record = InclusionMethodology {
        approved_sequence: x.sequence,
        ..m.clone()
    };
    x.put(keys::methodology(&m.code), &record);
    Ok(Effects::default())
}

fn methodology(x: &Exec, code: &str) -> Res<InclusionMethodology> {
    match x.get::<InclusionMethodology>(&keys::methodology(code))? {
        Some(m) => Ok(m),
        None => reject(
            ErrorCode::UnknownMethodology,
            format!("no inclusion methodology {code:?} is approved"),
        ),
    }
}

/// Grams already recorded for a person on a day under a methodology.
fn recorded_on(x: &Exec, person: &str, date: u32, methodology: &str) -> Res<u64> {
    let mut sum = 0u64;
    for (k, v) in
        x.st.scan_prefix(&keys::points_of_day(person, date, methodology))?
    {
        let line = PointsLine::decode(v.as_slice())
            .map_err(|e| ViewFault(format!("points line {} : {e}", hex::encode(&k))))?;
        sum = add(sum, line.grams, "a person's grams of the day")?;
    }
    Ok(sum)
}

/// The person named by a row: a personal account of the platform, open.
fn person_of(x: &Exec, platform_id: &str, person: &str) -> Res<()> {
    let a = x.account(person)?;
    if a.role() != Role::Individual || a.platform_id != platform_id {
        return reject(
            ErrorCode::NotPersonalAccountOfPlatform,
            format!("account {person:?} is not a personal account of platform {platform_id:?}"),
        );
    }
    if a.status() != AccountStatus::Open {
        return reject(
            ErrorCode::AccountNotOpen,
            format!("account {person:?} is not open"),
        );
    }
    Ok(())
}

fn check_record_date(x: &Exec, date: u32) -> Res<()> {
    if !dates::is_valid_date(date) {
        return reject(
            ErrorCode::InvalidArgument,
            format!("{date} is not a yyyymmdd date"),
        );
    }
    let today = dates::date_of(x.ctx.timestamp_ms);
    if date > today {
        return reject(
            ErrorCode::DateInFuture,
            format!("reductions of {date} cannot be recorded on {today} (CST)"),
        );
    }
    Ok(())
}

pub fn record(x: &mut Exec, op: &RecordReductions) -> Res<Effects> {
    require_version(x, "recording reductions")?;
    x.require_signer(&op.platform_id, "the platform")?;
    x.open_account_of_role(&op.platform_id, Role::Platform, "recording account")?;
    let m = methodology(x, &op.methodology)?;
    if !m.platform_ids.contains(&op.platform_id) {
        return reject(
            ErrorCode::MethodologyNotPermitted,
            format!(
                "platform {:?} may not record under methodology {:?}",
                op.platform_id, op.methodology
            ),
        );
    }
    check_record_date(x, op.date)?;
    check_rows(op.rows.len(), REDUCTION_ROWS_PER_TX_MAX, "reduction rows")?;
    // Per person: (grams recorded before this transaction, grams of its rows).
    let mut day: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut total = 0u64;
    for (i, row) in op.rows.iter().enumerate() {
        let n = i.saturating_add(1);
        if row.grams == 0 {
            return reject(
                ErrorCode::ZeroAmount,
                format!("row {n}: the grams must be more than zero"),
            );
        }
        let (before, added) = match day.get(row.account_id.as_str()) {
            Some(&seen) => seen,
            None => {
                at_row(n, person_of(x, &op.platform_id, &row.account_id))?;
                (recorded_on(x, &row.account_id, op.date, &m.code)?, 0)
            }
        };
        let added = at_row(n, add(added, row.grams, "a person's grams"))?;
        let after = at_row(n, add(before, added, "a person's grams"))?;
        if after > m.daily_cap_grams {
            return reject(
                ErrorCode::DailyCapExceeded,
                format!(
                    "row {n}: {:?} would have {after} g under {:?} on {}, over the daily cap of {} g ({before} g recorded before)",
                    row.account_id, m.code, op.date, m.daily_cap_grams
                ),
            );
        }
        day.insert(row.account_id.as_str(), (before, added));
        total = add(total, row.grams, "the transaction's grams")?;
    }
    for (person, (_, grams)) in day {
        let line = PointsLine {
            grams,
            ..Default::default()
        };
        let key = keys::points_line(person, op.date, &m.code, x.sequence);
        x.st.put(key, line.encode_to_vec());
    }
    let year = op.date / 10_000;
    let mut t = total_record(x, year, &m.code, &op.platform_id)?;
    t.recorded_grams = add(t.recorded_grams, total, "the platform's recorded grams")?;
    x.put(keys::inclusion_total(year, &m.code, &op.platform_id), &t);
    Ok(Effects {
        grams_recorded: total,
        ..Default::default()
    })
}

fn total_record(x: &Exec, year: u32, methodology: &str, platform: &str) -> Res<InclusionTotal> {
    let key = keys::inclusion_total(year, methodology, platform);
    Ok(x.get::<InclusionTotal>(&key)?
        .unwrap_or_else(|| InclusionTotal {
            platform_id: platform.to_string(),
            methodology: methodology.to_string(),
            year,
            ..Default::default()
        }))
}

/// The unit class of the PHCER of a methodology and year.
pub fn phcer_class(methodology: &str, year: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Phcer as i32,
        vintage: year,
        project_id: methodology.to_string(),
    }
}

pub fn convert(x: &mut Exec, op: &ConvertReductions) -> Res<Effects> {
    require_version(x, "converting reductions")?;
    x.require_regulator()?;
    x.open_account_of_role(&op.platform_id, Role::Platform, "platform")?;
    let m = methodology(x, &op.methodology)?;
    let mut t = total_record(x, op.year, &m.code, &op.platform_id)?;
    let left = sub(
        t.recorded_grams,
        t.converted_grams,
        "grams not yet converted",
    )?;
    let tonnes = left / GRAMS_PER_TONNE;
    if tonnes == 0 {
        return reject(
            ErrorCode::NothingToConvert,
            format!(
                "platform {:?} has {left} g recorded and not yet converted under {:?} in {}: less than one tonne",
                op.platform_id, m.code, op.year
            ),
        );
    }
    let grams = mul(tonnes, GRAMS_PER_TONNE, "the converted grams")?;
    let class = phcer_class(&m.code, op.year);
    let (first, last) = x.create_serials(&class, tonnes)?;
    x.give_created(&op.platform_id, &class, &vec![(first, last)])?;
    t.converted_grams = add(t.converted_grams, grams, "the platform's converted grams")?;
    x.put(keys::inclusion_total(op.year, &m.code, &op.platform_id), &t);
    x.touch(&op.platform_id);
    Ok(Effects {
        created: super::holdings::to_ranges(&class, &vec![(first, last)]),
        grams_converted: grams,
        ..Default::default()
    })
}

// ---- Reads ----

type R<T> = Result<T, ViewFault>;

/// A person's points by methodology and year (`year` 0: every year).
pub fn points(
    v: &dyn StateView,
    person: &str,
    year: u32,
) -> R<Vec<carbon_proto::v1::CarbonPoints>> {
    let mut sums: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let rows = if year == 0 {
        v.scan_prefix(&keys::points_of(person))?
    } else {
        year_lines(v, person, year)?
    };
    for (k, val) in rows {
        let (_, date, methodology, _) = parse_line_key(&k)?;
        let grams = decode_line(&k, &val)?.grams;
        let e = sums.entry((methodology, date / 10_000)).or_default();
        *e = e.saturating_add(grams);
    }
    Ok(sums
        .into_iter()
        .map(
            |((methodology, year), grams)| carbon_proto::v1::CarbonPoints {
                account_id: person.to_string(),
                methodology,
                year,
                grams,
            },
        )
        .collect())
}

/// Every points line of a person in one year (the dates of a year are contiguous keys).
fn year_lines(v: &dyn StateView, person: &str, year: u32) -> R<super::store::Rows> {
    let start = keys::points_from(person, year.saturating_mul(10_000));
    let end = keys::points_from(person, year.saturating_add(1).saturating_mul(10_000));
    let mut out = Vec::new();
    let mut from = start;
    loop {
        let rows = v.scan_from(&keys::points_of(person), &from, 1_024)?;
        let n = rows.len();
        for (k, val) in rows {
            if k >= end {
                return Ok(out);
            }
            from = k.clone();
            from.push(0);
            out.push((k, val));
        }
        if n < 1_024 {
            return Ok(out);
        }
    }
}

fn parse_line_key(k: &[u8]) -> R<(String, u32, String, u64)> {
    keys::parse_points_line(k)
        .ok_or_else(|| ViewFault(format!("points line key {} is malformed", hex::encode(k))))
}

fn decode_line(k: &[u8], val: &[u8]) -> R<PointsLine> {
    PointsLine::decode(val).map_err(|e| ViewFault(format!("points line {}: {e}", hex::encode(k))))
}

/// A page of a person's points statement: lines dated `from..=to` (0: open-ended) after the
/// state key `after`, with their keys (the last is the next page's token).
pub fn statement_page(
    v: &dyn StateView,
    person: &str,
    from: u32,
    to: u32,
    after: &[u8],
    limit: usize,
) -> R<super::queries::Page<PointsLine>> {
    let start = if after.is_empty() {
        keys::points_from(person, from)
    } else {
        after.to_vec()
    };
    super::queries::page(v, &keys::points_of(person), &start, limit, |k, val| {
        let (_, date, methodology, sequence) = parse_line_key(k)?;
        if date < from || (to != 0 && date > to) {
            return Ok(None);
        }
        Ok(Some(PointsLine {
            date,
            methodology,
            grams: decode_line(k, val)?.grams,
            sequence,
        }))
    })
}

/// The inclusion totals (`platform` empty: every platform; `year` 0: every year), each with
/// its platform's region as its city.
pub fn totals(v: &dyn StateView, platform: &str, year: u32) -> R<Vec<InclusionTotal>> {
    let prefix = if year == 0 {
        keys::INCLUSION_TOTALS.to_vec()
    } else {
        keys::inclusion_totals_of(year)
    };
    let mut cities: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, mut t) in read_all::<InclusionTotal>(v, &prefix)? {
        if !platform.is_empty() && t.platform_id != platform {
            continue;
        }
        if !cities.contains_key(&t.platform_id) {
            let a = super::queries::account(v, &t.platform_id)?;
            cities.insert(
                t.platform_id.clone(),
                a.map(|a| a.region).unwrap_or_default(),
            );
        }
        t.city = cities.get(&t.platform_id).cloned().unwrap_or_default();
        out.push(t);
    }
    Ok(out)
}

pub fn methodologies(v: &dyn StateView) -> R<Vec<InclusionMethodology>> {
    Ok(read_all::<InclusionMethodology>(v, keys::METHODOLOGIES)?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

pub fn platforms(v: &dyn StateView) -> R<Vec<PlatformRecord>> {
    Ok(read_all::<PlatformRecord>(v, keys::PLATFORMS)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}
