//! Rule 17 (Paris Agreement art. 6), ledger version 4: authorisation of an issuance's units,
//! export to another registry with its corresponding adjustment, cancellation naming NDC or
//! OIMP; each success path and every rejection with its stable code and no state change
//! (`Reg::rejects`); the invariants (exported units in conservation) after every entry.

mod common;

use carbon_ledger::{audit, keys, queries, MemState};
use carbon_proto::v1::{
    tx_body::Operation as Op, AdjustmentTrigger, ApproveProject, AuthoriseUnits, Cancel,
    ErrorCode as E, ExportUnits, Freeze, IssueCredits, MitigationPurpose as P, Pledge,
    ProposeProject, RetireReason, RetiredBlock, Role, SuspendAccount, Transfer, UnitClass,
    UnitKind,
};
use common::*;
use prost::Message;

const OWNER: &str = "ZJ-PO-01";
const ENT: &str = "ZJ-ENT-01";
const BANK: &str = "ZJ-BANK-01";
const PROJECT: &str = "ZJ-CCER-001";

fn ccer(v: u32) -> UnitClass {
    credit(UnitKind::Ccer, v, PROJECT)
}
fn authorise(seq: u64, purpose: P) -> Op {
    Op::AuthoriseUnits(AuthoriseUnits {
        project_id: PROJECT.into(),
        issuance_sequence: seq,
        purpose: purpose as i32,
        authorisation_reference: "LoA-CN-2026-001".into(),
    })
}
fn export(holder: &str, c: UnitClass, q: u64) -> Op {
    Op::ExportUnits(ExportUnits {
        holder: holder.into(),
        unit_class: Some(c),
        quantity: q,
        destination_registry: "CH-NATIONAL-REGISTRY".into(),
        destination_account: "CH-100-2231".into(),
    })
}
fn cancel(h: &str, c: UnitClass, q: u64, purpose: i32) -> Op {
    Op::Cancel(Cancel {
        holder: h.into(),
        unit_class: Some(c),
        quantity: q,
        beneficiary: "某航空公司".into(),
        purpose: "CORSIA 抵消".into(),
        mitigation_purpose: purpose,
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

/// OWNER's CCER project with two issuances for 2025: 100 units (serials 1..=100, sequence
/// returned first) and 50 (101..=150). ENT and BANK open.
fn registry() -> (Reg, u64, u64) {
    let mut r = Reg::new();
    r.open(OWNER, Role::ProjectOwner);
    r.open(ENT, Role::Enterprise);
    r.open(BANK, Role::Bank);
    r.ok(
        &[OWNER],
        Op::ProposeProject(ProposeProject {
            project_id: PROJECT.into(),
            owner_id: OWNER.into(),
            kind: UnitKind::Ccer as i32,
            name: "舟山海上风电".into(),
            methodology: "CCER-01-001-V01".into(),
            region: "舟山市".into(),
            crediting_start_year: 2024,
            crediting_end_year: 2030,
        }),
    );
    r.ok(
        &[REG],
        Op::ApproveProject(ApproveProject {
            project_id: PROJECT.into(),
            buffer_share_bp: 0,
        }),
    );
    let mut issue = |q| {
        let o = r.submit(
            &[REG],
            Op::IssueCredits(IssueCredits {
                project_id: PROJECT.into(),
                monitoring_year: 2025,
                quantity: q,
            }),
        );
        assert_eq!(o.code(), E::Ok, "{}", o.message);
        o.sequence
    };
    let (s1, s2) = (issue(100), issue(50));
    (r, s1, s2)
}

fn retired_reason(r: &Reg, first: u64) -> RetireReason {
    let b = r
        .state
        .map
        .get(&keys::retired(&ccer(2025), first))
        .expect("retired block");
    RetiredBlock::decode(b.as_slice())
        .expect("decodes")
        .reason()
}

#[test]
fn authorised_units_export_for_good_with_a_corresponding_adjustment() {
    let (mut r, s1, _) = registry();
    r.ok(&[REG], authorise(s1, P::Ndc));
    r.ok(&[OWNER], transfer(OWNER, ENT, ccer(2025), 40));
    let fx = r.ok(&[ENT, REG], export(ENT, ccer(2025), 30));
    assert_eq!(fx.retired.len(), 1);
    assert_eq!((fx.retired[0].first, fx.retired[0].last), (1, 30));
    assert_eq!(r.available(ENT, &ccer(2025)), 10);
    assert_eq!(retired_reason(&r, 1), RetireReason::Exported);
    let pub_ = queries::international(&r.state, 2025).expect("read");
    assert_eq!(pub_.authorisations.len(), 1);
    assert_eq!(pub_.authorisations[0].purpose(), P::Ndc);
    assert_eq!(pub_.exports.len(), 1);
    let e = &pub_.exports[0];
    assert_eq!((e.holder.as_str(), e.quantity), (ENT, 30));
    assert_eq!(e.destination_registry, "CH-NATIONAL-REGISTRY");
    assert_eq!(e.authorisation_references, vec!["LoA-CN-2026-001"]);
    assert_eq!(pub_.adjustments.len(), 1);
    let a = &pub_.adjustments[0];
    assert_eq!((a.year, a.quantity), (2025, 30));
    assert_eq!(a.trigger(), AdjustmentTrigger::FirstTransfer);
    assert_eq!(a.sequence, e.sequence);
    // Nothing for another year; everything for year 0.
    assert!(queries::international(&r.state, 2024)
        .expect("read")
        .exports
        .is_empty());
    assert_eq!(
        queries::international(&r.state, 0)
            .expect("read")
            .adjustments
            .len(),
        1
    );
    // Exported serials are traced to their retirement and never held again.
    let t = queries::trace(&r.state, &ccer(2025), 7)
        .expect("read")
        .expect("found");
    assert_eq!(t.retired.expect("read").reason(), RetireReason::Exported);
    r.rejects(
        &[ENT, REG],
        export(ENT, ccer(2025), 11),
        E::InsufficientUnits,
    );
}

#[test]
fn an_export_takes_only_authorised_serials_lowest_first_even_inside_a_block() {
    let (mut r, _, s2) = registry();
    // OWNER holds 1..=150 in one block; only the second issuance (101..=150) is authorised.
    r.ok(&[REG], authorise(s2, P::Oimp));
    let fx = r.ok(&[OWNER, REG], export(OWNER, ccer(2025), 20));
    assert_eq!((fx.retired[0].first, fx.retired[0].last), (101, 120));
    let (_, blocks) = queries::holdings(&r.state, OWNER).expect("read");
    let ranges: Vec<(u64, u64)> = blocks
        .iter()
        .map(|b| b.range.as_ref().map(|x| (x.first, x.last)).expect("read"))
        .collect();
    assert_eq!(ranges, vec![(1, 100), (121, 150)]);
    // 30 authorised left: 31 is refused although OWNER holds 130.
    let m = r.rejects(
        &[OWNER, REG],
        export(OWNER, ccer(2025), 31),
        E::UnitsNotAuthorised,
    );
    assert!(m.contains("30 authorised"), "{m}");
    r.ok(&[OWNER, REG], export(OWNER, ccer(2025), 30));
    assert_eq!(r.available(OWNER, &ccer(2025)), 100);
}

#[test]
fn the_authorisation_follows_the_serials_to_a_new_holder() {
    let (mut r, s1, _) = registry();
    r.ok(&[OWNER], transfer(OWNER, ENT, ccer(2025), 120));
    r.ok(&[REG], authorise(s1, P::Ndc));
    // ENT holds 1..=120: 1..=100 authorised.
    r.rejects(
        &[ENT, REG],
        export(ENT, ccer(2025), 101),
        E::UnitsNotAuthorised,
    );
    r.ok(&[ENT, REG], export(ENT, ccer(2025), 100));
    r.rejects(
        &[ENT, REG],
        export(ENT, ccer(2025), 1),
        E::UnitsNotAuthorised,
    );
}

#[test]
fn a_cancellation_for_oimp_uses_oimp_units_and_records_an_adjustment() {
    let (mut r, s1, s2) = registry();
    r.ok(&[REG], authorise(s1, P::Ndc));
    r.ok(&[REG], authorise(s2, P::Oimp));
    let fx = r.ok(&[OWNER], cancel(OWNER, ccer(2025), 5, P::Oimp as i32));
    assert_eq!((fx.retired[0].first, fx.retired[0].last), (101, 105));
    let c = queries::disclosure(&r.state, 0)
        .expect("read")
        .cancellations;
    assert_eq!(c[0].mitigation_purpose(), P::Oimp);
    let adj = queries::international(&r.state, 2025)
        .expect("read")
        .adjustments;
    assert_eq!(adj.len(), 1);
    assert_eq!(adj[0].trigger(), AdjustmentTrigger::OimpUse);
    assert_eq!(
        (adj[0].quantity, adj[0].cancellation_id),
        (5, fx.cancellation_id)
    );
    // NDC use takes NDC-authorised units, and needs no adjustment here (the use is China's).
    let fx = r.ok(&[OWNER], cancel(OWNER, ccer(2025), 10, P::Ndc as i32));
    assert_eq!((fx.retired[0].first, fx.retired[0].last), (1, 10));
    assert_eq!(
        queries::international(&r.state, 2025)
            .expect("read")
            .adjustments
            .len(),
        1
    );
    // A voluntary cancellation as before: lowest serials, whatever their authorisation.
    let fx = r.ok(&[OWNER], cancel(OWNER, ccer(2025), 1, 0));
    assert_eq!(fx.retired[0].first, 11);
    // More OIMP units than are authorised for OIMP (45 left).
    r.rejects(
        &[OWNER],
        cancel(OWNER, ccer(2025), 46, P::Oimp as i32),
        E::UnitsNotAuthorised,
    );
}

#[test]
fn every_rejection_has_its_code_and_changes_nothing() {
    let (mut r, s1, s2) = registry();
    let oimp = P::Oimp as i32;
    // Authorise: the regulator only, a known issuance, once, NDC or OIMP, a reference.
    r.rejects(&[OWNER], authorise(s1, P::Ndc), E::RoleNotPermitted);
    r.rejects(&[REG], authorise(s2 + 1, P::Ndc), E::UnknownIssuance);
    let mut op = authorise(s1, P::Ndc);
    if let Op::AuthoriseUnits(a) = &mut op {
        a.project_id = "NO-SUCH-PROJECT".into();
    }
    r.rejects(&[REG], op, E::UnknownIssuance);
    r.rejects(&[REG], authorise(s1, P::Unspecified), E::InvalidArgument);
    let mut op = authorise(s1, P::Ndc);
    if let Op::AuthoriseUnits(a) = &mut op {
        a.authorisation_reference = " ".into();
    }
    r.rejects(&[REG], op, E::InvalidArgument);
    // Units not authorised yet.
    r.rejects(
        &[OWNER, REG],
        export(OWNER, ccer(2025), 1),
        E::UnitsNotAuthorised,
    );
    r.rejects(
        &[OWNER],
        cancel(OWNER, ccer(2025), 1, oimp),
        E::UnitsNotAuthorised,
    );
    r.ok(&[REG], authorise(s1, P::Oimp));
    r.rejects(&[REG], authorise(s1, P::Ndc), E::AlreadyAuthorised);
    // Export: the holder and the regulator sign.
    r.rejects(&[OWNER], export(OWNER, ccer(2025), 1), E::RoleNotPermitted);
    r.rejects(
        &[REG],
        export(OWNER, ccer(2025), 1),
        E::InsufficientSignatures,
    );
    r.rejects(&[OWNER, REG], export(OWNER, ccer(2025), 0), E::ZeroAmount);
    r.rejects(
        &[OWNER, REG],
        export(OWNER, ccer(2025), 151),
        E::InsufficientUnits,
    );
    r.rejects(
        &[OWNER, REG],
        export(OWNER, cea(2025), 1),
        E::UnitsNotAuthorised,
    );
    r.rejects(
        &[OWNER, REG],
        export(OWNER, credit(UnitKind::Ccer, 2025, "NONE"), 1),
        E::InvalidUnitClass,
    );
    for (registry, account) in [(CHAIN, "x"), ("", "x"), ("CH", "")] {
        let mut op = export(OWNER, ccer(2025), 1);
        if let Op::ExportUnits(e) = &mut op {
            e.destination_registry = registry.into();
            e.destination_account = account.into();
        }
        r.rejects(&[OWNER, REG], op, E::InvalidArgument);
    }
    r.rejects(
        &[OWNER],
        cancel(OWNER, ccer(2025), 1, 7),
        E::InvalidArgument,
    );
    r.rejects(
        &[OWNER],
        cancel(OWNER, ccer(2025), 1, P::Ndc as i32),
        E::UnitsNotAuthorised,
    );
    // Encumbered authorised units: frozen, then pledged.
    r.ok(&[OWNER], transfer(OWNER, ENT, ccer(2025), 100));
    r.ok(
        &[REG],
        Op::Freeze(Freeze {
            account_id: ENT.into(),
            unit_class: Some(ccer(2025)),
            quantity: 60,
            court_order_ref: "(2026)浙01执123号".into(),
        }),
    );
    r.ok(
        &[ENT, BANK],
        Op::Pledge(Pledge {
            pledgor: ENT.into(),
            pledgee: BANK.into(),
            unit_class: Some(ccer(2025)),
            quantity: 30,
            secured_amount_fen: 1_000_000,
            maturity_date: 20270630,
            contract_ref: "质押-01".into(),
        }),
    );
    r.rejects(&[ENT, REG], export(ENT, ccer(2025), 11), E::UnitsEncumbered);
    r.rejects(
        &[ENT],
        cancel(ENT, ccer(2025), 11, oimp),
        E::UnitsEncumbered,
    );
    r.ok(&[ENT, REG], export(ENT, ccer(2025), 10));
    // A suspended holder sends nothing abroad.
    r.ok(
        &[REG],
        Op::SuspendAccount(SuspendAccount {
            account_id: OWNER.into(),
            reason: "调查".into(),
        }),
    );
    r.rejects(
        &[OWNER, REG],
        export(OWNER, ccer(2025), 1),
        E::AccountNotOpen,
    );
}

#[test]
fn entries_of_version_3_refuse_rule_17() {
    let (mut r, s1, _) = registry();
    r.version = 3;
    r.rejects(&[REG], authorise(s1, P::Ndc), E::VersionNotActive);
    r.version = 4;
    r.ok(&[REG], authorise(s1, P::Ndc));
    r.version = 3;
    r.rejects(
        &[OWNER, REG],
        export(OWNER, ccer(2025), 1),
        E::VersionNotActive,
    );
    r.rejects(
        &[OWNER],
        cancel(OWNER, ccer(2025), 1, P::Ndc as i32),
        E::VersionNotActive,
    );
    // A voluntary cancellation applies as before.
    r.ok(&[OWNER], cancel(OWNER, ccer(2025), 1, 0));
}

/// The invariants see exported units: an export whose record went missing, or exported
/// serials outside every authorisation, break them.
#[test]
fn the_invariants_account_for_exports_and_adjustments() {
    let (mut r, s1, _) = registry();
    r.ok(&[REG], authorise(s1, P::Oimp));
    r.ok(&[OWNER, REG], export(OWNER, ccer(2025), 10));
    r.ok(&[OWNER], cancel(OWNER, ccer(2025), 3, P::Oimp as i32));
    audit::check_invariants(&r.state).expect("holds");
    let without = |r: &Reg, prefix: &[u8]| {
        let mut s = MemState {
            map: r.state.map.clone(),
        };
        s.map.retain(|k, _| !k.starts_with(prefix));
        audit::check_invariants(&s)
    };
    assert!(without(&r, keys::EXPORTS).is_err(), "exports must add up");
    assert!(
        without(&r, keys::ADJUSTMENTS).is_err(),
        "adjustments must add up"
    );
    assert!(
        without(&r, keys::AUTHORISATIONS).is_err(),
        "exports were authorised"
    );
}
