//! Compliance: verified emissions, surrender against a year's obligation, and closing a year.
//!
//! Surrender rules (domain rule 10): allowances of vintage <= year only (banking yes, borrowing
//! no); credits at most 5 % of verified emissions over all of the year's surrenders; never more
//! than the remaining obligation. Closing (rule 11) settles every record of the year: compliant,
//! or non-compliant with a shortfall that is carried to the next allocation and a penalty of
//! shortfall x the reference price (the average CEA price of the one month ending on the
//! deadline, [`reference_price`]) x the multiplier.

use super::dates;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_quantity, mul, read_all, Exec};
use super::keys;
use super::trading::reference_price;
use carbon_proto::v1::{
    Allocation, CloseComplianceYear, ComplianceRecord, ComplianceStatus, Effects, ReportEmissions,
    RetireReason, Role, Surrender, UnitKind, YearClose,
};

/// Credits may cover at most this share of verified emissions, in percent.
pub const CREDIT_CAP_PERCENT: u64 = 5;
/// The most credits `verified_emissions` allow, over all of a year's surrenders (rounded down).
fn credit_cap(verified_emissions: u64) -> u64 {
    // u64 x 5 fits in u128; / 100 brings it back below u64::MAX.
    u128::from(verified_emissions)
        .checked_mul(u128::from(CREDIT_CAP_PERCENT))
        .and_then(|c| u64::try_from(c / 100).ok())
        .unwrap_or(u64::MAX)
}

/// Allowed penalty multipliers.
pub const PENALTY_MULTIPLIERS: std::ops::RangeInclusive<u32> = 5..=10;

fn check_open_year(x: &Exec, year: u32) -> Res<()> {
    if !super::allocation::VINTAGES.contains(&year) {
        return reject(
            ErrorCode::InvalidArgument,
            format!("{year} is not a compliance year the registry knows"),
        );
    }
    if x.get::<YearClose>(&keys::year_close(year))?.is_some() {
        return reject(
            ErrorCode::YearClosed,
            format!("compliance year {year} is closed"),
        );
    }
    Ok(())
}

fn record(x: &Exec, enterprise: &str, year: u32) -> Res<ComplianceRecord> {
    Ok(
        x.get::<ComplianceRecord>(&keys::compliance(year, enterprise))?
            .unwrap_or_else(|| ComplianceRecord {
                enterprise_id: enterprise.to_string(),
                year,
                status: ComplianceStatus::Pending as i32,
                ..Default::default()
            }),
    )
}

fn save(x: &mut Exec, r: &ComplianceRecord) {
    x.put(keys::compliance(r.year, &r.enterprise_id), r);
}

/// Adds to a year's obligation (a true-up reduction that could not be withdrawn).
pub fn add_obligation(x: &mut Exec, enterprise: &str, year: u32, extra: u64) -> Res<()> {
    let mut r = record(x, enterprise, year)?;
    r.obligation = add(r.obligation, extra, "the obligation")?;
    save(x, &r);
    Ok(())
}

pub fn report(x: &mut Exec, op: &ReportEmissions) -> Res<Effects> {
    let signer = x.signer_with_role(
        &[Role::Verifier, Role::Regulator],
        "a verifier or the regulator",
    )?;
    check_open_year(x, op.year)?;
    x.open_account_of_role(&op.enterprise_id, Role::Enterprise, "reporting entity")?;
    let mut r = record(x, &op.enterprise_id, op.year)?;
    if r.emissions_reported && signer.role() != Role::Regulator {
        return reject(
            ErrorCode::RoleNotPermitted,
            format!(
                "emissions of {:?} for {} are already reported; only the regulator corrects them",
                op.enterprise_id, op.year
            ),
        );
    }
    let extra = r.obligation.saturating_sub(r.verified_emissions);
    r.verified_emissions = op.tonnes;
    r.obligation = add(op.tonnes, extra, "the obligation")?;
    r.emissions_reported = true;
    r.emission_reports = r.emission_reports.saturating_add(1);
    save(x, &r);
    x.touch(&op.enterprise_id);
    Ok(Effects::default())
}

/// The credit kinds a surrender may use when the genesis lists none.
pub const DEFAULT_OFFSET_KINDS: [UnitKind; 3] =
    [UnitKind::Ccer, UnitKind::Forestry, UnitKind::BlueCarbon];

/// Whether the genesis lets credits of `kind` count against an obligation (rule 10 within the
/// cap; rule 16: PHCER only when listed).
pub fn offset_kind_eligible(g: &carbon_proto::v1::Genesis, kind: UnitKind) -> bool {
    if g.eligible_offset_kinds.is_empty() {
        DEFAULT_OFFSET_KINDS.contains(&kind)
    } else {
        g.eligible_offset_kinds.contains(&(kind as i32))
    }
}

/// From ledger version 4 on, a surrender of credits checks the genesis's eligible offset kinds
/// (before it, every credit kind there was counted).
fn check_offset_kind(x: &Exec, kind: UnitKind) -> Res<()> {
    if x.ctx.ledger_version < super::inclusion::INCLUSION_VERSION
        || offset_kind_eligible(x.genesis, kind)
    {
        return Ok(());
    }
    reject(
        ErrorCode::OffsetKindNotEligible,
        format!(
            "this registry's genesis does not list {} among the credit kinds a surrender may use",
            kind.as_str_name()
        ),
    )
}

pub fn surrender(x: &mut Exec, op: &Surrender) -> Res<Effects> {
    x.require_signer(&op.enterprise_id, "the enterprise")?;
    check_quantity(op.quantity, "the surrendered quantity")?;
    check_open_year(x, op.year)?;
    x.open_account_of_role(&op.enterprise_id, Role::Enterprise, "surrendering account")?;
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    let mut r = record(x, &op.enterprise_id, op.year)?;
    if !r.emissions_reported {
        return reject(
            ErrorCode::NoVerifiedEmissions,
            format!(
                "no verified emissions are reported for {:?} in {}",
                op.enterprise_id, op.year
            ),
        );
    }
    let surrendered = add(
        r.surrendered_allowances,
        r.surrendered_credits,
        "surrenders",
    )?;
    let remaining = r.obligation.saturating_sub(surrendered);
    if op.quantity > remaining {
        return reject(
            ErrorCode::ExceedsObligation,
            format!(
                "the remaining obligation for {} is {remaining}, {} cannot be surrendered",
                op.year, op.quantity
            ),
        );
    }
    if class.kind() == UnitKind::Cea {
        if class.vintage > op.year {
            return reject(
                ErrorCode::BorrowingNotAllowed,
                format!(
                    "allowances of vintage {} cannot cover {} (no borrowing)",
                    class.vintage, op.year
                ),
            );
        }
        r.surrendered_allowances = add(r.surrendered_allowances, op.quantity, "surrenders")?;
    } else {
        check_offset_kind(x, class.kind())?;
        let cap = credit_cap(r.verified_emissions);
        let after = add(r.surrendered_credits, op.quantity, "surrendered credits")?;
        if after > cap {
            return reject(
                ErrorCode::CreditCapExceeded,
                format!(
                    "credits may cover at most {CREDIT_CAP_PERCENT} % of verified emissions ({cap}); {} were surrendered, {} more is too many",
                    r.surrendered_credits, op.quantity
                ),
            );
        }
        r.surrendered_credits = after;
    }
    let retired = x.retire(
        &op.enterprise_id,
        &class,
        op.quantity,
        RetireReason::Surrendered,
        op.year,
    )?;
    save(x, &r);
    Ok(Effects {
        retired,
        ..Default::default()
    })
}

/// Closes a compliance year (domain rule 11): every record of the year is settled, a shortfall is
/// carried to the enterprise's account with its penalty, and the year is marked closed.
/// Reads and writes happen in this order: the checks, who is covered, the reference price, then
/// each record in key order, then the year's close.
pub fn close_year(x: &mut Exec, op: &CloseComplianceYear) -> Res<Effects> {
    check_close(x, op)?;
    let records = covered_records(x, op.year)?;
    let price = penalty_price(x, op)?;
    let mut closed = Vec::with_capacity(records.len());
    for (_, r) in records {
        let r = settle(r, price, op.penalty_multiplier)?;
        write_settled(x, &r)?;
        closed.push(r);
    }
    let close = YearClose {
        year: op.year,
        deadline_date: op.deadline_date,
        penalty_multiplier: op.penalty_multiplier,
        reference_price_fen: price,
        sequence: x.sequence,
    };
    x.put(keys::year_close(op.year), &close);
    Ok(Effects {
        closed_records: closed,
        ..Default::default()
    })
}

/// The regulator closes an open year, with an allowed multiplier, after a valid deadline.
fn check_close(x: &Exec, op: &CloseComplianceYear) -> Res<()> {
    x.require_regulator()?;
    check_open_year(x, op.year)?;
    if !PENALTY_MULTIPLIERS.contains(&op.penalty_multiplier) {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "the penalty multiplier is {}..={}, not {}",
                PENALTY_MULTIPLIERS.start(),
                PENALTY_MULTIPLIERS.end(),
                op.penalty_multiplier
            ),
        );
    }
    if !dates::is_valid_date(op.deadline_date) {
        return reject(
            ErrorCode::InvalidArgument,
            format!("deadline {} is not a yyyymmdd date", op.deadline_date),
        );
    }
    let today = dates::date_of(x.ctx.timestamp_ms);
    if today <= op.deadline_date {
        return reject(
            ErrorCode::DeadlineNotPassed,
            format!(
                "the deadline {} has not passed (today is {today})",
                op.deadline_date
            ),
        );
    }
    Ok(())
}

/// The year's compliance records, in key order, once every enterprise allocated allowances of
/// this vintage, and every record, has verified emissions.
fn covered_records(x: &Exec, year: u32) -> Res<Vec<(Vec<u8>, ComplianceRecord)>> {
    let allocations: Vec<(Vec<u8>, Allocation)> = read_all(&*x.st, &keys::allocations_of(year))?;
    for (_, a) in &allocations {
        let r = record(x, &a.enterprise_id, year)?;
        if !r.emissions_reported {
            return reject(
                ErrorCode::EmissionsNotReported,
                format!(
                    "{:?} received {} allowances but has no verified emissions",
                    a.enterprise_id, year
                ),
            );
        }
    }
    let records: Vec<(Vec<u8>, ComplianceRecord)> = read_all(&*x.st, &keys::compliance_of(year))?;
    if let Some((_, r)) = records.iter().find(|(_, r)| !r.emissions_reported) {
        return reject(
            ErrorCode::EmissionsNotReported,
            format!(
                "{:?} has an obligation but no verified emissions",
                r.enterprise_id
            ),
        );
    }
    Ok(records)
}

/// The penalty price per unit: the reference price ending on the deadline, else the fallback
/// price given with the close.
fn penalty_price(x: &Exec, op: &CloseComplianceYear) -> Res<u64> {
    let reference = reference_price(&*x.st, op.deadline_date)?;
    match reference.price_fen {
        Some(p) => Ok(p),
        None if op.fallback_price_fen > 0 => Ok(op.fallback_price_fen),
        None => reject(
            ErrorCode::NoReferencePrice,
            format!(
                "no allowances traded from {} to {}; give a fallback price",
                dates::format_date(reference.first_date),
                dates::format_date(reference.last_date)
            ),
        ),
    }
}

/// One enterprise's result: compliant, or non-compliant with the shortfall and its penalty
/// (shortfall x price x multiplier).
fn settle(mut r: ComplianceRecord, price: u64, multiplier: u32) -> Res<ComplianceRecord> {
    let surrendered = add(
        r.surrendered_allowances,
        r.surrendered_credits,
        "surrenders",
    )?;
    r.shortfall = r.obligation.saturating_sub(surrendered);
    if r.shortfall == 0 {
        r.status = ComplianceStatus::Compliant as i32;
    } else {
        r.status = ComplianceStatus::NonCompliant as i32;
        let per_unit = mul(price, u64::from(multiplier), "the penalty")?;
        r.penalty_fen = mul(r.shortfall, per_unit, "the penalty")?;
    }
    Ok(r)
}

/// Writes a settled record; a shortfall is added to the enterprise's outstanding shortfall
/// (deducted from its next allocation).
fn write_settled(x: &mut Exec, r: &ComplianceRecord) -> Res<()> {
    if r.shortfall != 0 {
        let mut ent = x.account(&r.enterprise_id)?;
        ent.outstanding_shortfall = add(ent.outstanding_shortfall, r.shortfall, "the shortfall")?;
        x.put_account(&ent);
    }
    save(x, r);
    x.touch(&r.enterprise_id);
    Ok(())
}
