//! Collateral management (domain rule 18, ledger version 3): a pledge **topped up** (pledgor and
//! pledgee sign: more units of the pledge's class join the same pledge) and a repo's units
//! **substituted** (seller and buyer sign: units of another class or vintage replace some or all
//! of the repo's units; the replaced ones return to the seller, available). A repo is repurchased
//! whole (no partial repurchase).
//!
//! After a substitution a repo may hold several unit classes: `RepoAgreement.collateral` lists
//! them (in class key order); a repo never substituted keeps it empty and holds `quantity` units
//! of `unit_class`, as before ([`legs`]).

use super::encumbrances::{active, save};
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_quantity, sub, Exec};
use super::holdings::{Give, Take};
use super::keys;
use super::safeguards::require_version;
use super::{dates, repo};
use carbon_proto::v1::{
    Effects, EncumbranceKind, RepoAgreement, RepoCollateral, Role, SubstituteRepo, TopUpPledge,
    UnitClass,
};
use std::collections::BTreeMap;

/// What a repo holds now: per unit class, in class key order.
pub fn legs(r: &RepoAgreement) -> Vec<(UnitClass, u64)> {
    if r.collateral.is_empty() {
        return vec![(r.unit_class.clone().unwrap_or_default(), r.quantity)];
    }
    r.collateral
        .iter()
        .map(|c| (c.unit_class.clone().unwrap_or_default(), c.quantity))
        .collect()
}

/// Units a repo holds, over every class.
pub fn repo_units(r: &RepoAgreement) -> u64 {
    legs(r).iter().fold(0u64, |n, (_, q)| n.saturating_add(*q))
}

pub fn top_up(x: &mut Exec, op: &TopUpPledge) -> Res<Effects> {
    require_version(x, "a pledge top-up")?;
    let mut e = active(x, op.pledge_id, EncumbranceKind::Pledge)?;
    x.require_signer(&e.holder, "the pledgor")?;
    x.require_signer(&e.pledgee, "the pledgee")?;
    check_quantity(op.quantity, "the top-up quantity")?;
    x.open_account_of_role(&e.holder, Role::Enterprise, "pledgor")?;
    x.open_account_of_role(&e.pledgee, Role::Bank, "pledgee")?;
    let class = e.unit_class.clone().unwrap_or_default();
    let remaining = add(e.remaining_quantity, op.quantity, "the pledged quantity")?;
    let topped = add(e.topped_up_quantity, op.quantity, "the topped-up quantity")?;
    let moved = x.move_units(
        &e.holder,
        &e.holder,
        &class,
        op.quantity,
        Take::Available,
        Give::Pledged(e.id),
    )?;
    e.remaining_quantity = remaining;
    e.topped_up_quantity = topped;
    save(x, &e);
    x.touch(&e.pledgee);
    Ok(Effects {
        moved,
        encumbrance_id: e.id,
        ..Default::default()
    })
}

pub fn substitute(x: &mut Exec, op: &SubstituteRepo) -> Res<Effects> {
    require_version(x, "a repo substitution")?;
    let mut r = repo::open_repo(x, op.repo_id)?;
    x.require_signer(&r.seller, "the repo seller")?;
    check_quantity(op.replaced_quantity, "the replaced quantity")?;
    check_quantity(op.new_quantity, "the new quantity")?;
    let old_class = x.check_unit_class(op.replaced_class.as_ref())?;
    let new_class = x.check_unit_class(op.new_class.as_ref())?;
    if keys::class(&old_class) == keys::class(&new_class) {
        return reject(
            ErrorCode::SubstitutionSameClass,
            "a substitution replaces units with units of another class or vintage",
        );
    }
    let today = dates::date_of(x.ctx.timestamp_ms);
    if today > r.repurchase_date {
        return reject(
            ErrorCode::RepurchaseDatePassed,
            format!(
                "repo {} was due for repurchase on {} (today is {today}): its collateral can no longer change",
                r.id, r.repurchase_date
            ),
        );
    }
    x.open_account_of_role(&r.seller, Role::Enterprise, "repo seller")?;
    // As in a repo (rule 13), the buyer, a bank or an enterprise, holds any class in repo.
    x.open_account(&r.buyer)?;
    let mut held: BTreeMap<Vec<u8>, (UnitClass, u64)> = legs(&r)
        .into_iter()
        .map(|(c, q)| (keys::class(&c), (c, q)))
        .collect();
    let have = held.get(&keys::class(&old_class)).map_or(0, |(_, q)| *q);
    if op.replaced_quantity > have {
        return reject(
            ErrorCode::ExceedsCollateral,
            format!(
                "repo {} holds {have} units of that class, {} cannot be replaced",
                r.id, op.replaced_quantity
            ),
        );
    }
    let mut moved = x.move_units(
        &r.buyer,
        &r.seller,
        &old_class,
        op.replaced_quantity,
        Take::Encumbrance(r.id),
        Give::Available,
    )?;
    moved.extend(x.move_units(
        &r.seller,
        &r.buyer,
        &new_class,
        op.new_quantity,
        Take::Available,
        Give::Repo(r.id),
    )?);
    let old_key = keys::class(&old_class);
    let left = sub(have, op.replaced_quantity, "the repo's units")?;
    if left == 0 {
        held.remove(&old_key);
    } else if let Some(leg) = held.get_mut(&old_key) {
        leg.1 = left;
    }
    let leg = held
        .entry(keys::class(&new_class))
        .or_insert((new_class, 0));
    leg.1 = add(leg.1, op.new_quantity, "the repo's units")?;
    r.collateral = held
        .into_values()
        .map(|(c, q)| RepoCollateral {
            unit_class: Some(c),
            quantity: q,
        })
        .collect();
    r.substitutions = r.substitutions.saturating_add(1);
    x.put(keys::repo(r.id), &r);
    Ok(Effects {
        moved,
        encumbrance_id: r.id,
        ..Default::default()
    })
}
