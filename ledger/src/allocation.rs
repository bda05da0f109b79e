//! Allowances: declaring a vintage and its cap, pre-allocation, and the final true-up (top-up
//! creates units, reduction withdraws available units and adds what cannot be withdrawn to the
//! year's obligation). Any allocation is first reduced by the enterprise's outstanding shortfall
//! from closed years (Decree 775 art. 24).

use super::compliance;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_quantity, sub, Exec};
use super::holdings::to_ranges;
use super::keys;
use carbon_proto::v1::{
    Account, Allocate, Allocation, DeclareVintage, Effects, RetireReason, Role, TrueUp, UnitClass,
    UnitKind, Vintage, YearClose,
};

/// Vintages the registry accepts.
pub const VINTAGES: std::ops::RangeInclusive<u32> = 2000..=2100;

pub fn cea(vintage: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage,
        project_id: String::new(),
    }
}

pub fn declare_vintage(x: &mut Exec, op: &DeclareVintage) -> Res<Effects> {
    x.require_regulator()?;
    if !VINTAGES.contains(&op.vintage) {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "vintage {} is outside {}..={}",
                op.vintage,
                VINTAGES.start(),
                VINTAGES.end()
            ),
        );
    }
    check_quantity(op.cap, "the cap")?;
    if x.get::<Vintage>(&keys::vintage(op.vintage))?.is_some() {
        return reject(
            ErrorCode::VintageExists,
            format!("vintage {} is already declared", op.vintage),
        );
    }
    let v = Vintage {
        vintage: op.vintage,
        cap: op.cap,
        allocated: 0,
        remaining: 0,
    };
    x.put(keys::vintage(op.vintage), &v);
    Ok(Effects::default())
}

/// The checks every allocation shares: regulator signs, enterprise open, vintage declared and
/// its year not closed. Returns the enterprise, the vintage and the allocation record so far.
fn prepare(x: &mut Exec, enterprise: &str, vintage: u32) -> Res<(Account, Vintage, Allocation)> {
    x.require_regulator()?;
    let ent = x.open_account_of_role(enterprise, Role::Enterprise, "recipient of allowances")?;
    let Some(v) = x.get::<Vintage>(&keys::vintage(vintage))? else {
        return reject(
            ErrorCode::UnknownVintage,
            format!("vintage {vintage} has not been declared"),
        );
    };
    if x.get::<YearClose>(&keys::year_close(vintage))?.is_some() {
        return reject(
            ErrorCode::YearClosed,
            format!("compliance year {vintage} is closed"),
        );
    }
    let alloc = x
        .get::<Allocation>(&keys::allocation(vintage, enterprise))?
        .unwrap_or_else(|| Allocation {
            enterprise_id: enterprise.to_string(),
            vintage,
            ..Default::default()
        });
    Ok((ent, v, alloc))
}

/// Counts `quantity` against the cap, deducts outstanding shortfall, creates the rest of the
/// units for the enterprise. Returns the effects.
fn grant(
    x: &mut Exec,
    mut ent: Account,
    mut v: Vintage,
    alloc: &mut Allocation,
    quantity: u64,
) -> Res<Effects> {
    let allocated = add(v.allocated, quantity, "the vintage's allocations")?;
    if allocated > v.cap {
        return reject(
            ErrorCode::CapExceeded,
            format!(
                "vintage {} has cap {}, {} are allocated, {quantity} more would exceed it",
                v.vintage, v.cap, v.allocated
            ),
        );
    }
    v.allocated = allocated;
    x.put(keys::vintage(v.vintage), &v);

    let deducted = ent.outstanding_shortfall.min(quantity);
    let create = sub(quantity, deducted, "the allowances to create")?;
    let mut effects = Effects {
        shortfall_deducted: deducted,
        ..Default::default()
    };
    if deducted > 0 {
        ent.outstanding_shortfall = sub(ent.outstanding_shortfall, deducted, "the shortfall")?;
        x.put_account(&ent);
        alloc.shortfall_deducted = add(alloc.shortfall_deducted, deducted, "deductions")?;
    }
    if create > 0 {
        let class = cea(v.vintage);
        let range = x.create_serials(&class, create)?;
        x.give_created(&ent.account_id, &class, &vec![range])?;
        alloc.created = add(alloc.created, create, "created allowances")?;
        effects.created = to_ranges(&class, &vec![range]);
    }
    x.touch(&ent.account_id);
    Ok(effects)
}

pub fn allocate(x: &mut Exec, op: &Allocate) -> Res<Effects> {
    check_quantity(op.quantity, "the allocation")?;
    let (ent, v, mut alloc) = prepare(x, &op.enterprise_id, op.vintage)?;
    if alloc.pre_allocated > 0 || alloc.trued_up {
        return reject(
            ErrorCode::AlreadyAllocated,
            format!(
                "{:?} already has an allocation for vintage {}; adjust it with a true-up",
                op.enterprise_id, op.vintage
            ),
        );
    }
    alloc.pre_allocated = op.quantity;
    let effects = grant(x, ent, v, &mut alloc, op.quantity)?;
    x.put(keys::allocation(op.vintage, &op.enterprise_id), &alloc);
    Ok(effects)
}

pub fn true_up(x: &mut Exec, op: &TrueUp) -> Res<Effects> {
    let (ent, mut v, mut alloc) = prepare(x, &op.enterprise_id, op.vintage)?;
    if alloc.trued_up {
        return reject(
            ErrorCode::AlreadyTruedUp,
            format!(
                "{:?} was already trued up for vintage {}",
                op.enterprise_id, op.vintage
            ),
        );
    }
    let so_far = alloc.pre_allocated;
    alloc.trued_up = true;
    alloc.final_quantity = op.final_quantity;
    let effects = if op.final_quantity >= so_far {
        let top_up = sub(op.final_quantity, so_far, "the top-up")?;
        if top_up > 0 {
            grant(x, ent, v, &mut alloc, top_up)?
        } else {
            Effects::default()
        }
    } else {
        let reduction = sub(so_far, op.final_quantity, "the reduction")?;
        v.allocated = v.allocated.saturating_sub(reduction);
        x.put(keys::vintage(v.vintage), &v);
        let class = cea(op.vintage);
        let withdrawable = x.available(&ent.account_id, &class)?.min(reduction);
        let mut effects = Effects::default();
        if withdrawable > 0 {
            effects.retired = x.retire(
                &ent.account_id,
                &class,
                withdrawable,
                RetireReason::Withdrawn,
                op.vintage,
            )?;
        }
        let unmet = sub(reduction, withdrawable, "the unmet reduction")?;
        if unmet > 0 {
            compliance::add_obligation(x, &ent.account_id, op.vintage, unmet)?;
        }
        alloc.withdrawn = withdrawable;
        alloc.obligation_added = unmet;
        effects.obligation_added = unmet;
        x.touch(&ent.account_id);
        effects
    };
    x.put(keys::allocation(op.vintage, &op.enterprise_id), &alloc);
    Ok(effects)
}
