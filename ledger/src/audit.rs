//! Checking the registry: the invariants of the rules over any state, and offline verification
//! of a history (signatures, hash chain, and a full replay that must reproduce every outcome).
//!
//! Used by the property tests after every step, by the cluster tests on every replica, and by
//! anyone holding an exported history.

use super::exec::{read, read_all};
use super::keys;
use super::store::{MemState, StateView};
use super::{apply_entry, genesis_writes, Ctx};
use carbon_proto::v1::{
    Allocation, BlockState, ChainState, CommittedTx, Encumbrance, EncumbranceKind,
    EncumbranceStatus, Genesis, Loan, LoanStatus, Project, ProjectStatus, RepoAgreement,
    RepoStatus, RetiredBlock, SerialBlock, UnitKind, Vintage,
};
use prost::Message as _;
use std::collections::BTreeMap;

/// A broken invariant or a history that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuditError(pub String);

type R<T> = Result<T, AuditError>;

fn fail<T>(m: impl Into<String>) -> R<T> {
    Err(AuditError(m.into()))
}

fn io<T>(r: Result<T, super::ViewFault>) -> R<T> {
    r.map_err(|e| AuditError(e.0))
}

fn plus(a: u64, b: u64) -> R<u64> {
    a.checked_add(b)
        .ok_or_else(|| AuditError(format!("{a} + {b} overflows")))
}

fn minus(a: u64, b: u64) -> R<u64> {
    a.checked_sub(b)
        .ok_or_else(|| AuditError(format!("{a} - {b} goes below zero")))
}

/// The unit class bytes of a key: from `start` to the trailing 8-byte number.
fn class_in(k: &[u8], start: usize) -> R<Vec<u8>> {
    k.len()
        .checked_sub(8)
        .and_then(|end| k.get(start..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| AuditError(format!("key {} is too short", hex::encode(k))))
}

#[derive(Default)]
struct ClassTally {
    /// (first, last, where)
    ranges: Vec<(u64, u64, String)>,
}

/// Serial ranges seen per unit class: held and retired blocks.
type Classes = BTreeMap<Vec<u8>, ClassTally>;
/// Per encumbrance id (repo ids included): (units held, holder, block state) of its blocks.
type EncHeld = BTreeMap<u64, (u64, String, BlockState)>;
/// Units created per unit class, from the serial counters.
type Created = BTreeMap<Vec<u8>, u64>;

/// Checks the invariants of the registry's rules (domain.md) over a committed state:
/// 1. conservation per unit class and serial blocks that never overlap and cover exactly what was
///    created; 2. retired serials never held again; 3. encumbered units match their encumbrance;
/// 4. vintage caps hold and credits exist only for approved projects; 5/6. the chain index is
///    contiguous and every tx id appears once.
///
/// The checks run in this order and the first broken one is reported.
pub fn check_invariants(v: &dyn StateView) -> R<()> {
    let (mut classes, mut enc_held) = check_holdings(v)?;
    tally_retired(v, &mut classes)?;
    let created = created_per_class(v)?;
    check_serials_cover_created(&mut classes, &created)?;
    check_origins(v, &classes, &created)?;
    check_encumbrances(v, &mut enc_held)?;
    check_repos(v, &mut enc_held)?;
    check_pending_transfers(v, &mut enc_held)?;
    check_loans(v)?;
    check_no_unknown_encumbrance(enc_held)?;
    check_vintage_caps(v)?;
    check_credits_of_approved_projects(v, &created)?;
    check_international(v)?;
    check_inclusion(v, &created)?;
    check_chain_index(v)
}

/// Every held block is well formed: keyed by its last serial, in a known state, naming an
/// encumbrance exactly when encumbered, and each encumbrance's blocks in one account and state.
/// Returns the held serial ranges per class and the units held per encumbrance.
fn check_holdings(v: &dyn StateView) -> R<(Classes, EncHeld)> {
    let mut classes = Classes::new();
    let mut enc_held = EncHeld::new();
    // Holdings: H account 0x00 class last
    for (k, b) in io(read_all::<SerialBlock>(v, keys::HOLDINGS))? {
        let Some(zero) = k.iter().position(|&b| b == 0) else {
            return fail("a holding key has no account terminator");
        };
        let account = String::from_utf8_lossy(&k[1..zero]).to_string();
        let class = class_in(&k, zero.saturating_add(1))?;
        let last = keys::trailing_u64(&k).unwrap_or(0);
        let Some(r) = &b.range else {
            return fail(format!("block of {account} has no range"));
        };
        if r.last != last || r.last < r.first {
            return fail(format!(
                "block of {account} at {last} holds range {}..{}",
                r.first, r.last
            ));
        }
        tally_block_state(&b, &account, r.first, r.last, &mut enc_held)?;
        classes.entry(class).or_default().ranges.push((
            r.first,
            r.last,
            format!("held by {account}"),
        ));
    }
    Ok((classes, enc_held))
}

/// An available block names no encumbrance; an encumbered one adds its units to its
/// encumbrance, whose blocks must all be in one account and one state.
fn tally_block_state(
    b: &SerialBlock,
    account: &str,
    first: u64,
    last: u64,
    enc_held: &mut EncHeld,
) -> R<()> {
    match b.state() {
        BlockState::Available => {
            if b.encumbrance_id != 0 {
                return fail(format!("available block of {account} names an encumbrance"));
            }
        }
        BlockState::Pledged
        | BlockState::Frozen
        | BlockState::Repo
        | BlockState::PendingTransfer => {
            let e = enc_held
                .entry(b.encumbrance_id)
                .or_insert((0, account.to_string(), b.state()));
            e.0 = plus(e.0, plus(minus(last, first)?, 1)?)?;
            if e.1 != account || e.2 != b.state() {
                return fail(format!(
                    "encumbrance {} spans accounts or states",
                    b.encumbrance_id
                ));
            }
        }
        BlockState::Unspecified => return fail(format!("block of {account} has no state")),
    }
    Ok(())
}

/// Adds the retired serial ranges to their classes (so that a retired serial held again shows
/// as an overlap).
fn tally_retired(v: &dyn StateView, classes: &mut Classes) -> R<()> {
    for (k, b) in io(read_all::<RetiredBlock>(v, keys::RETIRED))? {
        let class = class_in(&k, 1)?;
        let Some(r) = &b.range else {
            return fail("a retired block has no range");
        };
        classes.entry(class).or_default().ranges.push((
            r.first,
            r.last,
            format!("retired from {}", b.account_id),
        ));
    }
    Ok(())
}

/// The units created per class: each serial counter holds the next serial to create.
fn created_per_class(v: &dyn StateView) -> R<Created> {
    let mut created = Created::new();
    for (k, next) in io(v.scan_prefix(keys::SERIAL_COUNTERS))? {
        let next = u64::from_be_bytes(
            next.as_slice()
                .try_into()
                .map_err(|_| AuditError("bad counter".into()))?,
        );
        created.insert(k.get(1..).unwrap_or_default().to_vec(), minus(next, 1)?);
    }
    Ok(created)
}

/// Conservation: per class, held and retired blocks cover serials 1..=created exactly, with no
/// overlap and no gap.
fn check_serials_cover_created(classes: &mut Classes, created: &Created) -> R<()> {
    for (class, tally) in classes {
        let Some(&n) = created.get(class) else {
            return fail(format!(
                "units of class {} exist but none were created",
                hex::encode(class)
            ));
        };
        tally.ranges.sort();
        let mut expect = 1u64;
        for (first, last, at) in &tally.ranges {
            if *first != expect {
                return fail(format!(
                    "class {}: serial {expect} expected, block {first}..{last} ({at}) found: overlap or gap",
                    hex::encode(class)
                ));
            }
            expect = plus(*last, 1)?;
        }
        let accounted = minus(expect, 1)?;
        if accounted != n {
            return fail(format!(
                "class {}: {n} created, {accounted} accounted for",
                hex::encode(class),
            ));
        }
    }
    Ok(())
}

/// Every created serial has exactly one origin, and a class with units created has blocks.
fn check_origins(v: &dyn StateView, classes: &Classes, created: &Created) -> R<()> {
    let mut origins: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (k, o) in io(read_all::<carbon_proto::v1::SerialOrigin>(v, keys::ORIGINS))? {
        let class = class_in(&k, 1)?;
        let Some(r) = &o.range else {
            return fail("an origin has no range");
        };
        let next = origins.entry(class.clone()).or_insert(1);
        if r.first != *next {
            return fail(format!(
                "class {}: origins skip or overlap at {}",
                hex::encode(&class),
                r.first
            ));
        }
        *next = plus(r.last, 1)?;
    }
    for (class, n) in created {
        if minus(origins.get(class).copied().unwrap_or(1), 1)? != *n {
            return fail(format!(
                "class {}: {n} created but origins cover a different count",
                hex::encode(class)
            ));
        }
        if *n > 0 && !classes.contains_key(class) {
            return fail(format!(
                "class {}: {n} created, none accounted for",
                hex::encode(class)
            ));
        }
    }
    Ok(())
}

/// Every pledge or freeze holds exactly its remaining units, in its holder's account and in the
/// state of its kind, and is active exactly while units remain.
fn check_encumbrances(v: &dyn StateView, enc_held: &mut EncHeld) -> R<()> {
    for (_, e) in io(read_all::<Encumbrance>(v, keys::ENCUMBRANCES))? {
        let held = enc_held.remove(&e.id);
        let (n, holder, state) =
            held.clone()
                .unwrap_or((0, e.holder.clone(), BlockState::Unspecified));
        if n != e.remaining_quantity || holder != e.holder {
            return fail(format!(
                "encumbrance {}: record says {} units of {}, blocks hold {n} in {holder}",
                e.id, e.remaining_quantity, e.holder
            ));
        }
        let active = e.status() == EncumbranceStatus::Active;
        if active != (e.remaining_quantity > 0) {
            return fail(format!(
                "encumbrance {} is {:?} with {} units",
                e.id,
                e.status(),
                n
            ));
        }
        if held.is_some() {
            let expect = match e.kind() {
                EncumbranceKind::Pledge => BlockState::Pledged,
                _ => BlockState::Frozen,
            };
            if state != expect {
                return fail(format!(
                    "encumbrance {} blocks are in state {state:?}",
                    e.id
                ));
            }
        }
    }
    Ok(())
}

/// Authorised serial ranges per class key: (first, last, purpose).
type Authorised = BTreeMap<Vec<u8>, Vec<(u64, u64, i32)>>;

fn within_authorised(auth: &Authorised, class: &[u8], r: (u64, u64), purpose: Option<i32>) -> bool {
    // Authorisations of a class never overlap: a range lies within the union of the matching
    // ones when every serial of it is covered, walking them in serial order.
    let mut next = r.0;
    for &(f, l, p) in auth.get(class).map_or(&[][..], Vec::as_slice) {
        if purpose.is_some_and(|want| want != p) || l < next {
            continue;
        }
        if f > next {
            return false;
        }
        match l.checked_add(1) {
            Some(n) if l < r.1 => next = n,
            _ => return true,
        }
    }
    false
}

/// The authorisations per class; they never overlap.
fn authorised(v: &dyn StateView) -> R<Authorised> {
    let mut auth = Authorised::new();
    for (k, a) in io(read_all::<carbon_proto::v1::Authorisation>(
        v,
        keys::AUTHORISATIONS,
    ))? {
        let r = a.range.clone().unwrap_or_default();
        let list = auth.entry(class_in(&k, 1)?).or_default();
        if list.last().is_some_and(|&(_, l, _)| l >= r.first) || r.last < r.first {
            return fail(format!(
                "authorisation at serial {} overlaps another",
                r.first
            ));
        }
        list.push((r.first, r.last, a.purpose));
    }
    Ok(auth)
}

/// Rule 17: authorisations of a class never overlap; every exported serial and every serial of
/// a cancellation naming NDC or OIMP was authorised (for that purpose); exports add up to the
/// exported retired units per class; corresponding adjustments add up, per class, to the
/// exports (first transfers) and to the OIMP cancellations (uses), each for the vintage's year.
fn check_international(v: &dyn StateView) -> R<()> {
    use carbon_proto::v1::{
        AdjustmentTrigger, Cancellation, CorrespondingAdjustment, Export, MitigationPurpose,
        RetireReason,
    };
    let auth = authorised(v)?;
    // (exported retired, exports, first-transfer adjustments, OIMP cancelled, OIMP adjustments)
    let mut sums: BTreeMap<Vec<u8>, [u64; 5]> = BTreeMap::new();
    let mut bump = |class: Vec<u8>, i: usize, n: u64| -> R<()> {
        let e = sums.entry(class).or_default();
        e[i] = plus(e[i], n)?;
        Ok(())
    };
    for (k, b) in io(read_all::<RetiredBlock>(v, keys::RETIRED))? {
        if b.reason() != RetireReason::Exported {
            continue;
        }
        let class = class_in(&k, 1)?;
        let r = b.range.clone().unwrap_or_default();
        if !within_authorised(&auth, &class, (r.first, r.last), None) {
            return fail(format!(
                "exported serials {}..{} were not authorised",
                r.first, r.last
            ));
        }
        bump(class, 0, plus(minus(r.last, r.first)?, 1)?)?;
    }
    for (_, e) in io(read_all::<Export>(v, keys::EXPORTS))? {
        let in_ranges = e
            .ranges
            .iter()
            .try_fold(0u64, |n, r| plus(n, plus(minus(r.last, r.first)?, 1)?))?;
        if in_ranges != e.quantity {
            return fail(format!(
                "export {} lists {in_ranges} serials for {} units",
                e.sequence, e.quantity
            ));
        }
        bump(
            keys::class(&e.unit_class.unwrap_or_default()),
            1,
            e.quantity,
        )?;
    }
    for (_, c) in io(read_all::<Cancellation>(v, keys::CANCELLATIONS))? {
        if c.mitigation_purpose == 0 {
            continue;
        }
        let class = keys::class(&c.unit_class.clone().unwrap_or_default());
        for r in &c.ranges {
            if !within_authorised(&auth, &class, (r.first, r.last), Some(c.mitigation_purpose)) {
                return fail(format!(
                    "cancellation {} retired serials not authorised for its purpose",
                    c.id
                ));
            }
        }
        if c.mitigation_purpose() == MitigationPurpose::Oimp {
            bump(class, 3, c.quantity)?;
        }
    }
    for (_, a) in io(read_all::<CorrespondingAdjustment>(v, keys::ADJUSTMENTS))? {
        let class = a.unit_class.clone().unwrap_or_default();
        if a.year != class.vintage {
            return fail(format!(
                "an adjustment for {} names vintage {}",
                a.year, class.vintage
            ));
        }
        let i = if a.trigger() == AdjustmentTrigger::FirstTransfer {
            2
        } else {
            4
        };
        bump(keys::class(&class), i, a.quantity)?;
    }
    for (class, [exported, exports, first, oimp, uses]) in sums {
        if exported != exports || exports != first || oimp != uses {
            return fail(format!(
                "class {}: {exported} exported, {exports} in exports, {first} adjusted as first \
                 transfers; {oimp} cancelled for OIMP, {uses} adjusted as uses",
                hex::encode(class)
            ));
        }
    }
    Ok(())
}

/// Every encumbered block belongs to an encumbrance or repo that exists (run after those
/// checks removed theirs).
fn check_no_unknown_encumbrance(enc_held: EncHeld) -> R<()> {
    if let Some((id, _)) = enc_held.into_iter().next() {
        return fail(format!(
            "blocks are encumbered by {id}, which does not exist"
        ));
    }
    Ok(())
}

/// No vintage allocates over its cap, and a vintage's allocated total is what its allocations
/// entitle (the final quantity once trued up, the pre-allocation before).
fn check_vintage_caps(v: &dyn StateView) -> R<()> {
    let mut entitled: BTreeMap<u32, u64> = BTreeMap::new();
    for (_, a) in io(read_all::<Allocation>(v, b"L"))? {
        let n = if a.trued_up {
            a.final_quantity
        } else {
            a.pre_allocated
        };
        let e = entitled.entry(a.vintage).or_default();
        *e = plus(*e, n)?;
    }
    for (_, vin) in io(read_all::<Vintage>(v, keys::VINTAGES))? {
        if vin.allocated > vin.cap {
            return fail(format!(
                "vintage {} allocated {} over cap {}",
                vin.vintage, vin.allocated, vin.cap
            ));
        }
        if entitled.get(&vin.vintage).copied().unwrap_or(0) != vin.allocated {
            return fail(format!(
                "vintage {}: allocations do not add up to {}",
                vin.vintage, vin.allocated
            ));
        }
    }
    Ok(())
}

/// Credits exist only for approved projects, and a project's issued total matches what was
/// created of its classes.
fn check_credits_of_approved_projects(v: &dyn StateView, created: &Created) -> R<()> {
    let mut per_project: BTreeMap<String, u64> = BTreeMap::new();
    for (class, n) in created {
        if matches!(class.first(), Some(&k) if k == UnitKind::Cea as u8 || k == UnitKind::Phcer as u8)
        {
            continue;
        }
        // kind (1) + vintage (4) + project id + 0x00
        let id = class
            .get(5..class.len().saturating_sub(1))
            .unwrap_or_default();
        let project = String::from_utf8_lossy(id).to_string();
        let e = per_project.entry(project).or_default();
        *e = plus(*e, *n)?;
    }
    for (project, n) in per_project {
        match io(read::<Project>(v, &keys::project(&project)))? {
            Some(p) if p.status() == ProjectStatus::Approved && p.issued_total == n => {}
            Some(p) => {
                return fail(format!(
                    "project {project}: {n} credits exist, status {:?}, issued total {}",
                    p.status(),
                    p.issued_total
                ))
            }
            None => return fail(format!("credits exist for unknown project {project}")),
        }
    }
    Ok(())
}

/// Rule 16: per platform, methodology and year, converted grams are whole tonnes and never more
/// than recorded (no gram converted twice); recorded grams are what the persons' points lines
/// add up to, per methodology and year; PHCER exist exactly for the converted tonnes, per
/// methodology and year (with conservation above, they are conserved like any credit).
fn check_inclusion(v: &dyn StateView, created: &Created) -> R<()> {
    use super::inclusion::{phcer_class, GRAMS_PER_TONNE};
    use carbon_proto::v1::{InclusionTotal, PointsLine};
    let mut recorded: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut converted: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for (_, t) in io(read_all::<InclusionTotal>(v, keys::INCLUSION_TOTALS))? {
        if t.converted_grams > t.recorded_grams || t.converted_grams % GRAMS_PER_TONNE != 0 {
            return fail(format!(
                "platform {} {} {}: {} g converted of {} g recorded",
                t.platform_id, t.methodology, t.year, t.converted_grams, t.recorded_grams
            ));
        }
        let k = (t.methodology.clone(), t.year);
        let r = recorded.entry(k.clone()).or_default();
        *r = plus(*r, t.recorded_grams)?;
        let c = converted.entry(k).or_default();
        *c = plus(*c, t.converted_grams / GRAMS_PER_TONNE)?;
    }
    let mut lines: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for (k, val) in io(v.scan_prefix(keys::POINTS))? {
        let (_, date, methodology, _) = keys::parse_points_line(&k).ok_or_else(|| {
            AuditError(format!("points line key {} is malformed", hex::encode(&k)))
        })?;
        let line = PointsLine::decode(val.as_slice()).map_err(|e| AuditError(e.to_string()))?;
        let e = lines.entry((methodology, date / 10_000)).or_default();
        *e = plus(*e, line.grams)?;
    }
    if lines != recorded {
        return fail(format!(
            "points lines add up to {lines:?}, the platforms' recorded totals to {recorded:?}"
        ));
    }
    let mut phcer: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for (class, n) in created {
        if class.first() == Some(&(UnitKind::Phcer as u8)) {
            let vintage = class
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .unwrap_or_default();
            let id = class
                .get(5..class.len().saturating_sub(1))
                .unwrap_or_default();
            let m = String::from_utf8_lossy(id).to_string();
            if keys::class(&phcer_class(&m, vintage)) != *class {
                return fail(format!(
                    "a PHCER class key {} is malformed",
                    hex::encode(class)
                ));
            }
            phcer.insert((m, vintage), *n);
        }
    }
    converted.retain(|_, n| *n > 0);
    if phcer != converted {
        return fail(format!(
            "PHCER created {phcer:?}, tonnes converted {converted:?}"
        ));
    }
    Ok(())
}

/// The chain index holds exactly the sequences 1 to the chain's sequence, each tx id once, and
/// each indexed tx has an outcome carrying that sequence.
fn check_chain_index(v: &dyn StateView) -> R<()> {
    let chain: ChainState = io(read(v, keys::CHAIN))?.unwrap_or_default();
    let indexed = io(super::index::records_in_chain(v))?;
    if indexed != chain.sequence {
        return fail(format!(
            "chain at {} but {indexed} sequence entries",
            chain.sequence
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for seq in 1..=chain.sequence {
        let Some(bytes) = io(super::index::record_at(v, seq))? else {
            return fail(format!("sequence {seq} is not in the chain"));
        };
        let t = CommittedTx::decode(bytes.as_slice()).map_err(|e| {
            AuditError(format!("the record of sequence {seq} does not decode: {e}"))
        })?;
        let Some(o) = t.outcome else {
            return fail(format!("the record of sequence {seq} has no outcome"));
        };
        let id: [u8; 32] = o.tx_id.as_slice().try_into().unwrap_or([0; 32]);
        if !seen.insert(id) {
            return fail(format!("tx {} appears twice in the chain", hex::encode(id)));
        }
        if io(super::index::sequence_of(v, &id))? != Some(seq) {
            return fail(format!(
                "tx {} is not indexed at sequence {seq}",
                hex::encode(id)
            ));
        }
        if o.sequence != seq {
            return fail(format!(
                "tx {} outcome says sequence {}",
                hex::encode(id),
                o.sequence
            ));
        }
    }
    Ok(())
}

/// Open repos hold exactly their units, in the buyer's account in state repo; closed ones none.
fn check_repos(v: &dyn StateView, enc_held: &mut EncHeld) -> R<()> {
    for (_, r) in io(read_all::<RepoAgreement>(v, keys::REPOS))? {
        let held = enc_held.remove(&r.id);
        let open = r.status() == RepoStatus::Open;
        let ok = match &held {
            Some((n, holder, state)) => {
                open && *n == super::collateral::repo_units(&r)
                    && *holder == r.buyer
                    && *state == BlockState::Repo
            }
            None => !open,
        };
        if !ok {
            return fail(format!(
                "repo {} ({:?}, {} units to {}) does not match its blocks: {held:?}",
                r.id,
                r.status(),
                r.quantity,
                r.buyer
            ));
        }
    }
    Ok(())
}

/// Rule 15: a pending transfer that still waits holds exactly its units, in the sender's
/// account in state pending transfer, and is in the due index; a closed one holds none and is
/// not (pending units conserved).
fn check_pending_transfers(v: &dyn StateView, enc_held: &mut EncHeld) -> R<()> {
    use carbon_proto::v1::{PendingTransfer, PendingTransferStatus};
    let mut waiting = 0usize;
    for (_, p) in io(read_all::<PendingTransfer>(v, keys::PENDING_TRANSFERS))? {
        let held = enc_held.remove(&p.id);
        let pending = p.status() == PendingTransferStatus::Pending;
        let indexed = io(v.get(&keys::pending_due(p.due_ms, p.id)))?.is_some();
        let ok = match &held {
            Some((n, holder, state)) => {
                pending
                    && *n == p.quantity
                    && *holder == p.from_account
                    && *state == BlockState::PendingTransfer
            }
            None => !pending,
        };
        if !ok || indexed != pending {
            return fail(format!(
                "pending transfer {} ({:?}, {} units from {}) does not match its blocks or due index: {held:?}",
                p.id,
                p.status(),
                p.quantity,
                p.from_account
            ));
        }
        if pending {
            waiting = waiting.saturating_add(1);
        }
    }
    let indexed = io(v.scan_prefix(keys::PENDING_DUE))?.len();
    if indexed != waiting {
        return fail(format!(
            "{indexed} pending transfers are due-indexed, {waiting} wait"
        ));
    }
    Ok(())
}

/// A loan never has more returned than lent, and is open exactly while units are outstanding.
fn check_loans(v: &dyn StateView) -> R<()> {
    for (_, l) in io(read_all::<Loan>(v, keys::LOANS))? {
        let open = l.status() == LoanStatus::Open;
        if l.returned > l.quantity || open != (l.returned < l.quantity) || l.quantity == 0 {
            return fail(format!(
                "loan {} is {:?} with {} of {} returned",
                l.id,
                l.status(),
                l.returned,
                l.quantity
            ));
        }
    }
    Ok(())
}

/// Verifies an exported history offline: ids, signatures, every link of the chain.
pub fn verify_chain(genesis: &Genesis, history: &[CommittedTx]) -> R<[u8; 32]> {
    carbon_proto::chain::verify_chain(genesis, history).map_err(|e| AuditError(e.to_string()))
}

/// Checks an exported history completely: ids, signatures and links, then every transaction
/// replayed through the rules from genesis (each outcome as recorded), then every invariant of
/// the rebuilt state. Returns the last sequence and the chain head. Only a whole history (the
/// regulator's export) can be replayed: a redacted transaction is refused by name.
pub fn check_export(genesis: &Genesis, history: &[CommittedTx]) -> R<(u64, [u8; 32])> {
    if let Some(t) = history.iter().find(|t| t.tx.is_none()) {
        return fail(format!(
            "sequence {} is redacted: only the regulator's export holds every transaction, and only it can be replayed",
            t.outcome.as_ref().map_or(0, |o| o.sequence)
        ));
    }
    check_order(history)?;
    let head = verify_chain(genesis, history)?;
    let state = replay(genesis, history)?;
    check_invariants(&state)?;
    let sequence = history
        .last()
        .and_then(|t| t.outcome.as_ref())
        .map_or(0, |o| o.sequence);
    Ok((sequence, head))
}

/// Sequences run 1, 2, 3, …; log indexes and timestamps never go backwards (the state machine
/// makes ledger time monotonic).
fn check_order(history: &[CommittedTx]) -> R<()> {
    let mut last = (0u64, 0u64, 0u64);
    for t in history {
        let Some(o) = t.outcome.as_ref() else {
            return fail("an entry of the history has no outcome");
        };
        let expected = last.0.saturating_add(1);
        if o.sequence != expected {
            return fail(format!("sequence {} follows {}", o.sequence, last.0));
        }
        if o.log_index < last.1 || o.timestamp_ms < last.2 {
            return fail(format!(
                "sequence {} goes back in log index or time ({} after {}, {} ms after {} ms)",
                o.sequence, o.log_index, last.1, o.timestamp_ms, last.2
            ));
        }
        last = (o.sequence, o.log_index, o.timestamp_ms);
    }
    Ok(())
}

/// Replays a history from genesis through the ledger and checks that every outcome comes out
/// as recorded (every field the chain covers; messages may differ between releases). Every signature is verified again, by the same rule as ingress
/// (`carbon_proto::signing::verify`, strict). Returns the rebuilt state.
pub fn replay(genesis: &Genesis, history: &[CommittedTx]) -> R<MemState> {
    let mut state = MemState::default();
    state.apply(genesis_writes(genesis).map_err(|e| AuditError(e.to_string()))?);
    let mut rest = history;
    while let Some(first) = rest.first() {
        let Some(o) = first.outcome.as_ref() else {
            return fail("an entry of the history has no outcome");
        };
        let ctx = Ctx {
            log_index: o.log_index,
            timestamp_ms: o.timestamp_ms,
            ledger_version: o.ledger_version,
        };
        let same_entry = rest
            .iter()
            .take_while(|t| t.outcome.as_ref().map(|o| o.log_index) == Some(ctx.log_index))
            .count();
        let (entry, tail) = rest.split_at(same_entry);
        let mut txs = Vec::with_capacity(entry.len());
        for t in entry {
            let signed = t.tx.clone().unwrap_or_default();
            // The ledger makes its own records (rule 15's executions) again when it applies
            // the entry: they are compared, not fed in.
            if carbon_proto::signing::ledger_made(&genesis.chain_id, &signed).is_some() {
                continue;
            }
            txs.push(
                carbon_proto::signing::verify(&genesis.chain_id, signed)
                    .map_err(|e| AuditError(e.to_string()))?,
            );
        }
        let applied = apply_entry(&state, ctx, &txs).map_err(|e| AuditError(e.to_string()))?;
        if applied.records.len() != entry.len() {
            return fail(format!(
                "replay of log index {} gives {} records, the history has {}",
                ctx.log_index,
                applied.records.len(),
                entry.len()
            ));
        }
        let got_outcomes: Vec<_> = applied
            .records
            .iter()
            .map(|r| r.outcome.clone().unwrap_or_default())
            .collect();
        for (got, want) in got_outcomes.iter().zip(entry) {
            // What the chain covers, not the free-text message (a release may reword those).
            let same = want
                .outcome
                .as_ref()
                .is_some_and(|w| carbon_proto::chain::link(got) == carbon_proto::chain::link(w));
            if !same {
                return fail(format!(
                    "replay of sequence {} gives a different outcome",
                    got.sequence
                ));
            }
        }
        state.apply(applied.writes);
        rest = tail;
    }
    Ok(state)
}
