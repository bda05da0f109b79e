//! Voluntary cancellation: a holder retires available units for good, naming a beneficiary and a
//! purpose (a "zero-carbon" pilot, an event's carbon neutrality). Cancellations are public.

use super::error::Res;
use super::exec::{add, check_quantity, check_text, Exec};
use super::keys;
use carbon_proto::v1::{Cancel, Cancellation, Effects, RetireReason};

pub fn cancel(x: &mut Exec, op: &Cancel) -> Res<Effects> {
    x.require_signer(&op.holder, "the holder")?;
    check_quantity(op.quantity, "the cancelled quantity")?;
    check_text(&op.beneficiary, "beneficiary", true)?;
    check_text(&op.purpose, "purpose", true)?;
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    x.open_account(&op.holder)?;
    let retired = x.retire(&op.holder, &class, op.quantity, RetireReason::Cancelled, 0)?;
    let id = x.chain.next_cancellation_id.max(1);
    x.chain.next_cancellation_id = add(id, 1, "the cancellation ids")?;
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
    };
    x.put(keys::cancellation(id), &record);
    Ok(Effects {
        retired,
        cancellation_id: id,
        ..Default::default()
    })
}
