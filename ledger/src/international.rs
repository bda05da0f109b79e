//! International transfers (domain rule 17, ledger version 4; Paris Agreement art. 6.2).
//!
//! * The regulator **authorises** an issuance's units (every serial of the issuance, the buffer
//!   share's too) for NDC use or for other international mitigation purposes (OIMP), citing the
//!   authorisation; once per issuance. The authorisation belongs to the serials: it follows them
//!   through transfers, trades and encumbrances.
//! * **Export** (holder's threshold and the regulator sign): authorised, available units (lowest
//!   authorised serials first) leave this registry for good for another registry. They are
//!   retired with reason `EXPORTED` (final like a cancellation, so that conservation, "a retired
//!   serial is never held again" and serial tracing hold unchanged), recorded as an [`Export`]
//!   and as a [`CorrespondingAdjustment`] for the vintage's year (the first transfer abroad:
//!   exported units never come back, so every export is their first).
//! * A **cancellation** naming NDC or OIMP retires only units authorised for that purpose; OIMP
//!   also records a corresponding adjustment (their use for OIMP) — `cancellation::cancel`.
//!
//! Records are public (the `ListInternationalTransfers` read): authorisations keyed by unit class
//! and first serial, exports and adjustments by vintage year and chain sequence.

use super::error::{reject, ErrorCode, Res};
use super::exec::{check_quantity, check_text, read_all, Exec};
use super::holdings::Ranges;
use super::keys;
use carbon_proto::v1::{
    AdjustmentTrigger, Authorisation, AuthoriseUnits, CorrespondingAdjustment, Effects, Export,
    ExportUnits, Issuance, MitigationPurpose, RetireReason, SerialRange, UnitClass,
};

/// The first ledger version with rule 17.
pub const ART6_VERSION: u32 = 4;

/// Operations of ledger version 4 are refused in entries of an older version.
pub fn require_version(x: &Exec, what: &str) -> Res<()> {
    if x.ctx.ledger_version < ART6_VERSION {
        return reject(
            ErrorCode::VersionNotActive,
            format!(
                "{what} needs ledger version {ART6_VERSION}; this entry applies version {}",
                x.ctx.ledger_version
            ),
        );
    }
    Ok(())
}

/// NDC or OIMP; anything else is refused.
pub fn check_purpose(p: i32, what: &str) -> Res<MitigationPurpose> {
    match MitigationPurpose::try_from(p) {
        Ok(p @ (MitigationPurpose::Ndc | MitigationPurpose::Oimp)) => Ok(p),
        _ => reject(
            ErrorCode::InvalidArgument,
            format!("{what} must be NDC or OIMP (Paris Agreement art. 6), not {p}"),
        ),
    }
}

/// "NDC" or "OIMP".
pub fn purpose_word(p: MitigationPurpose) -> &'static str {
    match p {
        MitigationPurpose::Ndc => "NDC",
        MitigationPurpose::Oimp => "OIMP",
        MitigationPurpose::Unspecified => "unspecified",
    }
}

/// The issuance's one serial range: the owner's share, then the buffer share right after it.
fn issuance_range(is: &Issuance) -> Option<SerialRange> {
    let first = is.to_owner.as_ref().or(is.to_buffer.as_ref())?;
    let last = is.to_buffer.as_ref().or(is.to_owner.as_ref())?;
    Some(SerialRange {
        unit_class: first.unit_class.clone(),
        first: first.first,
        last: last.last,
    })
}

pub fn authorise(x: &mut Exec, op: &AuthoriseUnits) -> Res<Effects> {
    require_version(x, "an art. 6 authorisation")?;
    x.require_regulator()?;
    let purpose = check_purpose(op.purpose, "the authorised purpose")?;
    check_text(&op.authorisation_reference, "authorisation reference", true)?;
    let found = match super::exec::check_id(&op.project_id, "project id") {
        Ok(()) => x.get::<Issuance>(&keys::issuance(&op.project_id, op.issuance_sequence))?,
        Err(_) => None,
    };
    let Some((is, range)) = found.and_then(|is| issuance_range(&is).map(|r| (is, r))) else {
        return reject(
            ErrorCode::UnknownIssuance,
            format!(
                "project {:?} has no issuance at sequence {}",
                op.project_id, op.issuance_sequence
            ),
        );
    };
    let class = range.unit_class.clone().unwrap_or_default();
    let key = keys::authorisation(&class, range.first);
    if let Some(a) = x.get::<Authorisation>(&key)? {
        return reject(
            ErrorCode::AlreadyAuthorised,
            format!(
                "the units of issuance {} of {:?} are already authorised for {} ({:?})",
                op.issuance_sequence,
                op.project_id,
                purpose_word(a.purpose()),
                a.authorisation_reference
            ),
        );
    }
    let record = Authorisation {
        project_id: is.project_id.clone(),
        issuance_sequence: is.sequence,
        range: Some(range),
        purpose: purpose as i32,
        authorisation_reference: op.authorisation_reference.clone(),
        sequence: x.sequence,
        timestamp_ms: x.ctx.timestamp_ms,
    };
    x.put(key, &record);
    if let Some(p) = x.get::<carbon_proto::v1::Project>(&keys::project(&is.project_id))? {
        x.touch(&p.owner_id);
    }
    Ok(Effects::default())
}

/// The authorisations of a unit class (for one purpose, or any), in serial order.
pub fn authorisations(
    x: &Exec,
    class: &UnitClass,
    purpose: Option<MitigationPurpose>,
) -> Res<Vec<Authorisation>> {
    let all: Vec<(Vec<u8>, Authorisation)> = read_all(&*x.st, &keys::authorisations_of(class))?;
    Ok(all
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| purpose.is_none_or(|p| a.purpose() == p))
        .collect())
}

/// The serial ranges of authorisations, ascending.
pub fn ranges_of(auths: &[Authorisation]) -> Ranges {
    auths
        .iter()
        .filter_map(|a| a.range.as_ref().map(|r| (r.first, r.last)))
        .collect()
}

/// The references of the authorisations `ranges` fall under, in serial order, each once.
fn references(auths: &[Authorisation], ranges: &[SerialRange]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in auths {
        let Some(ar) = &a.range else { continue };
        let hit = ranges
            .iter()
            .any(|r| r.first <= ar.last && r.last >= ar.first);
        if hit && !out.contains(&a.authorisation_reference) {
            out.push(a.authorisation_reference.clone());
        }
    }
    out
}

/// Records the corresponding adjustment the transaction requires for `class`'s vintage.
pub fn record_adjustment(
    x: &mut Exec,
    class: &UnitClass,
    quantity: u64,
    trigger: AdjustmentTrigger,
    cancellation_id: u64,
) {
    let record = CorrespondingAdjustment {
        year: class.vintage,
        unit_class: Some(class.clone()),
        quantity,
        trigger: trigger as i32,
        sequence: x.sequence,
        cancellation_id,
        timestamp_ms: x.ctx.timestamp_ms,
    };
    x.put(keys::adjustment(class.vintage, x.sequence), &record);
}

pub fn export(x: &mut Exec, op: &ExportUnits) -> Res<Effects> {
    require_version(x, "an export")?;
    x.require_signer(&op.holder, "the holder")?;
    x.require_regulator()?;
    check_quantity(op.quantity, "the exported quantity")?;
    check_text(&op.destination_registry, "destination registry", true)?;
    check_text(&op.destination_account, "destination account", true)?;
    if op.destination_registry == x.genesis.chain_id {
        return reject(
            ErrorCode::InvalidArgument,
            "an export goes to another registry, not this one (use a transfer)",
        );
    }
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    if class.kind() == carbon_proto::v1::UnitKind::Cea {
        return reject(
            ErrorCode::UnitsNotAuthorised,
            "allowances (CEA) are never authorised for art. 6: only issued credits are",
        );
    }
    x.open_account(&op.holder)?;
    let auths = authorisations(x, &class, None)?;
    let retired = x.retire_within(
        &op.holder,
        &class,
        op.quantity,
        &ranges_of(&auths),
        RetireReason::Exported,
        class.vintage,
    )?;
    let record = Export {
        sequence: x.sequence,
        holder: op.holder.clone(),
        unit_class: Some(class.clone()),
        quantity: op.quantity,
        ranges: retired.clone(),
        destination_registry: op.destination_registry.clone(),
        destination_account: op.destination_account.clone(),
        authorisation_references: references(&auths, &retired),
        timestamp_ms: x.ctx.timestamp_ms,
    };
    x.put(keys::export(class.vintage, x.sequence), &record);
    record_adjustment(x, &class, op.quantity, AdjustmentTrigger::FirstTransfer, 0);
    Ok(Effects {
        retired,
        ..Default::default()
    })
}
