//! Encumbrances: a bank's pledge (created by pledgor and pledgee together, released or enforced
//! by the pledgee) and the regulator's court-ordered freeze. Encumbered units stay in the holder's
//! account, marked with the encumbrance id, and move only by their own release or enforcement.

use super::dates;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_quantity, check_text, sub, Exec};
use super::holdings::{Give, Take};
use super::keys;
use carbon_proto::v1::{
    Effects, Encumbrance, EncumbranceKind, EncumbranceStatus, EnforcePledge, Freeze, Pledge,
    ReleasePledge, Role, Unfreeze,
};

/// The next id of the one sequence pledges, freezes and repos share.
pub fn next_id(x: &mut Exec) -> Res<u64> {
    let id = x.chain.next_encumbrance_id.max(1);
    x.chain.next_encumbrance_id = add(id, 1, "the encumbrance ids")?;
    Ok(id)
}

pub fn active(x: &Exec, id: u64, kind: EncumbranceKind) -> Res<Encumbrance> {
    let found = x
        .get::<Encumbrance>(&keys::encumbrance(id))?
        .filter(|e| e.kind() == kind);
    let e = match kind {
        // A freeze is acted on by the regulator only, who was required before.
        EncumbranceKind::Freeze => match found {
            Some(e) => e,
            None => {
                return reject(
                    ErrorCode::UnknownEncumbrance,
                    format!("there is no freeze {id}"),
                )
            }
        },
        _ => x.private_record(
            found,
            |e| [e.holder.as_str(), e.pledgee.as_str()],
            ErrorCode::UnknownEncumbrance,
            "pledge",
            id,
        )?,
    };
    if e.status() != EncumbranceStatus::Active {
        return reject(
            ErrorCode::EncumbranceClosed,
            format!("encumbrance {id} is no longer active"),
        );
    }
    Ok(e)
}

pub fn save(x: &mut Exec, e: &Encumbrance) {
    x.put(keys::encumbrance(e.id), e);
}

pub fn pledge(x: &mut Exec, op: &Pledge) -> Res<Effects> {
    x.require_signer(&op.pledgor, "the pledgor")?;
    x.require_signer(&op.pledgee, "the pledgee")?;
    check_quantity(op.quantity, "the pledged quantity")?;
    check_quantity(op.secured_amount_fen, "the secured amount")?;
    check_text(&op.contract_ref, "contract reference", false)?;
    if !dates::is_valid_date(op.maturity_date) {
        return reject(
            ErrorCode::InvalidArgument,
            format!("maturity {} is not a yyyymmdd date", op.maturity_date),
        );
    }
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    x.open_account_of_role(&op.pledgor, Role::Enterprise, "pledgor")?;
    x.open_account_of_role(&op.pledgee, Role::Bank, "pledgee")?;
    let id = next_id(x)?;
    let moved = x.move_units(
        &op.pledgor,
        &op.pledgor,
        &class,
        op.quantity,
        Take::Available,
        Give::Pledged(id),
    )?;
    let e = Encumbrance {
        id,
        kind: EncumbranceKind::Pledge as i32,
        status: EncumbranceStatus::Active as i32,
        holder: op.pledgor.clone(),
        pledgee: op.pledgee.clone(),
        unit_class: Some(class),
        original_quantity: op.quantity,
        remaining_quantity: op.quantity,
        secured_amount_fen: op.secured_amount_fen,
        maturity_date: op.maturity_date,
        reference: op.contract_ref.clone(),
        created_sequence: x.sequence,
        topped_up_quantity: 0,
    };
    save(x, &e);
    x.st.put(keys::encumbrance_by_holder(&e.holder, id), Vec::new());
    x.st.put(keys::encumbrance_by_pledgee(&e.pledgee, id), Vec::new());
    x.touch(&op.pledgee);
    Ok(Effects {
        moved,
        encumbrance_id: id,
        ..Default::default()
    })
}

/// Returns `quantity` encumbered units to available; closes the encumbrance when none remain.
fn release_units(x: &mut Exec, mut e: Encumbrance, quantity: u64) -> Res<Effects> {
    check_quantity(quantity, "the released quantity")?;
    if quantity > e.remaining_quantity {
        return reject(
            ErrorCode::InsufficientUnits,
            format!(
                "encumbrance {} covers {} units, {quantity} cannot be released",
                e.id, e.remaining_quantity
            ),
        );
    }
    let class = e.unit_class.clone().unwrap_or_default();
    let moved = x.move_units(
        &e.holder,
        &e.holder,
        &class,
        quantity,
        Take::Encumbrance(e.id),
        Give::Available,
    )?;
    e.remaining_quantity = sub(e.remaining_quantity, quantity, "the pledged quantity")?;
    if e.remaining_quantity == 0 {
        e.status = EncumbranceStatus::Released as i32;
    }
    save(x, &e);
    Ok(Effects {
        moved,
        encumbrance_id: e.id,
        ..Default::default()
    })
}

pub fn release(x: &mut Exec, op: &ReleasePledge) -> Res<Effects> {
    let e = active(x, op.pledge_id, EncumbranceKind::Pledge)?;
    x.require_signer(&e.pledgee, "the pledgee")?;
    x.touch(&e.pledgee);
    release_units(x, e, op.quantity)
}

pub fn enforce(x: &mut Exec, op: &EnforcePledge) -> Res<Effects> {
    let mut e = active(x, op.pledge_id, EncumbranceKind::Pledge)?;
    x.require_signer(&e.pledgee, "the pledgee")?;
    // Enforcement is how a bank comes to hold allowances: no can-hold check by role here.
    x.open_account_of_role(&e.pledgee, Role::Bank, "pledgee")?;
    let class = e.unit_class.clone().unwrap_or_default();
    let moved = x.move_units(
        &e.holder,
        &e.pledgee,
        &class,
        e.remaining_quantity,
        Take::Encumbrance(e.id),
        Give::Available,
    )?;
    e.remaining_quantity = 0;
    e.status = EncumbranceStatus::Enforced as i32;
    save(x, &e);
    Ok(Effects {
        moved,
        encumbrance_id: e.id,
        ..Default::default()
    })
}

pub fn freeze(x: &mut Exec, op: &Freeze) -> Res<Effects> {
    x.require_regulator()?;
    check_quantity(op.quantity, "the frozen quantity")?;
    check_text(&op.court_order_ref, "court order reference", true)?;
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    x.account(&op.account_id)?;
    let id = next_id(x)?;
    let moved = x.move_units(
        &op.account_id,
        &op.account_id,
        &class,
        op.quantity,
        Take::Available,
        Give::Frozen(id),
    )?;
    let e = Encumbrance {
        id,
        kind: EncumbranceKind::Freeze as i32,
        status: EncumbranceStatus::Active as i32,
        holder: op.account_id.clone(),
        pledgee: String::new(),
        unit_class: Some(class),
        original_quantity: op.quantity,
        remaining_quantity: op.quantity,
        secured_amount_fen: 0,
        maturity_date: 0,
        reference: op.court_order_ref.clone(),
        created_sequence: x.sequence,
        topped_up_quantity: 0,
    };
    save(x, &e);
    x.st.put(keys::encumbrance_by_holder(&e.holder, id), Vec::new());
    Ok(Effects {
        moved,
        encumbrance_id: id,
        ..Default::default()
    })
}

pub fn unfreeze(x: &mut Exec, op: &Unfreeze) -> Res<Effects> {
    x.require_regulator()?;
    check_text(&op.court_order_ref, "court order reference", true)?;
    let e = active(x, op.freeze_id, EncumbranceKind::Freeze)?;
    release_units(x, e, op.quantity)
}
