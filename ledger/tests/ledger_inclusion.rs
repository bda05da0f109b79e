//! Rule 16 (carbon inclusion), ledger version 4: platforms, personal accounts in bulk,
//! inclusion methodologies, reductions and carbon points, conversion into PHCER, PHCER in
//! surrender. Each success path and every rejection with its stable code and no state change
//! (`Reg::rejects`); the invariants (no gram converted twice, PHCER conserved) are checked
//! after every entry.

mod common;

use carbon_ledger::{inclusion, limits, queries};
use carbon_proto::v1::{
    tx_body::Operation as Op, AllowPersonalAccounts, ApproveMethodology, Cancel, ConvertReductions,
    ErrorCode as E, Genesis, InclusionMethodology, OpenPersonalAccounts, PersonalAccount,
    RecordReductions, ReductionRow, ReportEmissions, Role, Surrender, SuspendAccount, Transfer,
    UnitKind, UpdateKeys,
};
use common::*;

const PLAT: &str = "LS-PLAT";
const PLAT2: &str = "HZ-PLAT";
const BUS: &str = "ZJ-PH-BUS-V01";
const BIKE: &str = "ZJ-PH-BIKE-V01";
const PILOT: &str = "ZJ-PILOT-AJ";
const ENT: &str = "ZJ-ENT-01";
/// 2026-02-28 and 2026-03-01 (the test registry's first CST day).
const D1: u32 = 20260228;
const D2: u32 = 20260301;

fn person(i: usize) -> String {
    format!("LS-P-{i:06}")
}

fn allow(p: &str, allowed: bool) -> Op {
    Op::AllowPersonalAccounts(AllowPersonalAccounts {
        platform_id: p.into(),
        allowed,
    })
}

fn open_people(p: &str, ids: &[String]) -> Op {
    Op::OpenPersonalAccounts(OpenPersonalAccounts {
        platform_id: p.into(),
        region: "丽水市".into(),
        accounts: ids
            .iter()
            .map(|id| PersonalAccount {
                account_id: id.clone(),
                name: String::new(),
            })
            .collect(),
    })
}

fn methodology(code: &str, platforms: &[&str], cap: u64) -> Op {
    Op::ApproveMethodology(ApproveMethodology {
        methodology: Some(InclusionMethodology {
            code: code.into(),
            behaviour: "公交出行".into(),
            platform_ids: platforms.iter().map(|p| p.to_string()).collect(),
            daily_cap_grams: cap,
            approved_sequence: 0,
        }),
    })
}

fn record(p: &str, m: &str, date: u32, rows: &[(&str, u64)]) -> Op {
    Op::RecordReductions(RecordReductions {
        platform_id: p.into(),
        methodology: m.into(),
        date,
        rows: rows
            .iter()
            .map(|(a, g)| ReductionRow {
                account_id: a.to_string(),
                grams: *g,
            })
            .collect(),
    })
}

fn convert(p: &str, m: &str, year: u32) -> Op {
    Op::ConvertReductions(ConvertReductions {
        platform_id: p.into(),
        methodology: m.into(),
        year,
    })
}

/// Two platforms (LS allowed), persons 1..=3 of LS, BUS (cap 2 kg, LS only) and BIKE (cap
/// 1 t, both platforms).
fn registry_with(genesis: Genesis) -> Reg {
    let mut r = Reg::with_genesis(genesis);
    r.open(PLAT, Role::Platform);
    r.open(PLAT2, Role::Platform);
    r.ok(&[REG], allow(PLAT, true));
    let ids: Vec<String> = (1..=3).map(person).collect();
    r.ok(&[PLAT], open_people(PLAT, &ids));
    for id in &ids {
        r.signers.insert(id.clone(), vec![PLAT.into()]);
    }
    r.ok(&[REG], methodology(BUS, &[PLAT], 2_000));
    r.ok(&[REG], methodology(BIKE, &[PLAT, PLAT2], 1_000_000));
    r
}

fn registry() -> Reg {
    registry_with(genesis())
}

fn points(r: &Reg, id: &str, m: &str, year: u32) -> u64 {
    inclusion::points(&r.state, id, year)
        .expect("read")
        .into_iter()
        .find(|p| p.methodology == m)
        .map_or(0, |p| p.grams)
}

fn total(r: &Reg, p: &str, m: &str, year: u32) -> (u64, u64) {
    inclusion::totals(&r.state, p, year)
        .expect("read")
        .into_iter()
        .find(|t| t.methodology == m)
        .map_or((0, 0), |t| (t.recorded_grams, t.converted_grams))
}

#[test]
fn entries_of_version_3_refuse_rule_16() {
    let mut r = registry();
    r.version = 3;
    r.rejects(&[REG], allow(PLAT2, true), E::VersionNotActive);
    r.rejects(
        &[PLAT],
        open_people(PLAT, &[person(9)]),
        E::VersionNotActive,
    );
    r.rejects(&[REG], methodology("X-1", &[PLAT], 10), E::VersionNotActive);
    let p1 = person(1);
    r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p1, 10)]),
        E::VersionNotActive,
    );
    r.rejects(&[REG], convert(PLAT, BUS, 2026), E::VersionNotActive);
    // The platform role did not exist before version 4: it reads as unspecified, as it did.
    let m = r.rejects(
        &[REG],
        Op::OpenAccount(carbon_proto::v1::OpenAccount {
            account_id: "NEW-PLAT".into(),
            role: Role::Platform as i32,
            name: "新平台".into(),
            region: "丽水市".into(),
            public_keys: vec![pk("NEW-PLAT")],
            threshold: 1,
        }),
        E::InvalidArgument,
    );
    assert!(m.contains("an account is opened for"), "{m}");
}

#[test]
fn a_platform_opens_custodial_personal_accounts_in_bulk_until_the_owner_rotates_the_keys() {
    let mut r = registry();
    let a = r.account(&person(1));
    assert_eq!(a.role(), Role::Individual);
    assert_eq!(a.platform_id, PLAT);
    assert!(a.custodial);
    assert_eq!(a.region, "丽水市");
    assert_eq!(a.public_keys, r.account(PLAT).public_keys);
    let rec = inclusion::platforms(&r.state).expect("read");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].accounts_opened, 3);
    // The platform's keys sign for the person until the owner replaces them.
    let p1 = person(1);
    r.ok(
        &[&p1],
        Op::UpdateKeys(UpdateKeys {
            account_id: p1.clone(),
            public_keys: vec![pk("owner-1")],
            threshold: 1,
        }),
    );
    let a = r.account(&p1);
    assert!(!a.custodial);
    assert_eq!(a.public_keys, vec![pk("owner-1")]);
    // Now the platform can no longer sign for it.
    r.rejects(
        &[&p1],
        Op::UpdateKeys(UpdateKeys {
            account_id: p1.clone(),
            public_keys: vec![pk(PLAT)],
            threshold: 1,
        }),
        E::InsufficientSignatures,
    );
    r.signers.insert(p1.clone(), vec!["owner-1".into()]);
    // The platform still records its reductions: the account stays the platform's person.
    r.ok(&[PLAT], record(PLAT, BUS, D1, &[(&p1, 100)]));
    assert_eq!(points(&r, &p1, BUS, 2026), 100);
}

#[test]
fn bulk_opening_rejections_change_nothing() {
    let mut r = registry();
    let ok_ids = vec![person(10), person(11)];
    r.rejects(
        &[PLAT2],
        open_people(PLAT2, &ok_ids),
        E::PersonalAccountsNotAllowed,
    );
    r.rejects(
        &[REG],
        open_people(PLAT, &ok_ids),
        E::InsufficientSignatures,
    );
    r.open(ENT, Role::Enterprise);
    r.rejects(&[ENT], open_people(ENT, &ok_ids), E::RoleNotPermitted);
    r.rejects(&[PLAT], open_people(PLAT, &[]), E::InvalidArgument);
    let many: Vec<String> = (0..=limits::PERSONAL_ACCOUNTS_PER_TX_MAX)
        .map(person)
        .collect();
    r.rejects(&[PLAT], open_people(PLAT, &many), E::TooManyRows);
    let m = r.rejects(
        &[PLAT],
        open_people(PLAT, &[person(10), "bad id".into()]),
        E::InvalidArgument,
    );
    assert!(m.starts_with("row 2:"), "{m}");
    let m = r.rejects(
        &[PLAT],
        open_people(PLAT, &[person(10), person(11), person(2)]),
        E::AccountExists,
    );
    assert!(m.starts_with("row 3:"), "{m}");
    let m = r.rejects(
        &[PLAT],
        open_people(PLAT, &[person(10), person(10)]),
        E::AccountExists,
    );
    assert!(m.starts_with("row 2:"), "{m}");
    let mut op = open_people(PLAT, &ok_ids);
    if let Op::OpenPersonalAccounts(o) = &mut op {
        o.accounts[1].name = "名".repeat(30);
    }
    let m = r.rejects(&[PLAT], op, E::InvalidArgument);
    assert!(m.starts_with("row 2:"), "{m}");
    r.rejects(&[PLAT2], allow(PLAT2, true), E::RoleNotPermitted);
    r.rejects(&[REG], allow(ENT, true), E::RoleNotPermitted);
    // The regulator withdraws the permission: no more bulk openings.
    r.ok(&[REG], allow(PLAT, false));
    r.rejects(
        &[PLAT],
        open_people(PLAT, &ok_ids),
        E::PersonalAccountsNotAllowed,
    );
}

#[test]
fn methodology_approval_rejections_change_nothing() {
    let mut r = registry();
    r.open(ENT, Role::Enterprise);
    r.rejects(
        &[PLAT],
        methodology("M-1", &[PLAT], 10),
        E::RoleNotPermitted,
    );
    r.rejects(
        &[REG],
        methodology("bad code", &[PLAT], 10),
        E::InvalidArgument,
    );
    r.rejects(&[REG], methodology("M-1", &[], 10), E::InvalidArgument);
    r.rejects(&[REG], methodology("M-1", &["NOPE"], 10), E::UnknownAccount);
    r.rejects(&[REG], methodology("M-1", &[ENT], 10), E::RoleNotPermitted);
    r.rejects(
        &[REG],
        methodology("M-1", &[PLAT, PLAT], 10),
        E::InvalidArgument,
    );
    r.rejects(&[REG], methodology("M-1", &[PLAT], 0), E::ZeroAmount);
    r.rejects(
        &[REG],
        methodology("M-1", &[PLAT], limits::DAILY_CAP_GRAMS_MAX + 1),
        E::InvalidArgument,
    );
    r.rejects(
        &[REG],
        Op::ApproveMethodology(ApproveMethodology { methodology: None }),
        E::InvalidArgument,
    );
    // Approving again amends: HZ may now use BUS.
    r.ok(&[REG], methodology(BUS, &[PLAT, PLAT2], 2_000));
    let ms = inclusion::methodologies(&r.state).expect("read");
    let bus = ms.iter().find(|m| m.code == BUS).expect("BUS");
    assert_eq!(bus.platform_ids, vec![PLAT.to_string(), PLAT2.to_string()]);
}

#[test]
fn reductions_are_capped_per_person_day_and_methodology_and_a_refused_row_is_named() {
    let mut r = registry();
    let (p1, p2, p3) = (person(1), person(2), person(3));
    let fx = r.ok(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p1, 1_500), (&p2, 2_000), (&p1, 400)]),
    );
    assert_eq!(fx.grams_recorded, 3_900);
    assert_eq!(points(&r, &p1, BUS, 2026), 1_900);
    // What was recorded that day counts: p1 has 100 g left on D1 under BUS.
    let m = r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p3, 10), (&p1, 101)]),
        E::DailyCapExceeded,
    );
    assert!(m.starts_with("row 2:"), "{m}");
    // The transaction's own rows count too.
    let m = r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p3, 1_000), (&p3, 1_001)]),
        E::DailyCapExceeded,
    );
    assert!(m.starts_with("row 2:"), "{m}");
    r.ok(&[PLAT], record(PLAT, BUS, D1, &[(&p1, 100)]));
    // Another day, another methodology: their own caps.
    r.ok(&[PLAT], record(PLAT, BUS, D2, &[(&p1, 2_000)]));
    r.ok(&[PLAT], record(PLAT, BIKE, D1, &[(&p1, 5_000)]));
    assert_eq!(points(&r, &p1, BUS, 2026), 4_000);
    assert_eq!(points(&r, &p1, BIKE, 2026), 5_000);
    assert_eq!(total(&r, PLAT, BUS, 2026), (6_000, 0));
    // The statement: one line per recording, in date order.
    let lines = inclusion::statement_page(&r.state, &p1, 0, 0, &[], 100).expect("read");
    let got: Vec<(u32, String, u64)> = lines
        .iter()
        .map(|(_, l)| (l.date, l.methodology.clone(), l.grams))
        .collect();
    assert_eq!(
        got,
        vec![
            (D1, BIKE.to_string(), 5_000),
            (D1, BUS.to_string(), 1_900),
            (D1, BUS.to_string(), 100),
            (D2, BUS.to_string(), 2_000),
        ]
    );
    // Paged: two at a time, resuming after the last key.
    let first = inclusion::statement_page(&r.state, &p1, 0, 0, &[], 2).expect("read");
    let rest = inclusion::statement_page(&r.state, &p1, 0, 0, &first[1].0, 10).expect("read");
    assert_eq!(first.len() + rest.len(), 4);
    assert_eq!(rest[1].1.date, D2);
    let d2_only = inclusion::statement_page(&r.state, &p1, D2, D2, &[], 10).expect("read");
    assert_eq!(d2_only.len(), 1);
}

#[test]
fn recording_rejections_change_nothing() {
    let mut r = registry();
    let (p1, p2) = (person(1), person(2));
    r.rejects(
        &[PLAT],
        record(PLAT, "NOPE", D1, &[(&p1, 1)]),
        E::UnknownMethodology,
    );
    r.rejects(
        &[PLAT2],
        record(PLAT2, BUS, D1, &[(&p1, 1)]),
        E::MethodologyNotPermitted,
    );
    r.rejects(
        &[REG],
        record(PLAT, BUS, D1, &[(&p1, 1)]),
        E::InsufficientSignatures,
    );
    r.rejects(
        &[PLAT],
        record(PLAT, BUS, 20260230, &[(&p1, 1)]),
        E::InvalidArgument,
    );
    r.rejects(
        &[PLAT],
        record(PLAT, BUS, 20260302, &[(&p1, 1)]),
        E::DateInFuture,
    );
    r.rejects(&[PLAT], record(PLAT, BUS, D1, &[]), E::InvalidArgument);
    let many: Vec<(&str, u64)> = vec![(p1.as_str(), 1); limits::REDUCTION_ROWS_PER_TX_MAX + 1];
    r.rejects(&[PLAT], record(PLAT, BUS, D1, &many), E::TooManyRows);
    let m = r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p1, 1), (&p2, 0)]),
        E::ZeroAmount,
    );
    assert!(m.starts_with("row 2:"), "{m}");
    let m = r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p1, 1), (&p2, 1), ("LS-P-NOBODY", 1)]),
        E::UnknownAccount,
    );
    assert!(m.starts_with("row 3:"), "{m}");
    // HZ's person is not LS's to record; nor is an individual the regulator opened.
    r.ok(&[REG], allow(PLAT2, true));
    r.ok(&[PLAT2], open_people(PLAT2, &["HZ-P-1".into()]));
    r.open("ZJ-IND-1", Role::Individual);
    for other in ["HZ-P-1", "ZJ-IND-1"] {
        let m = r.rejects(
            &[PLAT],
            record(PLAT, BIKE, D1, &[(&p1, 1), (other, 1)]),
            E::NotPersonalAccountOfPlatform,
        );
        assert!(m.starts_with("row 2:"), "{m}");
    }
    r.ok(
        &[REG],
        Op::SuspendAccount(SuspendAccount {
            account_id: p2.clone(),
            reason: "核查".into(),
        }),
    );
    let m = r.rejects(
        &[PLAT],
        record(PLAT, BUS, D1, &[(&p1, 1), (&p2, 1)]),
        E::AccountNotOpen,
    );
    assert!(m.starts_with("row 2:"), "{m}");
}

#[test]
fn whole_tonnes_convert_into_phcer_once_and_the_rest_waits() {
    let mut r = registry();
    let ids: Vec<String> = (1..=3).map(person).collect();
    // 3 persons x 900 kg on two days under BIKE: 5.4 t recorded.
    for d in [D1, D2] {
        let rows: Vec<(&str, u64)> = ids.iter().map(|p| (p.as_str(), 900_000)).collect();
        r.ok(&[PLAT], record(PLAT, BIKE, d, &rows));
    }
    r.rejects(&[PLAT], convert(PLAT, BIKE, 2026), E::RoleNotPermitted);
    r.rejects(&[REG], convert(PLAT, "NOPE", 2026), E::UnknownMethodology);
    r.rejects(&[REG], convert(PLAT, BIKE, 2025), E::NothingToConvert);
    r.rejects(&[REG], convert(PLAT, BUS, 2026), E::NothingToConvert);
    r.rejects(&[REG], convert(PERSON_ONE, BIKE, 2026), E::RoleNotPermitted);
    r.rejects(&[REG], convert("NOPE", BIKE, 2026), E::UnknownAccount);
    let fx = r.ok(&[REG], convert(PLAT, BIKE, 2026));
    assert_eq!(fx.grams_converted, 5_000_000);
    let class = inclusion::phcer_class(BIKE, 2026);
    assert_eq!(fx.created.len(), 1);
    assert_eq!((fx.created[0].first, fx.created[0].last), (1, 5));
    assert_eq!(r.available(PLAT, &class), 5);
    assert_eq!(total(&r, PLAT, BIKE, 2026), (5_400_000, 5_000_000));
    // 0.4 t left: nothing more to convert until more is recorded.
    r.rejects(&[REG], convert(PLAT, BIKE, 2026), E::NothingToConvert);
    let p1 = person(1);
    r.ok(
        &[PLAT],
        record(
            PLAT,
            BIKE,
            D1,
            &[(&p1, 100_000), (&ids[1], 100_000), (&ids[2], 100_000)],
        ),
    );
    r.ok(
        &[PLAT],
        record(
            PLAT,
            BIKE,
            D2,
            &[(&p1, 100_000), (&ids[1], 100_000), (&ids[2], 100_000)],
        ),
    );
    let fx = r.ok(&[REG], convert(PLAT, BIKE, 2026));
    assert_eq!(fx.grams_converted, 1_000_000);
    assert_eq!((fx.created[0].first, fx.created[0].last), (6, 6));
    // Persons keep their points: conversion is the platform's.
    assert_eq!(points(&r, &p1, BIKE, 2026), 2_000_000);
    // PHCER are credits: the platform sells them to a pilot, which cancels them.
    r.open(PILOT, Role::Organisation);
    r.ok(
        &[PLAT],
        Op::Transfer(Transfer {
            from_account: PLAT.into(),
            to_account: PILOT.into(),
            unit_class: Some(class.clone()),
            quantity: 4,
        }),
    );
    r.ok(
        &[PILOT],
        Op::Cancel(Cancel {
            holder: PILOT.into(),
            unit_class: Some(class.clone()),
            quantity: 4,
            beneficiary: "安吉零碳试点".into(),
            purpose: "零碳乡村".into(),
            mitigation_purpose: 0,
        }),
    );
    assert_eq!(r.available(PILOT, &class), 0);
    // A PHCER class names an approved methodology.
    r.rejects(
        &[PLAT],
        Op::Transfer(Transfer {
            from_account: PLAT.into(),
            to_account: PILOT.into(),
            unit_class: Some(inclusion::phcer_class("NOPE", 2026)),
            quantity: 1,
        }),
        E::InvalidUnitClass,
    );
    let totals = queries::chain(&r.state).expect("read").expect("chain");
    assert!(totals.sequence > 0);
}

const PERSON_ONE: &str = "LS-P-000001";

fn surrender_setup(genesis: Genesis) -> (Reg, carbon_proto::v1::UnitClass) {
    let mut r = registry_with(genesis);
    let ids: Vec<String> = (1..=3).map(person).collect();
    let rows: Vec<(&str, u64)> = ids.iter().map(|p| (p.as_str(), 1_000_000)).collect();
    r.ok(&[PLAT], record(PLAT, BIKE, D1, &rows));
    r.ok(&[REG], convert(PLAT, BIKE, 2026));
    r.open(ENT, Role::Enterprise);
    let class = inclusion::phcer_class(BIKE, 2026);
    r.ok(
        &[PLAT],
        Op::Transfer(Transfer {
            from_account: PLAT.into(),
            to_account: ENT.into(),
            unit_class: Some(class.clone()),
            quantity: 3,
        }),
    );
    r.ok(
        &[REG],
        Op::ReportEmissions(ReportEmissions {
            enterprise_id: ENT.into(),
            year: 2026,
            tonnes: 40,
        }),
    );
    (r, class)
}

fn surrender(c: &carbon_proto::v1::UnitClass, q: u64) -> Op {
    Op::Surrender(Surrender {
        enterprise_id: ENT.into(),
        year: 2026,
        unit_class: Some(c.clone()),
        quantity: q,
    })
}

#[test]
fn phcer_count_in_surrender_only_where_the_genesis_lists_them() {
    let (mut r, class) = surrender_setup(genesis());
    r.rejects(&[ENT], surrender(&class, 1), E::OffsetKindNotEligible);
    let listed = Genesis {
        eligible_offset_kinds: vec![UnitKind::Ccer as i32, UnitKind::Phcer as i32],
        ..genesis()
    };
    let (mut r, class) = surrender_setup(listed);
    // 5 % of 40 t: 2 credits at most.
    r.ok(&[ENT], surrender(&class, 2));
    r.rejects(&[ENT], surrender(&class, 1), E::CreditCapExceeded);
}

#[test]
fn a_genesis_listing_a_non_credit_kind_is_refused() {
    let g = Genesis {
        eligible_offset_kinds: vec![UnitKind::Cea as i32],
        ..genesis()
    };
    assert!(carbon_ledger::genesis_writes(&g).is_err());
    let g = Genesis {
        eligible_offset_kinds: vec![99],
        ..genesis()
    };
    assert!(carbon_ledger::genesis_writes(&g).is_err());
}

/// 10,000 accounts in one transaction, then 10,000 rows in one: both apply, and the time is
/// printed (`--nocapture`); the bound is loose for debug builds on a shared machine.
#[test]
fn ten_thousand_rows_apply_in_one_transaction_each() {
    let mut r = registry();
    let n = limits::PERSONAL_ACCOUNTS_PER_TX_MAX;
    let ids: Vec<String> = (100..100 + n).map(person).collect();
    let t = std::time::Instant::now();
    let fx = r.ok(&[PLAT], open_people(PLAT, &ids));
    let open_ms = t.elapsed().as_millis();
    assert_eq!(fx.accounts_opened as usize, n);
    let rows: Vec<(&str, u64)> = ids.iter().map(|p| (p.as_str(), 1_234)).collect();
    let t = std::time::Instant::now();
    let fx = r.ok(&[PLAT], record(PLAT, BUS, D1, &rows));
    let record_ms = t.elapsed().as_millis();
    assert_eq!(fx.grams_recorded, 1_234 * n as u64);
    let line_bytes: usize = r
        .state
        .map
        .iter()
        .filter(|(k, _)| k.first() == Some(&b'g'))
        .map(|(k, v)| k.len() + v.len())
        .sum();
    println!(
        "10,000 accounts: {open_ms} ms; 10,000 rows: {record_ms} ms (apply + invariants); \
         {} bytes of points line per row",
        line_bytes / n
    );
    assert!(line_bytes / n < 64, "a points line stays small");
}
