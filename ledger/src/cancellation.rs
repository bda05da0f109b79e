//! Voluntary cancellation: a holder retires available units for good, naming a beneficiary and a
//! purpose (a "zero-carbon" pilot, an event's carbon neutrality). Cancellations are public.
//!
//! From ledger version 4 a cancellation may name the art. 6 purpose NDC or OIMP (rule 17): it
//! then retires only units authorised for that purpose, and OIMP records a corresponding
//! adjustment for the vintage's year (`international`).

use super::error::Res;
use super::exec::{add, check_quantity, check_text, Exec};
use super::international;
use super::keys;
use carbon_proto::v1::{
    AdjustmentTrigger, Cancel, Cancellation, Effects, MitigationPurpose, RetireReason,
};

pub fn cancel(x: &mut Exec, op: &Cancel) -> Res<Effects> {
    x.require_signer(&op.holder, "the holder")?;
    check_quantity(op.quantity, "the cancelled quantity")?;
    check_text(&op.beneficiary, "beneficiary", true)?;
    check_text(&op.purpose, "purpose", true)?;
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    let purpose = match op.mitigation_purpose {
        0 => None,
        p => {
            international::require_version(x, "a cancellation naming an art. 6 purpose")?;
            Some(international::check_purpose(
                p,
                "the cancellation's art. 6 purpose",
            )?)
        }
    };
    x.open_account(&op.holder)?;
    let retired = match purpose {
        None => x.retire(&op.holder, &class, op.quantity, RetireReason::Cancelled, 0)?,
        Some(p) => {
            let auths = international::authorisations(x, &class, Some(p))?;
            let allowed = international::ranges_of(&auths);
            x.retire_within(
                &op.holder,
                &class,
                op.quantity,
                &allowed,
                RetireReason::Cancelled,
                0,
            )?
        }
    };
    let id = x.chain.next_cancellation_id.max(1);
    x.chain.next_cancellation_id = add(id, 1, "the cancellation ids")?;
    if purpose == Some(MitigationPurpose::Oimp) {
        international::record_adjustment(x, &class, op.quantity, AdjustmentTrigger::OimpUse, id);
    }
    let record = Cancellation {
        id,
        holder: op.holder.clone(),
        unit_class: Some(class),
        quantity: op.quantity,
        beneficiary: op.beneficiary.clone(),
        purpose: op.purpose.clone(),
        ranges: retired.clone(),
        sequence: x.sequence,
        timestamp_ms: x.ctx.timestamp_ms,
        mitigation_purpose: purpose.map_or(0, |p| p as i32),
    };
    x.put(keys::cancellation(id), &record);
    Ok(Effects {
        retired,
        cancellation_id: id,
        ..Default::default()
    })
}
