//! Trusted accounts and the transfer delay (domain rule 15, ledger version 3; after the EU Union
//! Registry, Reg. 2019/1122 art. 23 and 35).
//!
//! * Each account keeps a **trusted account list**: an addition takes effect
//!   `trusted_list_delay_ms` of ledger time after it is recorded, a removal at once.
//! * A **transfer** (only a transfer: trades, repos, loans and pledges carry both parties'
//!   signatures) to an account not on the sender's effective list, by or to a non-regulator,
//!   is **pending**: its units stay in the sender's account in state *pending transfer* (an
//!   encumbrance; the id comes from the encumbrance sequence) for `transfer_delay_ms`; the
//!   sender may cancel it meanwhile. It executes in the first entry whose ledger time passed its
//!   due time, in (due time, id) order, before the entry's transactions: [`execute_due`] makes
//!   a record the ledger writes itself (`ExecutePendingTransfer`, no signer), so that it is in
//!   the chain and the statements. The leader proposes an entry when one is due
//!   (`crate::write::due`).
//! * A **daily limit** per unit kind on what an account sends by transfer per CST day: lowering
//!   takes effect at once, raising after `trusted_list_delay_ms`.
//!
//! Everything here is off unless the genesis enables `safeguards`, and only from ledger
//! version 3 on: entries of older versions apply exactly as before.

use super::dates;
use super::encumbrances::next_id;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_quantity, read, read_all, Exec};
use super::holdings::{Flow, Give, Take};
use super::keys;
use super::store::{StateView, ViewFault};
use carbon_proto::v1::{
    AccountStatus, CancelPendingTransfer, Effects, Genesis, PendingTransfer, PendingTransferStatus,
    Role, SafeguardSettings, SetTransferLimit, Transfer, TransferLimit, TrustAccount,
    TrustedAccount, UnitClass, UnitKind, UntrustAccount,
};

/// The first ledger version with rules 15 and 18.
pub const SAFEGUARDS_VERSION: u32 = 3;
/// Default transfer delay: 26 hours.
pub const DEFAULT_TRANSFER_DELAY_MS: u64 = 26 * 3_600_000;
/// Default delay of a trusted list addition (and of a limit raise): 4 days.
pub const DEFAULT_TRUSTED_LIST_DELAY_MS: u64 = 4 * 86_400_000;

/// The delays in force: (transfer delay, trusted list delay); `None` when the genesis does not
/// enable safeguards.
pub fn settings(g: &Genesis) -> Option<(u64, u64)> {
    let s = g.safeguards.as_ref().filter(|s| s.enabled)?;
    Some(effective_settings(s))
}

fn effective_settings(s: &SafeguardSettings) -> (u64, u64) {
    let or = |v: u64, d: u64| if v == 0 { d } else { v };
    (
        or(s.transfer_delay_ms, DEFAULT_TRANSFER_DELAY_MS),
        or(s.trusted_list_delay_ms, DEFAULT_TRUSTED_LIST_DELAY_MS),
    )
}

/// The genesis settings as reads show them (defaults filled in).
pub fn shown_settings(g: &Genesis) -> SafeguardSettings {
    match settings(g) {
        Some((t, l)) => SafeguardSettings {
            enabled: true,
            transfer_delay_ms: t,
            trusted_list_delay_ms: l,
        },
        None => SafeguardSettings::default(),
    }
}

/// Operations of ledger version 3 are refused in entries of an older version.
pub fn require_version(x: &Exec, what: &str) -> Res<()> {
    if x.ctx.ledger_version < SAFEGUARDS_VERSION {
        return reject(
            ErrorCode::VersionNotActive,
            format!(
                "{what} needs ledger version {SAFEGUARDS_VERSION}; this entry applies version {}",
                x.ctx.ledger_version
            ),
        );
    }
    Ok(())
}

fn enabled(x: &Exec, what: &str) -> Res<(u64, u64)> {
    require_version(x, what)?;
    match settings(x.genesis) {
        Some(s) => Ok(s),
        None => reject(
            ErrorCode::SafeguardsDisabled,
            "this registry's genesis does not enable safeguards (trusted lists, transfer delays, limits)",
        ),
    }
}

fn at(now: u64, delay: u64) -> Res<u64> {
    add(now, delay, "the effective time")
}

pub fn trust(x: &mut Exec, op: &TrustAccount) -> Res<Effects> {
    let (_, list_delay) = enabled(x, "a trusted account list")?;
    x.require_signer(&op.account_id, "the account")?;
    x.open_account(&op.account_id)?;
    x.account(&op.trusted_account_id)?;
    if op.account_id == op.trusted_account_id {
        return reject(
            ErrorCode::SameAccount,
            format!("{:?} cannot trust itself", op.account_id),
        );
    }
    let key = keys::trusted(&op.account_id, &op.trusted_account_id);
    if let Some(t) = x.get::<TrustedAccount>(&key)? {
        return reject(
            ErrorCode::AlreadyTrusted,
            format!(
                "{:?} is already on the trusted list of {:?} (effective from {} ms)",
                op.trusted_account_id, op.account_id, t.effective_ms
            ),
        );
    }
    let effective_ms = at(x.ctx.timestamp_ms, list_delay)?;
    let t = TrustedAccount {
        account_id: op.account_id.clone(),
        trusted_account_id: op.trusted_account_id.clone(),
        effective_ms,
        added_sequence: x.sequence,
        effective: false,
    };
    x.put(key, &t);
    Ok(Effects {
        due_ms: effective_ms,
        ..Default::default()
    })
}

pub fn untrust(x: &mut Exec, op: &UntrustAccount) -> Res<Effects> {
    enabled(x, "a trusted account list")?;
    x.require_signer(&op.account_id, "the account")?;
    x.account(&op.account_id)?;
    let key = keys::trusted(&op.account_id, &op.trusted_account_id);
    if x.get::<TrustedAccount>(&key)?.is_none() {
        return reject(
            ErrorCode::NotTrusted,
            format!(
                "{:?} is not on the trusted list of {:?}",
                op.trusted_account_id, op.account_id
            ),
        );
    }
    x.st.delete(key);
    Ok(Effects::default())
}

/// The limit in force at `now` (`None`: no limit).
pub fn limit_at(l: &TransferLimit, now: u64) -> Option<u64> {
    if l.raise_pending && now >= l.raise_effective_ms {
        return (!l.raise_to_unlimited).then_some(l.raised_limit);
    }
    l.limited.then_some(l.daily_limit)
}

/// The record with a raise that has taken effect folded in.
fn settled(mut l: TransferLimit, now: u64) -> TransferLimit {
    if l.raise_pending && now >= l.raise_effective_ms {
        l.limited = !l.raise_to_unlimited;
        l.daily_limit = if l.limited { l.raised_limit } else { 0 };
        l.raise_pending = false;
        l.raise_to_unlimited = false;
        l.raised_limit = 0;
        l.raise_effective_ms = 0;
    }
    l.sent_today = 0;
    l
}

fn known_kind(kind: i32) -> Res<UnitKind> {
    match UnitKind::try_from(kind) {
        Ok(k) if k != UnitKind::Unspecified => Ok(k),
        _ => reject(
            ErrorCode::InvalidUnitClass,
            format!("unit kind {kind} is not a kind of unit"),
        ),
    }
}

pub fn set_limit(x: &mut Exec, op: &SetTransferLimit) -> Res<Effects> {
    let (_, list_delay) = enabled(x, "a transfer limit")?;
    x.require_signer(&op.account_id, "the account")?;
    x.open_account(&op.account_id)?;
    let kind = known_kind(op.kind)?;
    let now = x.ctx.timestamp_ms;
    let key = keys::transfer_limit(&op.account_id, kind as i32);
    let mut l = match x.get::<TransferLimit>(&key)? {
        Some(l) => settled(l, now),
        None => TransferLimit {
            account_id: op.account_id.clone(),
            kind: kind as i32,
            ..Default::default()
        },
    };
    let current = l.limited.then_some(l.daily_limit);
    let wanted = (!op.unlimited).then_some(op.daily_limit);
    let lower = match (current, wanted) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(c), Some(w)) => w <= c,
    };
    let due_ms = if lower {
        l.limited = wanted.is_some();
        l.daily_limit = wanted.unwrap_or(0);
        l.raise_pending = false;
        l.raise_to_unlimited = false;
        l.raised_limit = 0;
        l.raise_effective_ms = 0;
        now
    } else {
        let when = at(now, list_delay)?;
        l.raise_pending = true;
        l.raise_to_unlimited = wanted.is_none();
        l.raised_limit = wanted.unwrap_or(0);
        l.raise_effective_ms = when;
        when
    };
    x.put(key, &l);
    Ok(Effects {
        due_ms,
        ..Default::default()
    })
}

/// Counts a transfer against the sender's daily limit of its kind (CST day of the ledger time).
fn count_sent(x: &mut Exec, from: &str, class: &UnitClass, quantity: u64) -> Res<()> {
    let now = x.ctx.timestamp_ms;
    let date = dates::date_of(now);
    let key = keys::sent_on(from, class.kind, date);
    let sent = match x.st.get(&key)? {
        Some(b) => match <[u8; 8]>::try_from(b.as_slice()) {
            Ok(a) => u64::from_be_bytes(a),
            Err(_) => return Err(ViewFault("a sent-today counter is not 8 bytes".into()).into()),
        },
        None => 0,
    };
    let after = add(sent, quantity, "the units sent today")?;
    let limit = x
        .get::<TransferLimit>(&keys::transfer_limit(from, class.kind))?
        .and_then(|l| limit_at(&l, now));
    if let Some(limit) = limit {
        if after > limit {
            return reject(
                ErrorCode::TransferLimitExceeded,
                format!(
                    "{from:?} may send {limit} units of {} by transfer per day and sent {sent} on {date}; {quantity} more would exceed it",
                    class.kind().as_str_name()
                ),
            );
        }
    }
    x.st.put(key, after.to_be_bytes().to_vec());
    Ok(())
}

/// Whether `to` is on `from`'s trusted list and the addition has taken effect.
fn trusted_now(x: &Exec, from: &str, to: &str) -> Res<bool> {
    Ok(x.get::<TrustedAccount>(&keys::trusted(from, to))?
        .is_some_and(|t| t.effective_ms <= x.ctx.timestamp_ms))
}

/// The hook of a transfer (its checks passed): from version 3 with safeguards on, counts it
/// against the sender's limit and, unless it is immediate, makes it pending. `None`: the
/// transfer moves the units now, as before.
pub fn route_transfer(x: &mut Exec, op: &Transfer, class: &UnitClass) -> Res<Option<Effects>> {
    if x.ctx.ledger_version < SAFEGUARDS_VERSION {
        return Ok(None);
    }
    let Some((delay, _)) = settings(x.genesis) else {
        return Ok(None);
    };
    count_sent(x, &op.from_account, class, op.quantity)?;
    let from = x.account(&op.from_account)?;
    let to = x.account(&op.to_account)?;
    let immediate = from.role() == Role::Regulator
        || to.role() == Role::Regulator
        || trusted_now(x, &op.from_account, &op.to_account)?;
    if immediate {
        return Ok(None);
    }
    let id = next_id(x)?;
    let moved = x.move_units(
        &op.from_account,
        &op.from_account,
        class,
        op.quantity,
        Take::Available,
        Give::PendingTransfer(id),
    )?;
    x.note(
        &op.from_account,
        class,
        &Vec::new(),
        Flow::Within,
        &op.to_account,
    )?;
    let due_ms = at(x.ctx.timestamp_ms, delay)?;
    let p = PendingTransfer {
        id,
        status: PendingTransferStatus::Pending as i32,
        from_account: op.from_account.clone(),
        to_account: op.to_account.clone(),
        unit_class: Some(class.clone()),
        quantity: op.quantity,
        ranges: moved.clone(),
        created_sequence: x.sequence,
        created_ms: x.ctx.timestamp_ms,
        due_ms,
        closed_sequence: 0,
        failure: ErrorCode::Ok as i32,
    };
    x.put(keys::pending_transfer(id), &p);
    x.st.put(keys::pending_due(due_ms, id), Vec::new());
    x.st.put(keys::pending_by_party(&p.from_account, id), Vec::new());
    x.st.put(keys::pending_by_party(&p.to_account, id), Vec::new());
    x.touch(&op.to_account);
    Ok(Some(Effects {
        moved,
        pending_transfer_id: id,
        due_ms,
        ..Default::default()
    }))
}

pub fn cancel(x: &mut Exec, op: &CancelPendingTransfer) -> Res<Effects> {
    enabled(x, "cancelling a pending transfer")?;
    let id = op.pending_transfer_id;
    let mut p = x.private_record(
        x.get::<PendingTransfer>(&keys::pending_transfer(id))?,
        |p| [p.from_account.as_str(), p.to_account.as_str()],
        ErrorCode::UnknownPendingTransfer,
        "pending transfer",
        id,
    )?;
    x.require_signer(&p.from_account, "the sender")?;
    if p.status() != PendingTransferStatus::Pending {
        return reject(
            ErrorCode::PendingTransferClosed,
            format!("pending transfer {id} is no longer pending"),
        );
    }
    check_quantity(p.quantity, "the pending quantity")?;
    let class = p.unit_class.clone().unwrap_or_default();
    let moved = x.move_units(
        &p.from_account,
        &p.from_account,
        &class,
        p.quantity,
        Take::Encumbrance(id),
        Give::Available,
    )?;
    x.note(
        &p.from_account,
        &class,
        &Vec::new(),
        Flow::Within,
        &p.to_account,
    )?;
    x.st.delete(keys::pending_due(p.due_ms, id));
    p.status = PendingTransferStatus::Cancelled as i32;
    p.closed_sequence = x.sequence;
    x.put(keys::pending_transfer(id), &p);
    x.touch(&p.to_account.clone());
    Ok(Effects {
        moved,
        pending_transfer_id: id,
        due_ms: p.due_ms,
        ..Default::default()
    })
}

/// `ExecutePendingTransfer` submitted as a transaction: only the ledger writes it.
pub fn refuse_system(_x: &mut Exec) -> Res<Effects> {
    reject(
        ErrorCode::SystemOperation,
        "pending transfers execute by ledger time; nobody submits their execution",
    )
}

/// The pending transfers due before `now` (ledger time passed their due time), in (due time,
/// id) order: (due index key, id, due time).
pub fn due(v: &dyn StateView, now: u64) -> Result<Vec<(Vec<u8>, u64, u64)>, ViewFault> {
    let mut out = Vec::new();
    for (k, _) in v.scan_prefix(keys::PENDING_DUE)? {
        let (Some(due), Some(id)) = (
            k.get(1..9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes),
            keys::trailing_u64(&k),
        ) else {
            return Err(ViewFault("a pending-due key is malformed".into()));
        };
        if due >= now {
            break;
        }
        out.push((k, id, due));
    }
    Ok(out)
}

/// The earliest due time of a pending transfer, if any (the leader's trigger).
pub fn next_due(v: &dyn StateView) -> Result<Option<u64>, ViewFault> {
    Ok(v.scan_from(keys::PENDING_DUE, keys::PENDING_DUE, 1)?
        .first()
        .and_then(|(k, _)| k.get(1..9))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes))
}

/// Executes the pending transfer the ledger-made record names: the units go to the recipient;
/// if the sender or the recipient can no longer send or receive them (suspended, closed, a role
/// that cannot hold the class), they return to the sender, available (status RETURNED).
pub fn execute(x: &mut Exec) -> Res<Effects> {
    let Some(carbon_proto::v1::tx_body::Operation::ExecutePendingTransfer(op)) =
        x.tx.body.operation.clone()
    else {
        return reject(ErrorCode::Malformed, "not a pending transfer's execution");
    };
    let id = op.pending_transfer_id;
    let Some(mut p) = x.get::<PendingTransfer>(&keys::pending_transfer(id))? else {
        return Err(ViewFault(format!("pending transfer {id} is due but has no record")).into());
    };
    let class = p.unit_class.clone().unwrap_or_default();
    let failure = blocked(x, &p, &class)?;
    let to = if failure == ErrorCode::Ok {
        p.to_account.clone()
    } else {
        p.from_account.clone()
    };
    let moved = x.move_units(
        &p.from_account,
        &to,
        &class,
        p.quantity,
        Take::Encumbrance(id),
        Give::Available,
    )?;
    if failure != ErrorCode::Ok {
        x.note(
            &p.from_account,
            &class,
            &Vec::new(),
            Flow::Within,
            &p.to_account,
        )?;
    }
    x.st.delete(keys::pending_due(p.due_ms, id));
    p.status = if failure == ErrorCode::Ok {
        PendingTransferStatus::Executed
    } else {
        PendingTransferStatus::Returned
    } as i32;
    p.failure = failure as i32;
    p.closed_sequence = x.sequence;
    x.put(keys::pending_transfer(id), &p);
    x.touch(&p.from_account.clone());
    x.touch(&p.to_account.clone());
    Ok(Effects {
        moved,
        pending_transfer_id: id,
        due_ms: p.due_ms,
        ..Default::default()
    })
}

/// Why a due transfer cannot execute now (`Ok`: it can).
fn blocked(x: &Exec, p: &PendingTransfer, class: &UnitClass) -> Res<ErrorCode> {
    let from = x.account(&p.from_account)?;
    let to = x.account(&p.to_account)?;
    if from.status() != AccountStatus::Open || to.status() != AccountStatus::Open {
        return Ok(ErrorCode::AccountNotOpen);
    }
    if !super::exec::can_hold(to.role(), class.kind()) {
        return Ok(ErrorCode::RoleCannotHold);
    }
    Ok(ErrorCode::Ok)
}

/// Rule 15's records of one account, as reads show them at ledger time `now`.
pub struct Safeguards {
    pub trusted: Vec<TrustedAccount>,
    pub limits: Vec<TransferLimit>,
    pub pending: Vec<PendingTransfer>,
}

pub fn of_account(v: &dyn StateView, account: &str, now: u64) -> Result<Safeguards, ViewFault> {
    let trusted = read_all::<TrustedAccount>(v, &keys::trusted_of(account))?
        .into_iter()
        .map(|(_, mut t)| {
            t.effective = t.effective_ms <= now;
            t
        })
        .collect();
    let date = dates::date_of(now);
    let mut limits = Vec::new();
    for (_, l) in read_all::<TransferLimit>(v, &keys::transfer_limits_of(account))? {
        let kind = l.kind;
        let mut l = settled(l, now);
        l.sent_today = match v.get(&keys::sent_on(account, kind, date))? {
            Some(b) => <[u8; 8]>::try_from(b.as_slice()).map_or(0, u64::from_be_bytes),
            None => 0,
        };
        limits.push(l);
    }
    let mut pending = Vec::new();
    for (k, _) in v.scan_prefix(&keys::pending_of_party(account))? {
        let Some(id) = keys::trailing_u64(&k) else {
            continue;
        };
        if let Some(p) = read::<PendingTransfer>(v, &keys::pending_transfer(id))? {
            pending.push(p);
        }
    }
    Ok(Safeguards {
        trusted,
        limits,
        pending,
    })
}
