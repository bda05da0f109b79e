//! Every operation of the registry's rules: its success path and each rejection it can give,
//! asserting the stable error code and that state did not change (see `Reg::rejects`).

mod common;

use carbon_ledger::{dates, queries};
use carbon_proto::v1::{
    tx_body::Operation as Op, Allocate, ApproveProject, BlockState, Cancel, CloseAccount,
    CloseComplianceYear, ComplianceStatus, DeclareVintage, EncumbranceStatus, EnforcePledge,
    ErrorCode as E, Freeze, IssueCredits, Lend, LoanStatus, OpenAccount, Pledge, ProjectStatus,
    ProposeProject, ReinstateAccount, RejectProject, ReleasePledge, Repo, RepoDefault, RepoStatus,
    ReportEmissions, Repurchase, ReturnLoan, Role, Surrender, SuspendAccount, Trade, Transfer,
    TrueUp, Unfreeze, UnitClass, UnitKind, UpdateKeys,
};
use common::*;

const ENT: &str = "ZJ-ENT-01";
const ENT2: &str = "ZJ-ENT-02";
const VER: &str = "ZJ-VER-01";
const OWNER: &str = "ZJ-PO-01";
const BANK: &str = "ZJ-BANK-01";
const IND: &str = "ZJ-IND-01";
const FOREST: &str = "LS-FOR-001";
const WIND: &str = "ZS-WIND-001";

fn declare(v: u32, cap: u64) -> Op {
    Op::DeclareVintage(DeclareVintage { vintage: v, cap })
}
fn allocate(e: &str, v: u32, q: u64) -> Op {
    Op::Allocate(Allocate {
        enterprise_id: e.into(),
        vintage: v,
        quantity: q,
    })
}
fn true_up(e: &str, v: u32, q: u64) -> Op {
    Op::TrueUp(TrueUp {
        enterprise_id: e.into(),
        vintage: v,
        final_quantity: q,
    })
}
fn transfer(from: &str, to: &str, c: UnitClass, q: u64) -> Op {
    Op::Transfer(Transfer {
        from_account: from.into(),
        to_account: to.into(),
        unit_class: Some(c),
        quantity: q,
    })
}
fn trade(seller: &str, buyer: &str, c: UnitClass, q: u64, price: u64) -> Op {
    Op::Trade(Trade {
        seller: seller.into(),
        buyer: buyer.into(),
        unit_class: Some(c),
        quantity: q,
        price_fen: price,
        exchange_ref: "SEEE-001".into(),
    })
}
fn pledge(pledgor: &str, pledgee: &str, c: UnitClass, q: u64) -> Op {
    Op::Pledge(Pledge {
        pledgor: pledgor.into(),
        pledgee: pledgee.into(),
        unit_class: Some(c),
        quantity: q,
        secured_amount_fen: 5_000_000,
        maturity_date: 20270630,
        contract_ref: "质押合同-01".into(),
    })
}
fn report(e: &str, y: u32, t: u64) -> Op {
    Op::ReportEmissions(ReportEmissions {
        enterprise_id: e.into(),
        year: y,
        tonnes: t,
    })
}
fn surrender(e: &str, y: u32, c: UnitClass, q: u64) -> Op {
    Op::Surrender(Surrender {
        enterprise_id: e.into(),
        year: y,
        unit_class: Some(c),
        quantity: q,
    })
}
fn close_year(y: u32, deadline: u32, mult: u32, fallback: u64) -> Op {
    Op::CloseComplianceYear(CloseComplianceYear {
        year: y,
        deadline_date: deadline,
        penalty_multiplier: mult,
        fallback_price_fen: fallback,
    })
}
fn cancel(h: &str, c: UnitClass, q: u64) -> Op {
    Op::Cancel(Cancel {
        holder: h.into(),
        unit_class: Some(c),
        quantity: q,
        beneficiary: "杭州亚运会".into(),
        purpose: "碳中和".into(),
        ..Default::default()
    })
}
fn propose(id: &str, kind: UnitKind, start: u32, end: u32) -> Op {
    Op::ProposeProject(ProposeProject {
        project_id: id.into(),
        owner_id: OWNER.into(),
        kind: kind as i32,
        name: "丽水林业碳汇".into(),
        methodology: "CCER-14-001-V01".into(),
        region: "丽水市".into(),
        crediting_start_year: start,
        crediting_end_year: end,
    })
}
fn approve(id: &str, bp: u32) -> Op {
    Op::ApproveProject(ApproveProject {
        project_id: id.into(),
        buffer_share_bp: bp,
    })
}
fn issue(id: &str, year: u32, q: u64) -> Op {
    Op::IssueCredits(IssueCredits {
        project_id: id.into(),
        monitoring_year: year,
        quantity: q,
    })
}

/// A registry with the usual cast, vintage 2025 (cap 1,000,000), and 1,000 CEA for ENT.
fn registry() -> Reg {
    let mut r = Reg::new();
    r.open(ENT, Role::Enterprise);
    r.open(ENT2, Role::Enterprise);
    r.open(VER, Role::Verifier);
    r.open(OWNER, Role::ProjectOwner);
    r.open(BANK, Role::Bank);
    r.open(IND, Role::Individual);
    r.ok(&[REG], declare(2025, 1_000_000));
    r.ok(&[REG], allocate(ENT, 2025, 1_000));
    r
}

/// Adds an approved forestry project (10 % buffer) and an approved CCER project.
fn with_projects(r: &mut Reg) {
    r.ok(&[OWNER], propose(FOREST, UnitKind::Forestry, 2021, 2030));
    r.ok(&[REG], approve(FOREST, 1_000));
    r.ok(&[OWNER], propose(WIND, UnitKind::Ccer, 2024, 2033));
    r.ok(&[REG], approve(WIND, 0));
}

// ---------------------------------------------------------------------------------------------
// Every transaction
// ---------------------------------------------------------------------------------------------

#[test]
fn resubmitting_a_committed_tx_returns_its_outcome_and_changes_nothing() {
    let mut r = registry();
    let body = r.body(&[ENT], transfer(ENT, ENT2, cea(2025), 10));
    let tx = r.sign(&body);
    let first = r.apply(vec![tx.clone()]).remove(0);
    assert_eq!(first.code(), E::Ok);
    let state = r.state.clone();
    let again = r.apply(vec![tx.clone(), tx]);
    assert_eq!(again, vec![first.clone(), first]);
    assert_eq!(r.state.map.get(b"Z".as_slice()).map(|_| ()), Some(()));
    assert_eq!(common::ledger_state(&r.state), common::ledger_state(&state));
    assert_eq!(r.available(ENT2, &cea(2025)), 10);
}

#[test]
fn a_failed_tx_id_stays_failed_even_when_it_would_now_succeed() {
    let mut r = registry();
    let body = r.body(&[ENT2], transfer(ENT2, ENT, cea(2025), 10));
    let tx = r.sign(&body);
    let first = r.apply(vec![tx.clone()]).remove(0);
    assert_eq!(first.code(), E::InsufficientUnits);
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 50));
    let again = r.apply(vec![tx]).remove(0);
    assert_eq!(again, first);
    assert_eq!(r.available(ENT2, &cea(2025)), 50);
}

#[test]
fn wrong_chain_expired_and_malformed_bodies_are_rejected() {
    let mut r = registry();
    // Expired: valid_until before the leader's time.
    let mut body = r.body(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
    body.valid_until_ms = r.now - 1;
    let o = r.apply(vec![r.sign(&body)]).remove(0);
    assert_eq!(o.code(), E::Expired);
    // No operation.
    let mut body = r.body(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
    body.operation = None;
    assert_eq!(r.apply(vec![r.sign(&body)]).remove(0).code(), E::Malformed);
    // A signer listed twice.
    let body = r.body(&[ENT, ENT], transfer(ENT, ENT2, cea(2025), 1));
    assert_eq!(r.apply(vec![r.sign(&body)]).remove(0).code(), E::Malformed);
    assert_eq!(r.available(ENT2, &cea(2025)), 0);
}

#[test]
fn wrong_chain_is_rejected_by_the_ledger_too() {
    // Ingress refuses it first; the ledger does not rely on that.
    let mut r = registry();
    let mut body = r.body(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
    body.chain_id = "elsewhere".into();
    let tx = r.sign(&body);
    let v = carbon_proto::VerifiedTx::from_verified_log(tx).expect("decodes");
    let ctx = carbon_ledger::Ctx {
        log_index: 99,
        timestamp_ms: r.now,
        ledger_version: carbon_ledger::VERSION,
    };
    let a = carbon_ledger::apply_entry(&r.state, ctx, &[v]).expect("applies");
    assert_eq!(a.outcomes[0].code(), E::WrongChain);
}

#[test]
fn unknown_signer_and_missing_threshold_are_rejected() {
    let mut r = registry();
    r.rejects(
        &["NOBODY"],
        transfer("NOBODY", ENT, cea(2025), 1),
        E::UnknownAccount,
    );
    // ENT signs with someone else's key.
    r.signers.insert(ENT.into(), vec![ENT2.into()]);
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1),
        E::InsufficientSignatures,
    );
}

#[test]
fn the_chain_head_moves_with_every_tx_including_rejections() {
    let mut r = registry();
    let h0 = r.head();
    r.rejects(
        &[ENT2],
        transfer(ENT2, ENT, cea(2025), 1),
        E::InsufficientUnits,
    );
    let h1 = r.head();
    assert_ne!(h0, h1);
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
    assert_ne!(h1, r.head());
    let chain = queries::chain(&r.state).expect("read").expect("chain");
    let history = queries::committed_since(&r.state, 1, usize::MAX).expect("read");
    assert_eq!(history.len() as u64, chain.sequence);
    let head = carbon_ledger::audit::verify_chain(&r.genesis, &history).expect("verifies");
    assert_eq!(head.to_vec(), chain.head);
    let replayed = carbon_ledger::audit::replay(&r.genesis, &history).expect("replays");
    assert_eq!(replayed, r.state);
}

#[test]
fn a_tampered_history_does_not_verify() {
    let mut r = registry();
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 5));
    let mut history = queries::committed_since(&r.state, 1, usize::MAX).expect("read");
    let last = history.len() - 1;
    if let Some(o) = history[last].outcome.as_mut() {
        o.effects = None;
    }
    assert!(carbon_ledger::audit::verify_chain(&r.genesis, &history).is_err());
}

#[test]
fn a_rejection_is_history_only_for_the_accounts_that_really_signed_it() {
    let mut r = registry();
    let history_of = |r: &Reg, who: &str| {
        queries::history(&r.state, who, 0, usize::MAX)
            .expect("read")
            .len()
    };
    let before = (history_of(&r, ENT), history_of(&r, ENT2));
    // ENT2 is named as a co-signer but did not sign (only ENT's key is attached): the ledger
    // rejects it, and the rejection enters ENT's history, never ENT2's.
    let body = r.body(&[ENT, ENT2], transfer(ENT, ENT2, cea(2025), 1));
    let signed = carbon_proto::signing::sign_body(&body, &[&key(ENT)]);
    let o = r.apply(vec![signed]).remove(0);
    assert_eq!(o.code(), E::InsufficientSignatures);
    assert_eq!(history_of(&r, ENT), before.0 + 1);
    assert_eq!(history_of(&r, ENT2), before.1);
    // A signer name that is no account (with a NUL, as if to write into ENT2's history) is
    // no one's history.
    let fake = format!("{ENT2}\0\0\0\0\0\0\0\x07");
    let body = r.body(&[&fake], transfer(ENT, ENT2, cea(2025), 1));
    let signed = carbon_proto::signing::sign_body(&body, &[&key(ENT)]);
    let o = r.apply(vec![signed]).remove(0);
    assert_eq!(o.code(), E::UnknownAccount);
    assert_eq!(history_of(&r, ENT2), before.1);
    assert_eq!(history_of(&r, ENT), before.0 + 1);
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

fn open_op(id: &str, role: Role, keys: Vec<Vec<u8>>, threshold: u32) -> Op {
    Op::OpenAccount(OpenAccount {
        account_id: id.into(),
        role: role as i32,
        name: "宁波某化工公司".into(),
        region: "宁波市".into(),
        public_keys: keys,
        threshold,
    })
}

#[test]
fn open_account_and_its_rejections() {
    let mut r = registry();
    r.ok(
        &[REG],
        open_op("ZJ-ENT-09", Role::Enterprise, vec![pk("a"), pk("b")], 2),
    );
    assert_eq!(r.account("ZJ-ENT-09").threshold, 2);
    r.rejects(
        &[REG],
        open_op("ZJ-ENT-09", Role::Enterprise, vec![pk("a")], 1),
        E::AccountExists,
    );
    r.rejects(
        &[ENT],
        open_op("ZJ-ENT-10", Role::Enterprise, vec![pk("a")], 1),
        E::RoleNotPermitted,
    );
    r.rejects(
        &[REG],
        open_op("bad id", Role::Enterprise, vec![pk("a")], 1),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Regulator, vec![pk("a")], 1),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Enterprise, vec![pk("a")], 0),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Enterprise, vec![pk("a")], 2),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Enterprise, vec![pk("a"), pk("a")], 1),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Enterprise, vec![vec![1; 31]], 1),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        open_op("ZJ-X", Role::Enterprise, vec![], 1),
        E::InvalidArgument,
    );
}

#[test]
fn two_of_three_needs_two_distinct_keys() {
    let mut r = registry();
    r.ok(
        &[REG],
        open_op(
            "ZJ-ENT-M",
            Role::Enterprise,
            vec![pk("m1"), pk("m2"), pk("m3")],
            2,
        ),
    );
    r.ok(&[REG], allocate("ZJ-ENT-M", 2025, 100));
    r.signers.insert("ZJ-ENT-M".into(), vec!["m1".into()]);
    r.rejects(
        &["ZJ-ENT-M"],
        transfer("ZJ-ENT-M", ENT, cea(2025), 1),
        E::InsufficientSignatures,
    );
    r.signers
        .insert("ZJ-ENT-M".into(), vec!["m1".into(), "m1".into()]);
    r.rejects(
        &["ZJ-ENT-M"],
        transfer("ZJ-ENT-M", ENT, cea(2025), 1),
        E::InsufficientSignatures,
    );
    r.signers
        .insert("ZJ-ENT-M".into(), vec!["m1".into(), "m3".into()]);
    r.ok(&["ZJ-ENT-M"], transfer("ZJ-ENT-M", ENT, cea(2025), 1));
}

#[test]
fn update_keys_replaces_the_key_set() {
    let mut r = registry();
    let op = |keys, t| {
        Op::UpdateKeys(UpdateKeys {
            account_id: ENT.into(),
            public_keys: keys,
            threshold: t,
        })
    };
    r.rejects(&[ENT], op(vec![pk("new")], 2), E::InvalidArgument);
    r.rejects(&[ENT2], op(vec![pk("new")], 1), E::InsufficientSignatures);
    r.ok(&[ENT], op(vec![pk("new")], 1));
    // The old key no longer authorises; the new one does.
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1),
        E::InsufficientSignatures,
    );
    r.signers.insert(ENT.into(), vec!["new".into()]);
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
}

#[test]
fn a_suspended_account_sends_and_receives_nothing_until_reinstated() {
    let mut r = registry();
    let suspend = |id: &str| {
        Op::SuspendAccount(SuspendAccount {
            account_id: id.into(),
            reason: "违规".into(),
        })
    };
    let reinstate = |id: &str| {
        Op::ReinstateAccount(ReinstateAccount {
            account_id: id.into(),
            reason: "整改完成".into(),
        })
    };
    r.rejects(&[ENT], suspend(ENT2), E::RoleNotPermitted);
    r.rejects(&[REG], suspend(REG), E::RoleNotPermitted);
    r.rejects(&[REG], reinstate(ENT), E::InvalidArgument);
    r.ok(&[REG], suspend(ENT));
    r.rejects(&[REG], suspend(ENT), E::AccountNotOpen);
    r.rejects(&[ENT], transfer(ENT, ENT2, cea(2025), 1), E::AccountNotOpen);
    r.ok(&[REG], suspend(ENT2));
    r.ok(&[REG], reinstate(ENT));
    r.rejects(&[ENT], transfer(ENT, ENT2, cea(2025), 1), E::AccountNotOpen);
    r.ok(&[REG], reinstate(ENT2));
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 1));
}

#[test]
fn only_an_empty_account_closes_and_a_closed_one_authorises_nothing() {
    let mut r = registry();
    let close = |id: &str| {
        Op::CloseAccount(CloseAccount {
            account_id: id.into(),
        })
    };
    r.rejects(&[REG], close(ENT), E::AccountNotEmpty);
    r.rejects(&[REG], close(REG), E::RoleNotPermitted);
    r.rejects(&[REG], close("NOBODY"), E::UnknownAccount);
    r.ok(&[REG], close(ENT2));
    r.rejects(&[REG], close(ENT2), E::AccountNotOpen);
    r.rejects(
        &[ENT2],
        transfer(ENT2, ENT, cea(2025), 1),
        E::AccountNotOpen,
    );
    r.rejects(&[ENT], transfer(ENT, ENT2, cea(2025), 1), E::AccountNotOpen);
    // A bank that holds an open pledge cannot close.
    r.ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 10));
    r.rejects(&[REG], close(BANK), E::AccountNotEmpty);
}

// ---------------------------------------------------------------------------------------------
// Vintages and allocation
// ---------------------------------------------------------------------------------------------

#[test]
fn declare_vintage_and_its_rejections() {
    let mut r = registry();
    r.ok(&[REG], declare(2026, 500));
    r.rejects(&[REG], declare(2026, 500), E::VintageExists);
    r.rejects(&[REG], declare(2027, 0), E::ZeroAmount);
    r.rejects(&[REG], declare(1999, 10), E::InvalidArgument);
    r.rejects(&[ENT], declare(2028, 10), E::RoleNotPermitted);
}

#[test]
fn allocation_creates_serials_and_respects_the_cap() {
    let mut r = registry();
    let (_, blocks) = queries::holdings(&r.state, ENT).expect("read");
    assert_eq!(blocks.len(), 1);
    let range = blocks[0].range.clone().expect("range");
    assert_eq!((range.first, range.last), (1, 1_000));
    r.ok(&[REG], declare(2026, 1_500));
    let fx = r.ok(&[REG], allocate(ENT, 2026, 1_000));
    assert_eq!((fx.created[0].first, fx.created[0].last), (1, 1_000));
    r.rejects(&[REG], allocate(ENT2, 2026, 501), E::CapExceeded);
    r.ok(&[REG], allocate(ENT2, 2026, 500));
    r.rejects(&[REG], allocate(ENT, 2026, 1), E::AlreadyAllocated);
    r.rejects(&[REG], allocate(ENT, 2030, 1), E::UnknownVintage);
    r.rejects(&[REG], allocate(ENT2, 2025, 0), E::ZeroAmount);
    r.rejects(&[REG], allocate(BANK, 2025, 10), E::RoleNotPermitted);
    r.rejects(&[REG], allocate("NOBODY", 2025, 10), E::UnknownAccount);
    r.rejects(&[ENT], allocate(ENT2, 2025, 10), E::RoleNotPermitted);
}

#[test]
fn true_up_tops_up_or_withdraws_and_carries_the_rest_to_the_obligation() {
    let mut r = registry();
    r.ok(&[REG], allocate(ENT2, 2025, 600));
    // Top-up: 1,000 -> 1,200.
    let fx = r.ok(&[REG], true_up(ENT, 2025, 1_200));
    assert_eq!(fx.created[0].last - fx.created[0].first + 1, 200);
    assert_eq!(r.available(ENT, &cea(2025)), 1_200);
    r.rejects(&[REG], true_up(ENT, 2025, 1_300), E::AlreadyTruedUp);
    // Reduction 600 -> 100 while ENT2 holds only 300 available: 300 withdrawn, 200 owed.
    r.ok(&[ENT2], transfer(ENT2, ENT, cea(2025), 200));
    r.ok(&[ENT2, BANK], pledge(ENT2, BANK, cea(2025), 100));
    let fx = r.ok(&[REG], true_up(ENT2, 2025, 100));
    let withdrawn: u64 = fx.retired.iter().map(|x| x.last - x.first + 1).sum();
    assert_eq!((withdrawn, fx.obligation_added), (300, 200));
    assert_eq!(r.balance(ENT2, &cea(2025)), (0, 100, 0));
    let (rec, _) = queries::compliance(&r.state, 2025, Some(ENT2)).expect("read");
    assert_eq!(rec[0].obligation, 200);
    // The cap counts final allocations: 1,200 + 100.
    r.ok(&[REG], declare(2026, 10));
    r.rejects(&[REG], true_up(ENT, 2026, 11), E::CapExceeded);
}

// ---------------------------------------------------------------------------------------------
// Projects and issuance
// ---------------------------------------------------------------------------------------------

#[test]
fn projects_are_proposed_by_their_owner_and_decided_by_the_regulator() {
    let mut r = registry();
    r.rejects(
        &[OWNER],
        propose(FOREST, UnitKind::Forestry, 2021, 2031),
        E::InvalidArgument,
    );
    r.rejects(
        &[OWNER],
        propose(FOREST, UnitKind::Cea, 2021, 2030),
        E::InvalidArgument,
    );
    r.rejects(
        &[ENT],
        propose(FOREST, UnitKind::Forestry, 2021, 2030),
        E::InsufficientSignatures,
    );
    r.ok(&[OWNER], propose(FOREST, UnitKind::Forestry, 2021, 2030));
    r.rejects(
        &[OWNER],
        propose(FOREST, UnitKind::Forestry, 2021, 2030),
        E::ProjectExists,
    );
    r.rejects(&[REG], approve(FOREST, 0), E::InvalidArgument);
    r.rejects(&[REG], approve("NOPE", 1_000), E::UnknownProject);
    r.rejects(&[OWNER], approve(FOREST, 1_000), E::RoleNotPermitted);
    r.ok(&[REG], approve(FOREST, 1_000));
    r.rejects(&[REG], approve(FOREST, 1_000), E::ProjectNotPending);
    r.ok(&[OWNER], propose(WIND, UnitKind::Ccer, 2024, 2033));
    r.rejects(&[REG], approve(WIND, 500), E::InvalidArgument);
    let reject = Op::RejectProject(RejectProject {
        project_id: WIND.into(),
        reason: "额外性不足".into(),
    });
    r.ok(&[REG], reject);
    let (p, _) = queries::project(&r.state, WIND)
        .expect("read")
        .expect("exists");
    assert_eq!(p.status(), ProjectStatus::Rejected);
    r.rejects(&[REG], issue(WIND, 2025, 10), E::ProjectNotApproved);
    // Only a project owner proposes.
    let mut op = propose("X-1", UnitKind::Ccer, 2024, 2025);
    if let Op::ProposeProject(p) = &mut op {
        p.owner_id = ENT.into();
    }
    r.rejects(&[ENT], op, E::RoleNotPermitted);
}

#[test]
fn issuance_splits_the_buffer_share_and_stays_in_the_crediting_period() {
    let mut r = registry();
    with_projects(&mut r);
    let fx = r.ok(&[REG], issue(FOREST, 2025, 10_005));
    let forest = credit(UnitKind::Forestry, 2025, FOREST);
    // 10 % of 10,005 rounded down = 1,000 to the buffer.
    assert_eq!(r.available(OWNER, &forest), 9_005);
    assert_eq!(r.available(BUFFER, &forest), 1_000);
    assert_eq!(fx.created.len(), 2);
    let fx = r.ok(&[REG], issue(WIND, 2025, 300));
    assert_eq!(fx.created.len(), 1);
    assert_eq!(r.available(OWNER, &credit(UnitKind::Ccer, 2025, WIND)), 300);
    r.rejects(&[REG], issue(FOREST, 2020, 1), E::OutsideCreditingPeriod);
    r.rejects(&[REG], issue(FOREST, 2031, 1), E::OutsideCreditingPeriod);
    r.rejects(&[REG], issue(FOREST, 2025, 0), E::ZeroAmount);
    r.rejects(&[REG], issue("NOPE", 2025, 1), E::UnknownProject);
    r.rejects(&[OWNER], issue(FOREST, 2025, 1), E::RoleNotPermitted);
    let (p, issuances) = queries::project(&r.state, FOREST)
        .expect("read")
        .expect("exists");
    assert_eq!((p.issued_total, issuances.len()), (10_005, 1));
}

// ---------------------------------------------------------------------------------------------
// Transfers and trades
// ---------------------------------------------------------------------------------------------

#[test]
fn transfer_takes_the_lowest_serials_first_and_splits_blocks() {
    let mut r = registry();
    let fx = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 300));
    assert_eq!((fx.moved[0].first, fx.moved[0].last), (1, 300));
    let fx = r.ok(&[ENT2], transfer(ENT2, ENT, cea(2025), 100));
    assert_eq!((fx.moved[0].first, fx.moved[0].last), (1, 100));
    // ENT now holds 1..=100 and 301..=1000: the next transfer spans both blocks.
    let fx = r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 150));
    let got: Vec<(u64, u64)> = fx.moved.iter().map(|m| (m.first, m.last)).collect();
    assert_eq!(got, vec![(1, 100), (301, 350)]);
    // ENT2 holds 1..=350 in one merged block.
    let (_, blocks) = queries::holdings(&r.state, ENT2).expect("read");
    assert_eq!(blocks.len(), 1);
}

#[test]
fn transfer_rejections() {
    let mut r = registry();
    with_projects(&mut r);
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 1_001),
        E::InsufficientUnits,
    );
    r.rejects(&[ENT], transfer(ENT, ENT2, cea(2025), 0), E::ZeroAmount);
    r.rejects(&[ENT], transfer(ENT, ENT, cea(2025), 1), E::SameAccount);
    r.rejects(
        &[ENT],
        transfer(ENT, "NOBODY", cea(2025), 1),
        E::UnknownAccount,
    );
    r.rejects(&[ENT], transfer(ENT, BANK, cea(2025), 1), E::RoleCannotHold);
    r.rejects(&[ENT], transfer(ENT, IND, cea(2025), 1), E::RoleCannotHold);
    r.rejects(
        &[ENT2],
        transfer(ENT, ENT2, cea(2025), 1),
        E::InsufficientSignatures,
    );
    let mut bad = cea(2025);
    bad.project_id = FOREST.into();
    r.rejects(&[ENT], transfer(ENT, ENT2, bad, 1), E::InvalidUnitClass);
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, credit(UnitKind::Ccer, 2025, "NOPE"), 1),
        E::InvalidUnitClass,
    );
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, credit(UnitKind::Ccer, 2025, FOREST), 1),
        E::InvalidUnitClass,
    );
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, UnitClass::default(), 1),
        E::InvalidUnitClass,
    );
    // Credits may go to anyone, individuals included.
    r.ok(&[REG], issue(WIND, 2025, 50));
    r.ok(
        &[OWNER],
        transfer(OWNER, IND, credit(UnitKind::Ccer, 2025, WIND), 5),
    );
}

#[test]
fn trades_settle_and_feed_market_statistics() {
    let mut r = registry();
    r.ok(&[ENT, ENT2], trade(ENT, ENT2, cea(2025), 100, 9_000));
    r.ok(&[ENT, ENT2], trade(ENT, ENT2, cea(2025), 300, 10_000));
    assert_eq!(r.available(ENT2, &cea(2025)), 400);
    let days = queries::market_days(&r.state, None, 0, 0).expect("read");
    assert_eq!(days.len(), 1);
    let d = &days[0];
    assert_eq!((d.date, d.trades, d.volume), (20260301, 2, 400));
    assert_eq!(d.turnover_fen, 100 * 9_000 + 300 * 10_000);
    assert_eq!(d.average_price_fen, 9_750);
    r.rejects(
        &[ENT],
        trade(ENT, ENT2, cea(2025), 1, 9_000),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[ENT2],
        trade(ENT, ENT2, cea(2025), 1, 9_000),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[ENT, ENT2],
        trade(ENT, ENT2, cea(2025), 1, 0),
        E::ZeroAmount,
    );
    r.rejects(
        &[ENT, ENT2],
        trade(ENT, ENT2, cea(2025), 2, u64::MAX),
        E::AmountOverflow,
    );
    r.rejects(
        &[ENT, ENT2],
        trade(ENT, ENT2, cea(2025), 601, 1),
        E::InsufficientUnits,
    );
}

// ---------------------------------------------------------------------------------------------
// Pledges and freezes
// ---------------------------------------------------------------------------------------------

#[test]
fn pledged_units_are_frozen_for_everything_but_release_and_enforcement() {
    let mut r = registry();
    r.ok(&[REG], report(ENT, 2025, 900));
    let fx = r.ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 800));
    let id = fx.encumbrance_id;
    assert_eq!(r.balance(ENT, &cea(2025)), (200, 800, 0));
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 201),
        E::UnitsEncumbered,
    );
    r.rejects(
        &[ENT],
        surrender(ENT, 2025, cea(2025), 201),
        E::UnitsEncumbered,
    );
    r.rejects(&[ENT], cancel(ENT, cea(2025), 201), E::UnitsEncumbered);
    r.rejects(
        &[ENT, BANK],
        pledge(ENT, BANK, cea(2025), 201),
        E::UnitsEncumbered,
    );
    r.rejects(
        &[REG],
        Op::Freeze(Freeze {
            account_id: ENT.into(),
            unit_class: Some(cea(2025)),
            quantity: 201,
            court_order_ref: "(2026)浙01执123号".into(),
        }),
        E::UnitsEncumbered,
    );
    // Release part, then enforce the rest.
    let release = |q| {
        Op::ReleasePledge(ReleasePledge {
            pledge_id: id,
            quantity: q,
        })
    };
    r.rejects(&[ENT], release(100), E::InsufficientSignatures);
    r.rejects(&[BANK], release(801), E::InsufficientUnits);
    r.rejects(&[BANK], release(0), E::ZeroAmount);
    r.ok(&[BANK], release(300));
    assert_eq!(r.balance(ENT, &cea(2025)), (500, 500, 0));
    let enforce = Op::EnforcePledge(EnforcePledge { pledge_id: id });
    r.rejects(&[ENT], enforce.clone(), E::InsufficientSignatures);
    r.ok(&[BANK], enforce.clone());
    assert_eq!(r.balance(ENT, &cea(2025)), (500, 0, 0));
    assert_eq!(r.available(BANK, &cea(2025)), 500);
    r.rejects(&[BANK], enforce, E::EncumbranceClosed);
    r.rejects(&[BANK], release(1), E::EncumbranceClosed);
    let e = queries::encumbrance(&r.state, id)
        .expect("read")
        .expect("exists");
    assert_eq!(e.status(), EncumbranceStatus::Enforced);
    // A bank holds CEA after enforcement and may sell them to an enterprise.
    r.ok(&[BANK, ENT2], trade(BANK, ENT2, cea(2025), 500, 8_800));
    r.rejects(
        &[BANK],
        Op::ReleasePledge(ReleasePledge {
            pledge_id: 999,
            quantity: 1,
        }),
        E::UnknownEncumbrance,
    );
}

#[test]
fn pledge_rejections() {
    let mut r = registry();
    r.rejects(
        &[ENT],
        pledge(ENT, BANK, cea(2025), 10),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[ENT, ENT2],
        pledge(ENT, ENT2, cea(2025), 10),
        E::RoleNotPermitted,
    );
    r.rejects(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 0), E::ZeroAmount);
    r.rejects(
        &[ENT, BANK],
        pledge(ENT, BANK, cea(2025), 1_001),
        E::InsufficientUnits,
    );
    let mut op = pledge(ENT, BANK, cea(2025), 10);
    if let Op::Pledge(p) = &mut op {
        p.maturity_date = 20271301;
    }
    r.rejects(&[ENT, BANK], op, E::InvalidArgument);
    // A full release closes the pledge and returns the same serials, merged back.
    let id = r
        .ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 10))
        .encumbrance_id;
    r.ok(
        &[BANK],
        Op::ReleasePledge(ReleasePledge {
            pledge_id: id,
            quantity: 10,
        }),
    );
    let (_, blocks) = queries::holdings(&r.state, ENT).expect("read");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].state(), BlockState::Available);
    let e = queries::encumbrance(&r.state, id)
        .expect("read")
        .expect("exists");
    assert_eq!(e.status(), EncumbranceStatus::Released);
    let listed = queries::encumbrances_of_pledgee(&r.state, BANK).expect("read");
    assert_eq!(listed.len(), 1);
}

#[test]
fn freeze_and_unfreeze_on_a_court_order() {
    let mut r = registry();
    let freeze = |q, court: &str| {
        Op::Freeze(Freeze {
            account_id: ENT.into(),
            unit_class: Some(cea(2025)),
            quantity: q,
            court_order_ref: court.into(),
        })
    };
    r.rejects(&[REG], freeze(10, ""), E::InvalidArgument);
    r.rejects(
        &[ENT2],
        freeze(10, "(2026)浙01执123号"),
        E::RoleNotPermitted,
    );
    let id = r
        .ok(&[REG], freeze(400, "(2026)浙01执123号"))
        .encumbrance_id;
    assert_eq!(r.balance(ENT, &cea(2025)), (600, 0, 400));
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 601),
        E::UnitsEncumbered,
    );
    let unfreeze = |id, q| {
        Op::Unfreeze(Unfreeze {
            freeze_id: id,
            quantity: q,
            court_order_ref: "(2026)浙01执123号之一".into(),
        })
    };
    r.rejects(&[REG], unfreeze(id, 401), E::InsufficientUnits);
    r.rejects(&[ENT], unfreeze(id, 1), E::RoleNotPermitted);
    r.ok(&[REG], unfreeze(id, 400));
    assert_eq!(r.balance(ENT, &cea(2025)), (1_000, 0, 0));
    r.rejects(&[REG], unfreeze(id, 1), E::EncumbranceClosed);
    // A pledge id is not a freeze id.
    let pid = r
        .ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 10))
        .encumbrance_id;
    r.rejects(&[REG], unfreeze(pid, 1), E::UnknownEncumbrance);
}

// ---------------------------------------------------------------------------------------------
// Emissions, surrender, close of a compliance year
// ---------------------------------------------------------------------------------------------

#[test]
fn verified_emissions_are_reported_by_a_verifier_and_corrected_by_the_regulator() {
    let mut r = registry();
    r.rejects(&[ENT], report(ENT, 2025, 900), E::RoleNotPermitted);
    r.rejects(&[VER], report(BANK, 2025, 900), E::RoleNotPermitted);
    r.rejects(&[VER], report(ENT, 1990, 900), E::InvalidArgument);
    r.ok(&[VER], report(ENT, 2025, 900));
    r.rejects(&[VER], report(ENT, 2025, 950), E::RoleNotPermitted);
    r.ok(&[REG], report(ENT, 2025, 950));
    let (rec, closed) = queries::compliance(&r.state, 2025, Some(ENT)).expect("read");
    assert!(!closed);
    assert_eq!(
        (
            rec[0].verified_emissions,
            rec[0].obligation,
            rec[0].emission_reports
        ),
        (950, 950, 2)
    );
    assert_eq!(rec[0].status(), ComplianceStatus::Pending);
    // The report and its correction both stay in the enterprise's history (as does its own
    // refused attempt, which it signed and which is not counted here).
    let reports = queries::history(&r.state, ENT, 0, usize::MAX)
        .expect("read")
        .into_iter()
        .filter(|t| t.outcome.as_ref().is_some_and(|o| o.code() == E::Ok))
        .filter_map(|t| t.tx)
        .filter_map(|tx| {
            <carbon_proto::v1::TxBody as prost::Message>::decode(tx.body.as_slice()).ok()
        })
        .filter(|b| matches!(b.operation, Some(Op::ReportEmissions(_))))
        .count();
    assert_eq!(reports, 2);
}

#[test]
fn surrender_rules_banking_borrowing_credit_cap_and_obligation() {
    let mut r = registry();
    with_projects(&mut r);
    r.ok(&[REG], declare(2024, 1_000));
    r.ok(&[REG], allocate(ENT, 2024, 100));
    r.ok(&[REG], declare(2026, 1_000));
    r.ok(&[REG], allocate(ENT, 2026, 100));
    r.ok(&[REG], issue(WIND, 2025, 1_000));
    r.ok(
        &[OWNER],
        transfer(OWNER, ENT, credit(UnitKind::Ccer, 2025, WIND), 200),
    );
    let ccer = credit(UnitKind::Ccer, 2025, WIND);
    r.rejects(
        &[ENT],
        surrender(ENT, 2025, cea(2025), 10),
        E::NoVerifiedEmissions,
    );
    r.ok(&[VER], report(ENT, 2025, 1_000));
    // Borrowing from 2026 is not allowed; banking 2024 is.
    r.rejects(
        &[ENT],
        surrender(ENT, 2025, cea(2026), 10),
        E::BorrowingNotAllowed,
    );
    r.ok(&[ENT], surrender(ENT, 2025, cea(2024), 100));
    // Credits: at most 5 % of 1,000 = 50 over the year.
    r.ok(&[ENT], surrender(ENT, 2025, ccer.clone(), 30));
    r.rejects(
        &[ENT],
        surrender(ENT, 2025, ccer.clone(), 21),
        E::CreditCapExceeded,
    );
    r.ok(&[ENT], surrender(ENT, 2025, ccer.clone(), 20));
    // Remaining obligation: 1,000 - 150 = 850.
    r.rejects(
        &[ENT],
        surrender(ENT, 2025, cea(2025), 851),
        E::ExceedsObligation,
    );
    r.ok(&[ENT], surrender(ENT, 2025, cea(2025), 850));
    r.rejects(&[ENT], surrender(ENT, 2025, cea(2025), 0), E::ZeroAmount);
    r.rejects(
        &[ENT2],
        surrender(ENT, 2025, cea(2025), 1),
        E::InsufficientSignatures,
    );
    let (rec, _) = queries::compliance(&r.state, 2025, Some(ENT)).expect("read");
    assert_eq!(
        (rec[0].surrendered_allowances, rec[0].surrendered_credits),
        (950, 50)
    );
}

#[test]
fn closing_a_year_settles_records_carries_shortfall_and_prices_the_penalty() {
    let mut r = registry();
    r.ok(&[REG], allocate(ENT2, 2025, 500));
    r.ok(&[VER], report(ENT, 2025, 800));
    r.rejects(
        &[REG],
        close_year(2025, 20260131, 5, 0),
        E::EmissionsNotReported,
    );
    r.ok(&[VER], report(ENT2, 2025, 700));
    r.ok(&[ENT], surrender(ENT, 2025, cea(2025), 800));
    r.ok(&[ENT2], surrender(ENT2, 2025, cea(2025), 500));
    // The clock says 2026-03-01 (+ a few seconds).
    r.rejects(
        &[REG],
        close_year(2025, 20260301, 5, 0),
        E::DeadlineNotPassed,
    );
    r.rejects(&[REG], close_year(2025, 20260228, 4, 0), E::InvalidArgument);
    r.rejects(&[REG], close_year(2025, 20260230, 5, 0), E::InvalidArgument);
    r.rejects(
        &[REG],
        close_year(2025, 20260228, 5, 0),
        E::NoReferencePrice,
    );
    r.rejects(
        &[ENT],
        close_year(2025, 20260228, 5, 0),
        E::RoleNotPermitted,
    );
    // A fallback price of 80 CNY, multiplier 5: ENT2 is 200 short -> penalty 200 x 8,000 x 5.
    let fx = r.ok(&[REG], close_year(2025, 20260228, 5, 8_000));
    assert_eq!(fx.closed_records.len(), 2);
    let (recs, closed) = queries::compliance(&r.state, 2025, None).expect("read");
    assert!(closed);
    let ent = recs.iter().find(|x| x.enterprise_id == ENT).expect("ENT");
    let ent2 = recs.iter().find(|x| x.enterprise_id == ENT2).expect("ENT2");
    assert_eq!(ent.status(), ComplianceStatus::Compliant);
    assert_eq!(ent2.status(), ComplianceStatus::NonCompliant);
    assert_eq!((ent2.shortfall, ent2.penalty_fen), (200, 200 * 8_000 * 5));
    assert_eq!(r.account(ENT2).outstanding_shortfall, 200);
    r.rejects(&[REG], close_year(2025, 20260228, 5, 8_000), E::YearClosed);
    r.rejects(&[ENT], surrender(ENT, 2025, cea(2025), 1), E::YearClosed);
    r.rejects(&[VER], report(ENT, 2025, 1), E::YearClosed);
    r.rejects(&[REG], true_up(ENT, 2025, 1), E::YearClosed);
    // The next allocation is first reduced by the shortfall (Decree 775 art. 24).
    r.ok(&[REG], declare(2026, 10_000));
    let fx = r.ok(&[REG], allocate(ENT2, 2026, 150));
    assert_eq!((fx.shortfall_deducted, fx.created.len()), (150, 0));
    assert_eq!(r.account(ENT2).outstanding_shortfall, 50);
    let fx = r.ok(&[REG], true_up(ENT2, 2026, 400));
    assert_eq!(fx.shortfall_deducted, 50);
    assert_eq!(r.available(ENT2, &cea(2026)), 200);
    assert_eq!(r.account(ENT2).outstanding_shortfall, 0);
}

/// A trade of `q` CEA 2025 at `price` fen, ENT to ENT2, at `at_ms` (leader time).
fn trade_at(r: &mut Reg, at_ms: u64, q: u64, price: u64) {
    r.now = at_ms;
    r.ok(&[ENT, ENT2], trade(ENT, ENT2, cea(2025), q, price));
}

/// Noon CST of a date.
fn noon(date: u32) -> u64 {
    dates::start_ms(date) + 12 * 3_600_000
}

#[test]
fn the_penalty_price_covers_the_one_month_ending_on_the_deadline_in_cst() {
    let mut r = registry();
    // Around December 2026 (the usual 31 December deadline): the last second of 30 November CST
    // is out, the first of 1 December and the last of 31 December are in, 1 January is out.
    trade_at(&mut r, dates::start_ms(20261201) - 1_000, 10, 5_000);
    trade_at(&mut r, dates::start_ms(20261201), 10, 8_000);
    trade_at(&mut r, noon(20261215), 20, 9_000);
    trade_at(&mut r, dates::start_ms(20270101) - 1_000, 30, 10_000);
    trade_at(&mut r, dates::start_ms(20270101), 40, 20_000);
    let p = queries::reference_price(&r.state, 20261231).expect("read");
    assert_eq!((p.first_date, p.last_date), (20261201, 20261231));
    assert_eq!(
        p.days.iter().map(|d| d.date).collect::<Vec<_>>(),
        [20261201, 20261215, 20261231]
    );
    assert_eq!(p.volume, 60);
    // (10 x 80 + 20 x 90 + 30 x 100) / 60 = 93.33 -> 9,333 fen, rounded down.
    assert_eq!(
        p.price_fen,
        Some((10 * 8_000 + 20 * 9_000 + 30 * 10_000) / 60)
    );
    // A deadline on the 30th after a 31-day month starts on the 31st of that month.
    let p = queries::reference_price(&r.state, 20261130).expect("read");
    assert_eq!((p.first_date, p.last_date), (20261031, 20261130));
    assert_eq!((p.volume, p.price_fen), (10, Some(5_000)));
    // The old rule's window (the calendar month before the deadline) would have priced
    // 31 January 2027 from December; the one month ending on it holds only 1 January's trade.
    let p = queries::reference_price(&r.state, 20270131).expect("read");
    assert_eq!(
        (p.first_date, p.volume, p.price_fen),
        (20270101, 40, Some(20_000))
    );
    // Nothing in the window: no price.
    let p = queries::reference_price(&r.state, 20261031).expect("read");
    assert_eq!(
        (p.first_date, p.last_date, p.price_fen),
        (20261001, 20261031, None)
    );

    // Closing 2025 with deadline 2026-12-31 uses that December price.
    r.ok(&[VER], report(ENT, 2025, 100));
    r.ok(&[VER], report(ENT2, 2025, 200));
    r.ok(&[ENT2], surrender(ENT2, 2025, cea(2025), 100));
    r.now = noon(20270102);
    let fx = r.ok(&[REG], close_year(2025, 20261231, 5, 1));
    let rec = |id: &str| {
        fx.closed_records
            .iter()
            .find(|x| x.enterprise_id == id)
            .cloned()
            .expect("record")
    };
    assert_eq!(
        (rec(ENT2).shortfall, rec(ENT2).penalty_fen),
        (100, 100 * 9_333 * 5)
    );
    assert_eq!(rec(ENT).shortfall, 100);
}

#[test]
fn the_penalty_window_in_february_and_leap_years_and_the_fallback() {
    let mut r = registry();
    // 2028 is a leap year: deadline 2028-02-29 covers 2028-01-30..=2028-02-29.
    trade_at(&mut r, noon(20280129), 10, 1_000);
    trade_at(&mut r, noon(20280130), 10, 2_000);
    trade_at(&mut r, noon(20280229), 10, 4_000);
    let p = queries::reference_price(&r.state, 20280229).expect("read");
    assert_eq!(
        (p.first_date, p.volume, p.price_fen),
        (20280130, 20, Some(3_000))
    );
    // 2028-03-31: the previous month has no 31st, so the window is exactly March.
    let p = queries::reference_price(&r.state, 20280331).expect("read");
    assert_eq!(
        (p.first_date, p.last_date, p.price_fen),
        (20280301, 20280331, None)
    );
    // 2028-03-29: after 29 February -> from 1 March.
    let p = queries::reference_price(&r.state, 20280329).expect("read");
    assert_eq!(p.first_date, 20280301);
    // 2028-03-28: after 28 February -> 29 February is in.
    let p = queries::reference_price(&r.state, 20280328).expect("read");
    assert_eq!((p.first_date, p.price_fen), (20280229, Some(4_000)));
    // A close whose window saw no trade needs the fallback price; without one nothing changes.
    r.ok(&[VER], report(ENT, 2025, 1_100));
    r.now = noon(20280401);
    let m = r.rejects(
        &[REG],
        close_year(2025, 20280331, 5, 0),
        E::NoReferencePrice,
    );
    assert!(m.contains("2028-03-01") && m.contains("2028-03-31"), "{m}");
    let fx = r.ok(&[REG], close_year(2025, 20280331, 5, 7_000));
    assert_eq!(fx.closed_records[0].penalty_fen, 1_100 * 7_000 * 5);
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

#[test]
fn cancellation_retires_units_with_beneficiary_and_purpose() {
    let mut r = registry();
    with_projects(&mut r);
    r.ok(&[REG], issue(WIND, 2025, 100));
    let ccer = credit(UnitKind::Ccer, 2025, WIND);
    r.ok(&[OWNER], transfer(OWNER, IND, ccer.clone(), 10));
    let fx = r.ok(&[IND], cancel(IND, ccer.clone(), 4));
    assert_eq!(fx.cancellation_id, 1);
    assert_eq!(r.available(IND, &ccer), 6);
    let d = queries::disclosure(&r.state, 2026).expect("read");
    assert_eq!(d.cancellations.len(), 1);
    assert_eq!(d.cancellations[0].beneficiary, "杭州亚运会");
    let mut op = cancel(IND, ccer.clone(), 1);
    if let Op::Cancel(c) = &mut op {
        c.beneficiary.clear();
    }
    r.rejects(&[IND], op, E::InvalidArgument);
    r.rejects(&[IND], cancel(IND, ccer.clone(), 7), E::InsufficientUnits);
    r.rejects(&[OWNER], cancel(IND, ccer, 1), E::InsufficientSignatures);
    // Cancelled serials never come back: the invariant check after every entry proves it.
}

#[test]
fn every_serial_traces_to_the_allocation_or_issuance_that_created_it() {
    let mut r = registry();
    with_projects(&mut r);
    r.ok(&[REG], issue(WIND, 2025, 100));
    r.ok(&[VER], report(ENT, 2025, 600));
    r.ok(&[ENT], surrender(ENT, 2025, cea(2025), 300));
    // Serial 250 of CEA 2025: created by the allocation in `registry()`, surrendered by ENT.
    let t = queries::trace(&r.state, &cea(2025), 250)
        .expect("read")
        .expect("exists");
    let created = t.created_by.and_then(|c| c.tx).expect("creating tx");
    let body = <carbon_proto::v1::TxBody as prost::Message>::decode(created.body.as_slice())
        .expect("body");
    assert!(matches!(body.operation, Some(Op::Allocate(_))));
    let retired = t.retired.expect("retired");
    assert_eq!((retired.account_id.as_str(), retired.year), (ENT, 2025));
    // Serial 900 is still held: no retirement, holder not disclosed.
    let t = queries::trace(&r.state, &cea(2025), 900)
        .expect("read")
        .expect("exists");
    assert!(t.retired.is_none());
    // Credits trace to their issuance.
    let t = queries::trace(&r.state, &credit(UnitKind::Ccer, 2025, WIND), 42)
        .expect("read")
        .expect("exists");
    let o = t.origin.expect("origin");
    assert_eq!(o.range.map(|r| (r.first, r.last)), Some((1, 100)));
    // Never created: nothing.
    assert!(queries::trace(&r.state, &cea(2025), 1_001)
        .expect("read")
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Repo and lending
// ---------------------------------------------------------------------------------------------

fn repo(seller: &str, buyer: &str, q: u64, date: u32) -> Op {
    Op::Repo(Repo {
        seller: seller.into(),
        buyer: buyer.into(),
        unit_class: Some(cea(2025)),
        quantity: q,
        sale_price_fen: 8_000,
        repurchase_price_fen: 8_200,
        repurchase_date: date,
        contract_ref: "回购协议-01".into(),
    })
}
fn lend(lender: &str, borrower: &str, c: UnitClass, q: u64, date: u32) -> Op {
    Op::Lend(Lend {
        lender: lender.into(),
        borrower: borrower.into(),
        unit_class: Some(c),
        quantity: q,
        fee_fen: 150_000,
        return_date: date,
        contract_ref: "借碳合同-01".into(),
    })
}
fn give_back(id: u64, q: u64) -> Op {
    Op::ReturnLoan(ReturnLoan {
        loan_id: id,
        quantity: q,
    })
}

/// `s` with every number replaced by `#`.
fn without_numbers(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

/// The rejection a signer gets for an action on a record id, as (code, message).
fn answer(r: &mut Reg, signers: &[&str], op: Op) -> (E, String) {
    let o = r.submit(signers, op);
    (o.code(), o.message)
}

#[test]
fn a_stranger_acting_on_a_private_record_learns_nothing_of_it() {
    let mut r = registry();
    const STRANGER: &str = "ZJ-ENT-99";
    r.open(STRANGER, Role::Enterprise);
    let pledge_id = r
        .ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 100))
        .encumbrance_id;
    let repo_id = r
        .ok(&[ENT, BANK], repo(ENT, BANK, 100, 20270101))
        .encumbrance_id;
    let loan_id = r
        .ok(&[ENT, ENT2], lend(ENT, ENT2, cea(2025), 100, 20270101))
        .loan_id;
    let closed = r
        .ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 1))
        .encumbrance_id;
    r.ok(
        &[BANK],
        Op::ReleasePledge(ReleasePledge {
            pledge_id: closed,
            quantity: 1,
        }),
    );
    let release = |id| {
        Op::ReleasePledge(ReleasePledge {
            pledge_id: id,
            quantity: 1,
        })
    };
    let cases = [
        (release(pledge_id), release(9_999)),
        (release(closed), release(9_998)),
        (
            Op::EnforcePledge(EnforcePledge { pledge_id }),
            Op::EnforcePledge(EnforcePledge { pledge_id: 9_999 }),
        ),
        (
            Op::Repurchase(Repurchase { repo_id }),
            Op::Repurchase(Repurchase { repo_id: 9_999 }),
        ),
        (
            Op::RepoDefault(RepoDefault { repo_id }),
            Op::RepoDefault(RepoDefault { repo_id: 9_999 }),
        ),
        (give_back(loan_id, 1), give_back(9_999, 1)),
    ];
    for (real, missing) in cases {
        let (code, message) = answer(&mut r, &[STRANGER], real.clone());
        let (code_missing, message_missing) = answer(&mut r, &[STRANGER], missing);
        assert_eq!(code, code_missing, "{real:?}: {message}");
        assert_eq!(without_numbers(&message), without_numbers(&message_missing));
        for private in [ENT, ENT2, BANK, "100", "active"] {
            assert!(!message.contains(private), "{real:?}: {message}");
        }
    }
    // A party that may not do this is still told why.
    let (code, message) = answer(&mut r, &[ENT], release(pledge_id));
    assert_eq!(code, E::InsufficientSignatures);
    assert!(message.contains(BANK), "{message}");
    // Entries of ledger version 1 are applied as version 1 applied them (the chain of an old
    // log must not change): the stranger was told who must sign.
    r.version = 1;
    let (code, message) = answer(&mut r, &[STRANGER], release(pledge_id));
    assert_eq!(code, E::InsufficientSignatures);
    assert!(message.contains(BANK), "{message}");
    assert_eq!(
        answer(&mut r, &[STRANGER], release(closed)).0,
        E::EncumbranceClosed
    );
}

/// (available, repo) units of a class.
fn repo_balance(r: &Reg, id: &str, c: &UnitClass) -> (u64, u64) {
    let (balances, _) = queries::holdings(&r.state, id).expect("read");
    balances
        .into_iter()
        .find(|b| b.unit_class.as_ref() == Some(c))
        .map_or((0, 0), |b| (b.available, b.repo))
}

#[test]
fn repo_units_sit_with_the_buyer_usable_for_nothing_until_repurchased() {
    let mut r = registry();
    let fx = r.ok(&[ENT, BANK], repo(ENT, BANK, 300, 20260315));
    let id = fx.encumbrance_id;
    assert_eq!(fx.moved.len(), 1);
    assert_eq!((fx.moved[0].first, fx.moved[0].last), (1, 300));
    assert_eq!(repo_balance(&r, ENT, &cea(2025)), (700, 0));
    assert_eq!(repo_balance(&r, BANK, &cea(2025)), (0, 300));
    let (_, blocks) = queries::holdings(&r.state, BANK).expect("read");
    assert_eq!(blocks[0].state(), BlockState::Repo);
    assert_eq!(blocks[0].encumbrance_id, id);
    // Neither party can use the units.
    r.rejects(
        &[BANK],
        transfer(BANK, ENT2, cea(2025), 1),
        E::UnitsEncumbered,
    );
    r.rejects(
        &[ENT],
        transfer(ENT, ENT2, cea(2025), 701),
        E::InsufficientUnits,
    );
    r.rejects(
        &[BANK, ENT],
        pledge(ENT, BANK, cea(2025), 701),
        E::InsufficientUnits,
    );
    // Pledge and repo share one id sequence: a block's encumbrance id names one thing.
    let p = r
        .ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 100))
        .encumbrance_id;
    assert_eq!(p, id + 1);
    // Only the buyer confirms the repurchase.
    r.rejects(
        &[ENT],
        Op::Repurchase(Repurchase { repo_id: id }),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[BANK],
        Op::Repurchase(Repurchase { repo_id: 99 }),
        E::UnknownRepo,
    );
    r.rejects(
        &[BANK],
        Op::RepoDefault(RepoDefault { repo_id: id }),
        E::RepurchaseDateNotPassed,
    );
    let fx = r.ok(&[BANK], Op::Repurchase(Repurchase { repo_id: id }));
    assert_eq!(
        (fx.encumbrance_id, fx.moved[0].first, fx.moved[0].last),
        (id, 1, 300)
    );
    assert_eq!(repo_balance(&r, ENT, &cea(2025)), (900, 0));
    assert_eq!(repo_balance(&r, BANK, &cea(2025)), (0, 0));
    r.rejects(
        &[BANK],
        Op::Repurchase(Repurchase { repo_id: id }),
        E::RepoClosed,
    );
    let repos = queries::repos_of(&r.state, ENT).expect("read");
    assert_eq!(repos.len(), 1);
    assert_eq!(repos[0].status(), RepoStatus::Repurchased);
    assert_eq!(queries::repos_of(&r.state, BANK).expect("read"), repos);
    // Repo is financing, not a trade: no market statistics.
    assert!(queries::market_days(&r.state, None, 0, 0)
        .expect("read")
        .is_empty());
}

#[test]
fn after_the_repurchase_date_only_a_default_closes_a_repo_and_the_bank_keeps_the_allowances() {
    let mut r = registry();
    let id = r
        .ok(&[ENT, BANK], repo(ENT, BANK, 300, 20260310))
        .encumbrance_id;
    r.now = noon(20260310);
    r.rejects(
        &[BANK],
        Op::RepoDefault(RepoDefault { repo_id: id }),
        E::RepurchaseDateNotPassed,
    );
    r.now = noon(20260311);
    r.rejects(
        &[BANK],
        Op::Repurchase(Repurchase { repo_id: id }),
        E::RepurchaseDatePassed,
    );
    let fx = r.ok(&[BANK], Op::RepoDefault(RepoDefault { repo_id: id }));
    assert_eq!(fx.encumbrance_id, id);
    assert_eq!(repo_balance(&r, BANK, &cea(2025)), (300, 0));
    assert_eq!(repo_balance(&r, ENT, &cea(2025)), (700, 0));
    r.rejects(
        &[BANK],
        Op::RepoDefault(RepoDefault { repo_id: id }),
        E::RepoClosed,
    );
    // A bank that took allowances on a default may sell them on.
    r.ok(&[BANK], transfer(BANK, ENT2, cea(2025), 300));
    assert_eq!(
        queries::repos_of(&r.state, BANK).expect("read")[0].status(),
        RepoStatus::Defaulted
    );
}

#[test]
fn repo_rejections() {
    let mut r = registry();
    r.rejects(
        &[ENT],
        repo(ENT, BANK, 10, 20260315),
        E::InsufficientSignatures,
    );
    r.rejects(&[ENT, ENT], repo(ENT, ENT, 10, 20260315), E::Malformed);
    r.rejects(&[ENT], repo(ENT, ENT, 10, 20260315), E::SameAccount);
    r.rejects(&[ENT, BANK], repo(ENT, BANK, 0, 20260315), E::ZeroAmount);
    r.rejects(
        &[ENT, BANK],
        repo(ENT, BANK, 10, 20260229),
        E::InvalidArgument,
    );
    r.rejects(
        &[ENT, BANK],
        repo(ENT, BANK, 10, 20260228),
        E::InvalidArgument,
    );
    r.rejects(
        &[ENT, BANK],
        repo(ENT, BANK, 1_001, 20260315),
        E::InsufficientUnits,
    );
    r.rejects(
        &[ENT, "GHOST"],
        repo(ENT, "GHOST", 10, 20260315),
        E::UnknownAccount,
    );
    r.rejects(
        &[BANK, ENT],
        repo(BANK, ENT, 10, 20260315),
        E::RoleNotPermitted,
    );
    r.rejects(
        &[ENT, IND],
        repo(ENT, IND, 10, 20260315),
        E::RoleNotPermitted,
    );
    let mut op = repo(ENT, BANK, 10, 20260315);
    if let Op::Repo(o) = &mut op {
        o.sale_price_fen = 0;
    }
    r.rejects(&[ENT, BANK], op, E::ZeroAmount);
    let mut op = repo(ENT, BANK, 10, 20260315);
    if let Op::Repo(o) = &mut op {
        o.repurchase_price_fen = u64::MAX;
    }
    r.rejects(&[ENT, BANK], op, E::AmountOverflow);
    // A repo may be due today; a party to an open repo does not close, even with nothing held.
    r.ok(&[ENT], transfer(ENT, ENT2, cea(2025), 100));
    r.ok(&[ENT2, BANK], repo(ENT2, BANK, 100, 20260301));
    let close = |id: &str| {
        Op::CloseAccount(CloseAccount {
            account_id: id.into(),
        })
    };
    let m = r.rejects(&[REG], close(ENT2), E::AccountNotEmpty);
    assert!(m.contains("repo"), "{m}");
    r.rejects(&[REG], close(BANK), E::AccountNotEmpty);
}

#[test]
fn a_loan_is_used_for_surrender_and_returned_in_parts() {
    let mut r = registry();
    let fx = r.ok(&[ENT, ENT2], lend(ENT, ENT2, cea(2025), 300, 20260331));
    let id = fx.loan_id;
    assert_eq!(id, 1);
    assert_eq!(
        (r.available(ENT, &cea(2025)), r.available(ENT2, &cea(2025))),
        (700, 300)
    );
    // Borrowed allowances cover the borrower's obligation: that is what borrowing is for.
    r.ok(&[VER], report(ENT2, 2025, 300));
    r.ok(&[ENT2], surrender(ENT2, 2025, cea(2025), 300));
    r.rejects(&[ENT2], give_back(id, 100), E::InsufficientUnits);
    r.ok(&[REG], allocate(ENT2, 2025, 400));
    r.rejects(&[ENT], give_back(id, 100), E::InsufficientSignatures);
    r.rejects(&[ENT2], give_back(id, 0), E::ZeroAmount);
    r.rejects(&[ENT2], give_back(id, 301), E::ExceedsLoan);
    r.rejects(&[ENT2], give_back(7, 1), E::UnknownLoan);
    let fx = r.ok(&[ENT2], give_back(id, 120));
    assert_eq!(fx.loan_id, id);
    // Same class, any serials: the borrower's lowest (its new allocation's) go back.
    assert_eq!(fx.moved[0].first, 1_001);
    let loan = &queries::loans(&r.state, Some(ENT), 20260301).expect("read")[0];
    assert_eq!(
        (loan.status(), loan.returned, loan.overdue),
        (LoanStatus::Open, 120, false)
    );
    // Overdue is read against today's date: the loan stays open.
    let loan = &queries::loans(&r.state, None, 20260401).expect("read")[0];
    assert!(loan.overdue);
    r.rejects(&[ENT2], give_back(id, 181), E::ExceedsLoan);
    r.ok(&[ENT2], give_back(id, 180));
    let loan = &queries::loans(&r.state, Some(ENT2), 20260401).expect("read")[0];
    assert_eq!(
        (loan.status(), loan.returned, loan.overdue),
        (LoanStatus::Returned, 300, false)
    );
    r.rejects(&[ENT2], give_back(id, 1), E::LoanClosed);
    assert_eq!(r.available(ENT, &cea(2025)), 1_000);
    // Lending is not a trade.
    assert!(queries::market_days(&r.state, None, 0, 0)
        .expect("read")
        .is_empty());
}

#[test]
fn lending_rejections() {
    let mut r = registry();
    with_projects(&mut r);
    r.ok(&[REG], issue(WIND, 2025, 100));
    let wind = credit(UnitKind::Ccer, 2025, WIND);
    r.rejects(
        &[ENT],
        lend(ENT, ENT2, cea(2025), 10, 20260331),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[ENT],
        lend(ENT, ENT, cea(2025), 10, 20260331),
        E::SameAccount,
    );
    r.rejects(
        &[ENT, ENT2],
        lend(ENT, ENT2, cea(2025), 0, 20260331),
        E::ZeroAmount,
    );
    r.rejects(
        &[ENT, ENT2],
        lend(ENT, ENT2, cea(2025), 10, 20260131),
        E::InvalidArgument,
    );
    r.rejects(
        &[ENT, ENT2],
        lend(ENT, ENT2, cea(2025), 10, 20261301),
        E::InvalidArgument,
    );
    r.rejects(
        &[ENT, ENT2],
        lend(ENT, ENT2, cea(2025), 1_001, 20260331),
        E::InsufficientUnits,
    );
    r.rejects(
        &[ENT, BANK],
        lend(ENT, BANK, cea(2025), 10, 20260331),
        E::RoleCannotHold,
    );
    r.rejects(
        &[REG, ENT],
        lend(REG, ENT, cea(2025), 10, 20260331),
        E::RoleNotPermitted,
    );
    r.rejects(
        &[ENT, IND],
        lend(ENT, IND, cea(2025), 10, 20260331),
        E::RoleCannotHold,
    );
    // Credits may be lent to anyone who may hold them.
    r.ok(&[OWNER, IND], lend(OWNER, IND, wind.clone(), 10, 20260331));
    assert_eq!(r.available(IND, &wind), 10);
    // A party to an open loan does not close.
    let m = r.rejects(
        &[REG],
        Op::CloseAccount(CloseAccount {
            account_id: OWNER.into(),
        }),
        E::AccountNotEmpty,
    );
    assert!(!m.is_empty());
}

#[test]
fn a_statement_lists_every_movement_with_counterparty_and_balance_after() {
    let mut r = registry();
    r.ok(&[ENT, ENT2], trade(ENT, ENT2, cea(2025), 100, 9_000));
    r.ok(&[ENT, BANK], pledge(ENT, BANK, cea(2025), 200));
    let id = r
        .ok(&[ENT, BANK], repo(ENT, BANK, 300, 20260315))
        .encumbrance_id;
    r.ok(&[BANK], Op::Repurchase(Repurchase { repo_id: id }));
    r.ok(&[VER], report(ENT, 2025, 50));
    r.ok(&[ENT], surrender(ENT, 2025, cea(2025), 50));
    let (lines, next) = queries::statement(&r.state, ENT, 0, 0, &[], 100).expect("read");
    assert!(next.is_empty());
    fn row(l: &carbon_proto::v1::StatementLine) -> (&str, &str, u64, u64, u64, u64) {
        (
            l.operation.as_str(),
            l.counterparty.as_str(),
            l.quantity_in,
            l.quantity_out,
            l.balance_after,
            l.available_after,
        )
    }
    let rows: Vec<_> = lines.iter().map(row).collect();
    assert_eq!(
        rows,
        [
            ("allocate", REG, 1_000, 0, 1_000, 1_000),
            ("trade", ENT2, 0, 100, 900, 900),
            ("pledge", BANK, 0, 0, 900, 700),
            ("repo", BANK, 0, 300, 600, 400),
            ("repurchase", BANK, 300, 0, 900, 700),
            ("surrender", "", 0, 50, 850, 650),
        ]
    );
    assert!(lines
        .iter()
        .all(|l| l.date == 20260301 && l.tx_id.len() == 32));
    assert_eq!(
        (lines[1].ranges[0].first, lines[1].ranges[0].last),
        (1, 100)
    );
    // The buyer's side of the same repo.
    let (bank, _) = queries::statement(&r.state, BANK, 0, 0, &[], 100).expect("read");
    let rows: Vec<_> = bank.iter().map(row).collect();
    assert_eq!(
        rows,
        [
            ("repo", ENT, 300, 0, 300, 0),
            ("repurchase", ENT, 0, 300, 0, 0)
        ]
    );
    // Pages: two lines at a time, resumed from the token, end to end.
    let mut token = Vec::new();
    let mut paged = Vec::new();
    loop {
        let (page, next) = queries::statement(&r.state, ENT, 0, 0, &token, 2).expect("read");
        assert!(page.len() <= 2);
        paged.extend(page);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(paged, lines);
    // A period: nothing before it, nothing after.
    let (none, _) = queries::statement(&r.state, ENT, 20260302, 0, &[], 100).expect("read");
    assert!(none.is_empty());
    let (all, _) = queries::statement(&r.state, ENT, 20260301, 20260301, &[], 100).expect("read");
    assert_eq!(all.len(), 6);
}
