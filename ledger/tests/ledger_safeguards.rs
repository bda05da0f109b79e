//! Rules 15 (trusted accounts, pending transfers, daily limits) and 18 (pledge top-up, repo
//! substitution), ledger version 3: each success path and every rejection with its stable code
//! and no state change (`Reg::rejects`); the invariants are checked after every entry.

mod common;

use carbon_ledger::{audit, queries, safeguards};
use carbon_proto::v1::{
    tx_body::Operation as Op, Allocate, BlockState, CancelPendingTransfer, DeclareVintage,
    EncumbranceStatus, EnforcePledge, ErrorCode as E, ExecutePendingTransfer, Freeze,
    PendingTransfer, PendingTransferStatus, Pledge, ReleasePledge, Repo, RepoStatus, Repurchase,
    Role, SetTransferLimit, SubstituteRepo, SuspendAccount, TopUpPledge, Trade, Transfer,
    TrustAccount, UnitClass, UnitKind, UntrustAccount,
};
use common::*;

const ENT: &str = "ZJ-ENT-01";
const ENT2: &str = "ZJ-ENT-02";
const THIEF: &str = "ZJ-ENT-66";
const BANK: &str = "ZJ-BANK-01";

fn transfer(from: &str, to: &str, c: UnitClass, q: u64) -> Op {
    Op::Transfer(Transfer {
        from_account: from.into(),
        to_account: to.into(),
        unit_class: Some(c),
        quantity: q,
    })
}
fn trust(a: &str, t: &str) -> Op {
    Op::TrustAccount(TrustAccount {
        account_id: a.into(),
        trusted_account_id: t.into(),
    })
}
fn untrust(a: &str, t: &str) -> Op {
    Op::UntrustAccount(UntrustAccount {
        account_id: a.into(),
        trusted_account_id: t.into(),
    })
}
fn cancel(id: u64) -> Op {
    Op::CancelPendingTransfer(CancelPendingTransfer {
        pending_transfer_id: id,
    })
}
fn limit(a: &str, kind: UnitKind, n: Option<u64>) -> Op {
    Op::SetTransferLimit(SetTransferLimit {
        account_id: a.into(),
        kind: kind as i32,
        daily_limit: n.unwrap_or(0),
        unlimited: n.is_none(),
    })
}
fn pledge(q: u64) -> Op {
    Op::Pledge(Pledge {
        pledgor: ENT.into(),
        pledgee: BANK.into(),
        unit_class: Some(cea(2025)),
        quantity: q,
        secured_amount_fen: 1_000_000,
        maturity_date: 20270630,
        contract_ref: "质押-01".into(),
    })
}
fn top_up(id: u64, q: u64) -> Op {
    Op::TopUpPledge(TopUpPledge {
        pledge_id: id,
        quantity: q,
    })
}
fn repo(q: u64, date: u32) -> Op {
    Op::Repo(Repo {
        seller: ENT.into(),
        buyer: BANK.into(),
        unit_class: Some(cea(2025)),
        quantity: q,
        sale_price_fen: 8_000,
        repurchase_price_fen: 8_100,
        repurchase_date: date,
        contract_ref: "回购-01".into(),
    })
}
fn substitute(id: u64, old: UnitClass, oq: u64, new: UnitClass, nq: u64) -> Op {
    Op::SubstituteRepo(SubstituteRepo {
        repo_id: id,
        replaced_class: Some(old),
        replaced_quantity: oq,
        new_class: Some(new),
        new_quantity: nq,
    })
}

fn cast(r: &mut Reg) {
    r.open(ENT, Role::Enterprise);
    r.open(ENT2, Role::Enterprise);
    r.open(THIEF, Role::Enterprise);
    r.open(BANK, Role::Bank);
    r.ok(
        &[REG],
        Op::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1_000_000,
        }),
    );
    r.ok(
        &[REG],
        Op::Allocate(Allocate {
            enterprise_id: ENT.into(),
            vintage: 2025,
            quantity: 1_000,
        }),
    );
}

/// Safeguards on, the usual cast, 1,000 CEA 2025 for ENT.
fn registry() -> Reg {
    let mut r = Reg::with_safeguards();
    cast(&mut r);
    r
}

/// (available, pending transfer) of a class.
fn pending_balance(r: &Reg, id: &str, c: &UnitClass) -> (u64, u64) {
    let (balances, _) = queries::holdings(&r.state, id).expect("read");
    balances
        .into_iter()
        .find(|b| b.unit_class.as_ref() == Some(c))
        .map_or((0, 0), |b| (b.available, b.pending_transfer))
}

fn pending(r: &Reg, id: u64) -> PendingTransfer {
    let s = safeguards::of_account(&r.state, ENT, r.now).expect("read");
    s.pending
        .into_iter()
        .find(|p| p.id == id)
        .expect("pending transfer listed for its sender")
}

/// Applies empty entries until the ledger's time passed `ms`.
fn wait_until(r: &mut Reg, ms: u64) {
    r.now = r.now.max(ms + 1);
    r.apply(Vec::new());
}

// ---------------------------------------------------------------------------------------------
// Rule 15
// ---------------------------------------------------------------------------------------------

#[test]
fn without_safeguards_in_the_genesis_transfers_stay_immediate_and_rule_15_is_refused() {
    let mut r = Reg::new();
    cast(&mut r);
    let fx = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 10));
    assert_eq!(fx.pending_transfer_id, 0);
    assert_eq!(r.available(ENT2, &cea(2025)), 10);
    r.rejects(&[ENT], trust(ENT, ENT2), E::SafeguardsDisabled);
    r.rejects(&[ENT], untrust(ENT, ENT2), E::SafeguardsDisabled);
    r.rejects(
        &[ENT],
        limit(ENT, UnitKind::Cea, Some(5)),
        E::SafeguardsDisabled,
    );
    r.rejects(&[ENT], cancel(1), E::SafeguardsDisabled);
}

#[test]
fn entries_of_version_2_apply_as_before_and_refuse_the_new_operations() {
    let mut r = registry();
    r.version = 2;
    let fx = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 10));
    assert_eq!(fx.pending_transfer_id, 0, "version 2: immediate");
    assert_eq!(r.available(ENT2, &cea(2025)), 10);
    r.rejects(&[ENT], trust(ENT, ENT2), E::VersionNotActive);
    r.rejects(
        &[ENT],
        limit(ENT, UnitKind::Cea, Some(5)),
        E::VersionNotActive,
    );
    r.rejects(&[ENT], cancel(1), E::VersionNotActive);
    let id = r.ok(&[ENT, BANK], pledge(100)).encumbrance_id;
    r.rejects(&[ENT, BANK], top_up(id, 10), E::VersionNotActive);
    let rid = r.ok(&[ENT, BANK], repo(50, 20261231)).encumbrance_id;
    r.rejects(
        &[ENT, BANK],
        substitute(rid, cea(2025), 10, cea(2026), 10),
        E::VersionNotActive,
    );
}

#[test]
fn a_transfer_to_an_untrusted_account_is_pending_encumbered_and_executes_by_ledger_time() {
    let mut r = registry();
    let t_sent = r.now;
    let fx = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 10));
    let id = fx.pending_transfer_id;
    assert!(id > 0);
    assert_eq!(fx.due_ms, t_sent + TEST_TRANSFER_DELAY_MS);
    assert_eq!(pending_balance(&r, ENT, &cea(2025)), (990, 10));
    assert_eq!(r.available(ENT2, &cea(2025)), 0);
    let (_, blocks) = queries::holdings(&r.state, ENT).expect("read");
    assert!(blocks
        .iter()
        .any(|b| b.state() == BlockState::PendingTransfer && b.encumbrance_id == id));
    // The recipient sees it too.
    let seen = safeguards::of_account(&r.state, ENT2, r.now).expect("read");
    assert_eq!(seen.pending.len(), 1);
    // Pending units are not spendable.
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 990));
    r.rejects(
        &[ENT, ENT2],
        Op::Trade(Trade {
            seller: ENT.into(),
            buyer: ENT2.into(),
            unit_class: Some(cea(2025)),
            quantity: 1,
            price_fen: 8_000,
            exchange_ref: String::new(),
        }),
        E::UnitsEncumbered,
    );
    // Not yet due: an entry at the due time itself executes nothing.
    r.now = fx.due_ms;
    r.apply(Vec::new());
    assert!(r.records.is_empty());
    assert_eq!(pending(&r, id).status(), PendingTransferStatus::Pending);
    // The first entry whose time passed the due time executes both, in due order.
    wait_until(&mut r, fx.due_ms + 5_000);
    assert_eq!(r.records.len(), 2);
    let ops: Vec<u64> = r
        .records
        .iter()
        .map(|rec| {
            let body = carbon_proto::v1::TxBody::decode(
                rec.tx.as_ref().expect("record has its tx").body.as_slice(),
            )
            .expect("body");
            assert!(body.signers.is_empty());
            match body.operation {
                Some(Op::ExecutePendingTransfer(e)) => e.pending_transfer_id,
                other => panic!("not an execution: {other:?}"),
            }
        })
        .collect();
    assert_eq!(ops, vec![id, id + 1]);
    assert_eq!(r.available(ENT2, &cea(2025)), 1_000);
    assert_eq!(pending_balance(&r, ENT, &cea(2025)), (0, 0));
    assert_eq!(pending(&r, id).status(), PendingTransferStatus::Executed);
    // The recipient's statement shows the units coming in from the sender.
    let (lines, _) = queries::statement(&r.state, ENT2, 0, 0, &[], 100).expect("statement");
    let last = lines.last().expect("a line");
    assert_eq!(last.operation, "execute_pending_transfer");
    assert_eq!(last.quantity_in, 990);
    assert_eq!(last.counterparty, ENT);
    // After execution it can no longer be cancelled.
    r.rejects(&[ENT], cancel(id), E::PendingTransferClosed);
}

use prost::Message;

#[test]
fn the_holder_cancels_a_pending_transfer_within_the_delay() {
    let mut r = registry();
    let id = r
        .ok(&[ENT], transfer(ENT, THIEF, cea(2025), 600))
        .pending_transfer_id;
    // Only the sender cancels; a stranger learns nothing; an unknown id is unknown.
    r.rejects(&[THIEF], cancel(id), E::InsufficientSignatures);
    r.rejects(&[ENT2], cancel(id), E::UnknownPendingTransfer);
    r.rejects(&[ENT], cancel(id + 100), E::UnknownPendingTransfer);
    let fx = r.ok(&[ENT], cancel(id));
    assert_eq!(fx.pending_transfer_id, id);
    assert_eq!(pending_balance(&r, ENT, &cea(2025)), (1_000, 0));
    assert_eq!(pending(&r, id).status(), PendingTransferStatus::Cancelled);
    r.rejects(&[ENT], cancel(id), E::PendingTransferClosed);
    // Nothing executes later.
    let later = r.now + TEST_TRANSFER_DELAY_MS;
    wait_until(&mut r, later);
    assert!(r.records.is_empty());
    assert_eq!(r.available(THIEF, &cea(2025)), 0);
    // Nobody submits an execution.
    r.rejects(
        &[ENT],
        Op::ExecutePendingTransfer(ExecutePendingTransfer {
            pending_transfer_id: id,
        }),
        E::SystemOperation,
    );
}

#[test]
fn a_trusted_account_receives_at_once_after_the_list_delay_and_removal_is_immediate() {
    let mut r = registry();
    let fx = r.ok(&[ENT], trust(ENT, ENT2));
    assert!(fx.due_ms > r.now);
    r.rejects(&[ENT], trust(ENT, ENT2), E::AlreadyTrusted);
    r.rejects(&[ENT], trust(ENT, ENT), E::SameAccount);
    r.rejects(&[ENT], trust(ENT, "ZJ-NOBODY"), E::UnknownAccount);
    r.rejects(&[ENT2], trust(ENT, THIEF), E::InsufficientSignatures);
    r.rejects(&[ENT], untrust(ENT, THIEF), E::NotTrusted);
    // Still in its delay: the transfer waits.
    let p = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
    assert!(p.pending_transfer_id > 0);
    r.now = fx.due_ms;
    let now_trusted = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 2));
    assert_eq!(now_trusted.pending_transfer_id, 0);
    assert!(!now_trusted.moved.is_empty());
    let s = safeguards::of_account(&r.state, ENT, r.now).expect("read");
    assert!(s.trusted[0].effective);
    r.ok(&[ENT], untrust(ENT, ENT2));
    let again = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 3));
    assert!(again.pending_transfer_id > 0);
}

#[test]
fn transfers_to_and_by_the_regulator_are_immediate() {
    let mut r = registry();
    let fx = r.ok(&[ENT], transfer(ENT, REG, cea(2025), 10));
    assert_eq!(fx.pending_transfer_id, 0);
    let fx = r.ok(&[REG], transfer(REG, ENT2, cea(2025), 4));
    assert_eq!(fx.pending_transfer_id, 0);
    assert_eq!(r.available(ENT2, &cea(2025)), 4);
}

#[test]
fn daily_limits_lower_at_once_and_raise_after_the_delay() {
    let mut r = registry();
    r.rejects(
        &[ENT],
        limit(ENT, UnitKind::Unspecified, Some(1)),
        E::InvalidUnitClass,
    );
    r.rejects(
        &[ENT2],
        limit(ENT, UnitKind::Cea, Some(1)),
        E::InsufficientSignatures,
    );
    let fx = r.ok(&[ENT], limit(ENT, UnitKind::Cea, Some(100)));
    assert_eq!(fx.due_ms, r.now - 1_000, "lowering: at once");
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 60));
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 41),
        E::TransferLimitExceeded,
    );
    // Trusted or to the regulator: still counted.
    r.rejects(
        &[ENT],
        transfer(ENT, REG, cea(2025), 41),
        E::TransferLimitExceeded,
    );
    r.ok(&[ENT], transfer(ENT, REG, cea(2025), 40));
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1),
        E::TransferLimitExceeded,
    );
    // Raising waits for the list delay.
    let raise = r.ok(&[ENT], limit(ENT, UnitKind::Cea, None));
    assert!(raise.due_ms > r.now);
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1),
        E::TransferLimitExceeded,
    );
    // Lowering again cancels the raise, at once.
    r.ok(&[ENT], limit(ENT, UnitKind::Cea, Some(100)));
    let s = safeguards::of_account(&r.state, ENT, r.now).expect("read");
    assert_eq!(s.limits[0].sent_today, 100);
    assert!(!s.limits[0].raise_pending);
    // The next CST day starts afresh.
    r.now += 86_400_000;
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 100));
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1),
        E::TransferLimitExceeded,
    );
    // A raise takes effect after its delay.
    let raise = r.ok(&[ENT], limit(ENT, UnitKind::Cea, Some(1_000)));
    r.now = raise.due_ms;
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 300));
}

#[test]
fn a_due_transfer_whose_recipient_was_suspended_returns_to_the_sender() {
    let mut r = registry();
    let fx = r.ok(&[ENT], transfer(ENT, THIEF, cea(2025), 700));
    r.ok(
        &[REG],
        Op::SuspendAccount(SuspendAccount {
            account_id: THIEF.into(),
            reason: "被盗账户调查".into(),
        }),
    );
    wait_until(&mut r, fx.due_ms);
    assert_eq!(r.records.len(), 1);
    let p = pending(&r, fx.pending_transfer_id);
    assert_eq!(p.status(), PendingTransferStatus::Returned);
    assert_eq!(p.failure(), E::AccountNotOpen);
    assert_eq!(pending_balance(&r, ENT, &cea(2025)), (1_000, 0));
    assert_eq!(r.available(THIEF, &cea(2025)), 0);
}

#[test]
fn a_history_with_executions_replays_to_the_same_chain_head() {
    let mut r = registry();
    let a = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 5));
    let b = r.ok(&[ENT], transfer(ENT, THIEF, cea(2025), 7));
    r.ok(&[ENT], cancel(b.pending_transfer_id));
    r.ok(&[ENT], trust(ENT, ENT2));
    wait_until(&mut r, a.due_ms);
    let history = queries::committed_since(&r.state, 1, 10_000).expect("history");
    let (seq, head) = audit::check_export(&r.genesis, &history).expect("the export checks");
    assert_eq!(seq, history.len() as u64);
    assert_eq!(head.to_vec(), r.head());
}

// ---------------------------------------------------------------------------------------------
// Rule 18
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pledge_is_topped_up_and_released_or_enforced_whole() {
    let mut r = registry();
    let id = r.ok(&[ENT, BANK], pledge(100)).encumbrance_id;
    r.rejects(&[ENT, BANK], top_up(id, 0), E::ZeroAmount);
    r.rejects(&[ENT, BANK], top_up(id, 901), E::UnitsEncumbered);
    r.rejects(&[ENT, BANK], top_up(id, 1_001), E::InsufficientUnits);
    r.rejects(&[ENT], top_up(id, 10), E::InsufficientSignatures);
    r.rejects(&[BANK], top_up(id, 10), E::InsufficientSignatures);
    r.rejects(&[ENT2], top_up(id, 10), E::UnknownEncumbrance);
    r.rejects(&[ENT, BANK], top_up(id + 50, 10), E::UnknownEncumbrance);
    let fx = r.ok(&[ENT, BANK], top_up(id, 50));
    assert_eq!(fx.encumbrance_id, id);
    assert_eq!(r.balance(ENT, &cea(2025)), (850, 150, 0));
    let e = queries::encumbrance(&r.state, id)
        .expect("read")
        .expect("pledge");
    assert_eq!((e.remaining_quantity, e.topped_up_quantity), (150, 50));
    r.ok(
        &[BANK],
        Op::ReleasePledge(ReleasePledge {
            pledge_id: id,
            quantity: 30,
        }),
    );
    r.ok(&[BANK], Op::EnforcePledge(EnforcePledge { pledge_id: id }));
    assert_eq!(r.available(BANK, &cea(2025)), 120);
    r.rejects(&[ENT, BANK], top_up(id, 10), E::EncumbranceClosed);
    // A freeze is not a pledge.
    let f = r
        .ok(
            &[REG],
            Op::Freeze(Freeze {
                account_id: ENT.into(),
                unit_class: Some(cea(2025)),
                quantity: 5,
                court_order_ref: "(2026)浙01执1号".into(),
            }),
        )
        .encumbrance_id;
    r.rejects(&[ENT, BANK], top_up(f, 1), E::UnknownEncumbrance);
    let e = queries::encumbrance(&r.state, id)
        .expect("read")
        .expect("pledge");
    assert_eq!(e.status(), EncumbranceStatus::Enforced);
}

#[test]
fn a_repo_substitution_swaps_collateral_and_the_repurchase_returns_it_whole() {
    let mut r = registry();
    r.ok(
        &[REG],
        Op::DeclareVintage(DeclareVintage {
            vintage: 2026,
            cap: 1_000_000,
        }),
    );
    r.ok(
        &[REG],
        Op::Allocate(Allocate {
            enterprise_id: ENT.into(),
            vintage: 2026,
            quantity: 500,
        }),
    );
    let id = r.ok(&[ENT, BANK], repo(100, 20260331)).encumbrance_id;
    let sub = |oq, nq| substitute(id, cea(2025), oq, cea(2026), nq);
    r.rejects(
        &[ENT, BANK],
        substitute(id, cea(2025), 10, cea(2025), 10),
        E::SubstitutionSameClass,
    );
    r.rejects(&[ENT, BANK], sub(101, 10), E::ExceedsCollateral);
    r.rejects(
        &[ENT, BANK],
        substitute(id, cea(2026), 1, cea(2025), 1),
        E::ExceedsCollateral,
    );
    r.rejects(&[ENT, BANK], sub(10, 501), E::InsufficientUnits);
    r.rejects(&[ENT, BANK], sub(0, 10), E::ZeroAmount);
    r.rejects(&[BANK], sub(10, 10), E::InsufficientSignatures);
    r.rejects(&[ENT], sub(10, 10), E::InsufficientSignatures);
    r.rejects(
        &[ENT2, BANK],
        substitute(id + 9, cea(2025), 1, cea(2026), 1),
        E::UnknownRepo,
    );
    let fx = r.ok(&[ENT, BANK], sub(40, 30));
    assert_eq!(fx.moved.len(), 2);
    assert_eq!(r.available(ENT, &cea(2025)), 940);
    assert_eq!(r.available(ENT, &cea(2026)), 470);
    let repos = queries::repos_of(&r.state, ENT).expect("read");
    let legs: Vec<(u32, u64)> = repos[0]
        .collateral
        .iter()
        .map(|c| (c.unit_class.as_ref().map_or(0, |u| u.vintage), c.quantity))
        .collect();
    assert_eq!(legs, vec![(2025, 60), (2026, 30)]);
    // Replace all that is left of 2025.
    r.ok(&[ENT, BANK], sub(60, 60));
    let repos = queries::repos_of(&r.state, ENT).expect("read");
    assert_eq!(repos[0].collateral.len(), 1);
    assert_eq!(repos[0].substitutions, 2);
    assert_eq!(r.available(ENT, &cea(2025)), 1_000);
    r.ok(&[BANK], Op::Repurchase(Repurchase { repo_id: id }));
    assert_eq!(r.available(ENT, &cea(2026)), 500);
    let repos = queries::repos_of(&r.state, ENT).expect("read");
    assert_eq!(repos[0].status(), RepoStatus::Repurchased);
    r.rejects(&[ENT, BANK], sub(1, 1), E::RepoClosed);
    // After the repurchase date: no substitution.
    let late = r.ok(&[ENT, BANK], repo(10, 20260301)).encumbrance_id;
    r.now += 2 * 86_400_000;
    r.rejects(
        &[ENT, BANK],
        substitute(late, cea(2025), 1, cea(2026), 1),
        E::RepurchaseDatePassed,
    );
}
