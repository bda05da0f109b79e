//! Property test: random sequences of valid and invalid operations over several accounts, grouped
//! into log entries, with resubmissions of earlier transactions mixed in.
//!
//! After every entry (see `Reg::apply`) the six invariants of the registry's rules are checked by
//! `audit::check_invariants`; this file adds the ones that need a before/after view:
//! encumbered units (pledged, frozen, in repo) move only by their own release, enforcement,
//! repurchase or default (3), a resubmitted tx changes
//! nothing and returns its first outcome (6), and applying the same entries twice from genesis
//! gives the same chain head (5). At the end the whole history verifies offline and replays.
//!
//! A second property runs on a registry whose genesis enables rule 15's safeguards, with trusted
//! list changes, daily limits, cancellations, pledge top-ups and repo substitutions (rule 18)
//! mixed in and the clock moving past due times, so that pending transfers execute (the
//! ledger's own records) or return: pending units are conserved (`audit` after every entry) and
//! move only by their cancellation or execution.
//!
//! A third property mixes in rule 16 (carbon inclusion): recordings by two platforms for their
//! persons and others', over two years, conversions, PHCER transfers, surrenders and
//! cancellations: the audit checks after every entry that no gram is converted twice and that
//! PHCER exist for exactly the converted tonnes.
//!
//! Cases: 2,000 by default; set `PROPTEST_CASES` for more.

mod common;

use carbon_ledger::{audit, keys, queries, MemState, StateView};
use carbon_proto::v1::{
    tx_body::Operation as Op, Allocate, AllowPersonalAccounts, ApproveMethodology, ApproveProject,
    AuthoriseUnits, BlockState, Cancel, CancelPendingTransfer, CloseComplianceYear,
    ConvertReductions, DeclareVintage, EnforcePledge, ExportUnits, Freeze, InclusionMethodology,
    IssueCredits, Lend, OpenPersonalAccounts, PendingTransfer, PendingTransferStatus,
    PersonalAccount, Pledge, ProposeProject, RecordReductions, ReductionRow, ReinstateAccount,
    ReleasePledge, Repo, RepoDefault, ReportEmissions, Repurchase, RetiredBlock, ReturnLoan, Role,
    SerialBlock, SetTransferLimit, SignedTx, SubstituteRepo, Surrender, SuspendAccount,
    TopUpPledge, Trade, Transfer, TrueUp, TrustAccount, Unfreeze, UnitClass, UnitKind,
    UntrustAccount,
};
use common::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const ACCOUNTS: [&str; 9] = [
    "E1", "E2", "E3", "BANK", "IND", "OWNER", REG, BUFFER, "GHOST",
];
const ENTERPRISES: [&str; 4] = ["E1", "E2", "E3", "GHOST"];
const FOREST: &str = "FOR-1";
const WIND: &str = "WIND-1";

fn class(i: u8) -> UnitClass {
    match i % 7 {
        0 => cea(2024),
        1 => cea(2025),
        2 => cea(2026),
        3 => credit(UnitKind::Forestry, 2025, FOREST),
        4 => credit(UnitKind::Ccer, 2025, WIND),
        5 => credit(UnitKind::Ccer, 2026, WIND),
        _ => cea(2099),
    }
}

fn year(i: u8) -> u32 {
    2024 + u32::from(i % 3)
}

#[derive(Debug, Clone)]
enum Action {
    Transfer {
        from: u8,
        to: u8,
        class: u8,
        q: u64,
    },
    Trade {
        seller: u8,
        buyer: u8,
        class: u8,
        q: u64,
        price: u64,
    },
    Pledge {
        pledgor: u8,
        class: u8,
        q: u64,
    },
    Release {
        id: u64,
        q: u64,
    },
    Enforce {
        id: u64,
    },
    Freeze {
        account: u8,
        class: u8,
        q: u64,
    },
    Unfreeze {
        id: u64,
        q: u64,
    },
    Allocate {
        ent: u8,
        year: u8,
        q: u64,
    },
    TrueUp {
        ent: u8,
        year: u8,
        q: u64,
    },
    Issue {
        wind: bool,
        year: u8,
        q: u64,
    },
    Report {
        ent: u8,
        year: u8,
        t: u64,
        by_regulator: bool,
    },
    Surrender {
        ent: u8,
        year: u8,
        class: u8,
        q: u64,
    },
    Cancel {
        holder: u8,
        class: u8,
        q: u64,
    },
    CloseYear {
        year: u8,
    },
    Suspend {
        account: u8,
    },
    Reinstate {
        account: u8,
    },
    Repo {
        seller: u8,
        to_bank: bool,
        buyer: u8,
        class: u8,
        q: u64,
        days: u8,
    },
    Repurchase {
        id: u64,
    },
    RepoDefault {
        id: u64,
    },
    Lend {
        lender: u8,
        borrower: u8,
        class: u8,
        q: u64,
        days: u8,
    },
    ReturnLoan {
        id: u64,
        q: u64,
    },
    /// The leader's clock moves to the next day before the entry (repurchase dates pass, loans
    /// fall overdue).
    NextDay,
    /// Rule 15 and 18 (the safeguards property only).
    Trust {
        account: u8,
        trusted: u8,
    },
    Untrust {
        account: u8,
        trusted: u8,
    },
    Limit {
        account: u8,
        kind: u8,
        limit: Option<u64>,
    },
    CancelPending {
        id: u64,
        by: u8,
    },
    TopUp {
        id: u64,
        q: u64,
    },
    Substitute {
        id: u64,
        old: u8,
        oq: u64,
        new: u8,
        nq: u64,
    },
    /// The clock moves 60 s before the entry (some pending transfers fall due, not all).
    Later,
    /// Rule 17: the regulator authorises an issuance (`seq` 0: the project's setup issuance;
    /// else that chain sequence, often no issuance at all).
    Authorise {
        wind: bool,
        seq: u64,
        oimp: bool,
        by_regulator: bool,
    },
    Export {
        holder: u8,
        class: u8,
        q: u64,
        with_regulator: bool,
    },
    /// A cancellation naming purpose 0 (none), 1 (NDC), 2 (OIMP) or 3 (invalid).
    CancelFor {
        holder: u8,
        class: u8,
        q: u64,
        purpose: u8,
    },
    /// Rule 16 (the inclusion property only): a platform records rows of (person, grams) for
    /// a methodology and a day; the regulator converts; PHCER move, are surrendered, cancelled.
    Record {
        platform: u8,
        method: u8,
        day: u8,
        rows: Vec<(u8, u64)>,
    },
    Convert {
        platform: u8,
        method: u8,
        year: u8,
    },
    PhcerTransfer {
        from: u8,
        to: u8,
        method: u8,
        q: u64,
    },
    PhcerSurrender {
        method: u8,
        q: u64,
    },
    PhcerCancel {
        holder: u8,
        method: u8,
        q: u64,
    },
    /// Resubmit an earlier transaction (index modulo how many there are).
    Resubmit {
        pick: usize,
    },
}

fn qty() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 1..300u64, 1 => Just(0u64), 3 => 300..3_000u64]
}

fn action() -> impl Strategy<Value = Action> {
    let a = 0..ACCOUNTS.len() as u8;
    let e = 0..ENTERPRISES.len() as u8;
    prop_oneof![
        6 => (a.clone(), a.clone(), 0..7u8, qty()).prop_map(|(from, to, class, q)| Action::Transfer { from, to, class, q }),
        4 => (a.clone(), a.clone(), 0..7u8, qty(), 0..20_000u64).prop_map(|(seller, buyer, class, q, price)| Action::Trade { seller, buyer, class, q, price }),
        3 => (e.clone(), 0..7u8, qty()).prop_map(|(pledgor, class, q)| Action::Pledge { pledgor, class, q }),
        2 => (1..8u64, qty()).prop_map(|(id, q)| Action::Release { id, q }),
        1 => (1..8u64).prop_map(|id| Action::Enforce { id }),
        2 => (a.clone(), 0..7u8, qty()).prop_map(|(account, class, q)| Action::Freeze { account, class, q }),
        1 => (1..8u64, qty()).prop_map(|(id, q)| Action::Unfreeze { id, q }),
        3 => (e.clone(), 0..3u8, qty()).prop_map(|(ent, year, q)| Action::Allocate { ent, year, q }),
        2 => (e.clone(), 0..3u8, qty()).prop_map(|(ent, year, q)| Action::TrueUp { ent, year, q }),
        2 => (any::<bool>(), 0..3u8, qty()).prop_map(|(wind, year, q)| Action::Issue { wind, year, q }),
        3 => (e.clone(), 0..3u8, qty(), any::<bool>()).prop_map(|(ent, year, t, by_regulator)| Action::Report { ent, year, t, by_regulator }),
        4 => (e.clone(), 0..3u8, 0..7u8, qty()).prop_map(|(ent, year, class, q)| Action::Surrender { ent, year, class, q }),
        2 => (a.clone(), 0..7u8, qty()).prop_map(|(holder, class, q)| Action::Cancel { holder, class, q }),
        1 => (0..3u8).prop_map(|year| Action::CloseYear { year }),
        1 => a.clone().prop_map(|account| Action::Suspend { account }),
        1 => a.clone().prop_map(|account| Action::Reinstate { account }),
        2 => any::<usize>().prop_map(|pick| Action::Resubmit { pick }),
        3 => (e.clone(), any::<bool>(), e.clone(), 0..7u8, qty(), 0..3u8).prop_map(|(seller, to_bank, buyer, class, q, days)| Action::Repo { seller, to_bank, buyer, class, q, days }),
        2 => (1..10u64).prop_map(|id| Action::Repurchase { id }),
        1 => (1..10u64).prop_map(|id| Action::RepoDefault { id }),
        3 => (a.clone(), a.clone(), 0..7u8, qty(), 0..3u8).prop_map(|(lender, borrower, class, q, days)| Action::Lend { lender, borrower, class, q, days }),
        2 => (1..6u64, qty()).prop_map(|(id, q)| Action::ReturnLoan { id, q }),
        1 => Just(Action::NextDay),
        8 => art6_action(),
    ]
}

/// Rule 17's actions (both properties).
fn art6_action() -> impl Strategy<Value = Action> {
    // Mostly the holders of credits (OWNER, the buffer, the first enterprises) and the credit
    // classes, so that authorised units are often there to export or cancel.
    let a = || prop_oneof![3 => Just(5u8), 1 => Just(7u8), 2 => 0..ACCOUNTS.len() as u8];
    let c = || prop_oneof![3 => 3..5u8, 1 => 0..7u8];
    let seq = prop_oneof![3 => Just(0u64), 1 => 1..120u64];
    prop_oneof![
        3 => (any::<bool>(), seq, any::<bool>(), prop::bool::weighted(0.9)).prop_map(|(wind, seq, oimp, by_regulator)| Action::Authorise { wind, seq, oimp, by_regulator }),
        3 => (a(), c(), qty(), prop::bool::weighted(0.85)).prop_map(|(holder, class, q, with_regulator)| Action::Export { holder, class, q, with_regulator }),
        2 => (a(), c(), qty(), 0..4u8).prop_map(|(holder, class, q, purpose)| Action::CancelFor { holder, class, q, purpose }),
    ]
}

/// The actions of the safeguards property: every action of the first, and rules 15 and 18.
fn safe_action() -> impl Strategy<Value = Action> {
    let a = 0..ACCOUNTS.len() as u8;
    prop_oneof![
        12 => action(),
        2 => (a.clone(), a.clone()).prop_map(|(account, trusted)| Action::Trust { account, trusted }),
        1 => (a.clone(), a.clone()).prop_map(|(account, trusted)| Action::Untrust { account, trusted }),
        1 => (a.clone(), 0..5u8, prop::option::of(0..1_500u64)).prop_map(|(account, kind, limit)| Action::Limit { account, kind, limit }),
        3 => (1..16u64, 0..3u8).prop_map(|(id, by)| Action::CancelPending { id, by }),
        2 => (1..10u64, qty()).prop_map(|(id, q)| Action::TopUp { id, q }),
        2 => (1..10u64, 0..7u8, qty(), 0..7u8, qty()).prop_map(|(id, old, oq, new, nq)| Action::Substitute { id, old, oq, new, nq }),
        2 => Just(Action::Later),
    ]
}

const PLATFORMS: [&str; 2] = ["PLAT", "PLAT2"];
/// Persons P1..P4 are PLAT's, Q1..Q2 PLAT2's; "E1" is no person (refused rows).
const PERSONS: [&str; 7] = ["P1", "P2", "P3", "P4", "Q1", "Q2", "E1"];
/// M-BUS: PLAT only, 600 kg a day; M-BIKE: both platforms, 400 kg a day.
const METHODS: [&str; 3] = ["M-BUS", "M-BIKE", "M-NONE"];
/// Who may hold PHCER in the inclusion property.
const PHCER_HOLDERS: [&str; 4] = ["PLAT", "PLAT2", "E1", "IND"];

/// The actions of the inclusion property: every action of the first, and rule 16's.
fn inclusion_action() -> impl Strategy<Value = Action> {
    let grams = prop_oneof![8 => 1..400_000u64, 1 => Just(0u64), 2 => 400_000..700_000u64];
    let rows = prop::collection::vec((0..PERSONS.len() as u8, grams), 0..6);
    let q = prop_oneof![4 => 1..4u64, 1 => 4..20u64];
    let h = 0..PHCER_HOLDERS.len() as u8;
    prop_oneof![
        8 => action(),
        8 => (0..2u8, 0..3u8, 0..8u8, rows).prop_map(|(platform, method, day, rows)| Action::Record { platform, method, day, rows }),
        3 => (0..2u8, 0..3u8, 0..3u8).prop_map(|(platform, method, year)| Action::Convert { platform, method, year }),
        2 => (h.clone(), h.clone(), 0..2u8, q.clone()).prop_map(|(from, to, method, q)| Action::PhcerTransfer { from, to, method, q }),
        1 => (0..2u8, q.clone()).prop_map(|(method, q)| Action::PhcerSurrender { method, q }),
        1 => (h, 0..2u8, q).prop_map(|(holder, method, q)| Action::PhcerCancel { holder, method, q }),
    ]
}

/// The CST date of a recording: 2025-12-30 .. 2026-03-01 (the registry's first day), so that
/// two years are recorded.
fn record_date(day: u8) -> u32 {
    [
        20251230, 20251231, 20260101, 20260226, 20260227, 20260228, 20260301, 20260301,
    ][usize::from(day) % 8]
}

fn phcer(method: u8, vintage: u32) -> UnitClass {
    credit(UnitKind::Phcer, vintage, METHODS[usize::from(method) % 2])
}

/// (signers, operation) of rule 16's actions.
fn inclusion_operation(a: &Action) -> Option<(Vec<&'static str>, Op)> {
    let holder = |i: &u8| PHCER_HOLDERS[usize::from(*i) % PHCER_HOLDERS.len()];
    Some(match a {
        Action::Record {
            platform,
            method,
            day,
            rows,
        } => {
            let p = PLATFORMS[usize::from(*platform) % 2];
            (
                vec![p],
                Op::RecordReductions(RecordReductions {
                    platform_id: p.into(),
                    methodology: METHODS[usize::from(*method) % 3].into(),
                    date: record_date(*day),
                    rows: rows
                        .iter()
                        .map(|(i, g)| ReductionRow {
                            account_id: PERSONS[usize::from(*i) % PERSONS.len()].into(),
                            grams: *g,
                        })
                        .collect(),
                }),
            )
        }
        Action::Convert {
            platform,
            method,
            year,
        } => (
            vec![REG],
            Op::ConvertReductions(ConvertReductions {
                platform_id: PLATFORMS[usize::from(*platform) % 2].into(),
                methodology: METHODS[usize::from(*method) % 3].into(),
                year: 2025 + u32::from(*year % 3),
            }),
        ),
        Action::PhcerTransfer {
            from,
            to,
            method,
            q,
        } => (
            vec![holder(from)],
            Op::Transfer(Transfer {
                from_account: holder(from).into(),
                to_account: holder(to).into(),
                unit_class: Some(phcer(*method, 2026)),
                quantity: *q,
            }),
        ),
        Action::PhcerSurrender { method, q } => (
            vec!["E1"],
            Op::Surrender(Surrender {
                enterprise_id: "E1".into(),
                year: 2025,
                unit_class: Some(phcer(*method, 2025)),
                quantity: *q,
            }),
        ),
        Action::PhcerCancel {
            holder: h,
            method,
            q,
        } => (
            vec![holder(h)],
            Op::Cancel(Cancel {
                holder: holder(h).into(),
                unit_class: Some(phcer(*method, 2026)),
                quantity: *q,
                beneficiary: "安吉零碳试点".into(),
                purpose: "零碳乡村".into(),
                mitigation_purpose: 0,
            }),
        ),
        _ => return None,
    })
}

/// (signers, operation) of an action; `targets` collects encumbrance ids it may move.
fn operation(a: &Action, targets: &mut BTreeSet<u64>) -> Option<(Vec<&'static str>, Op)> {
    if let Some(op) = inclusion_operation(a) {
        return Some(op);
    }
    let acc = |i: &u8| ACCOUNTS[usize::from(*i) % ACCOUNTS.len()];
    let ent = |i: &u8| ENTERPRISES[usize::from(*i) % ENTERPRISES.len()];
    Some(match a {
        Action::Transfer {
            from,
            to,
            class: c,
            q,
        } => (
            vec![acc(from)],
            Op::Transfer(Transfer {
                from_account: acc(from).into(),
                to_account: acc(to).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
            }),
        ),
        Action::Trade {
            seller,
            buyer,
            class: c,
            q,
            price,
        } => (
            if seller == buyer {
                vec![acc(seller)]
            } else {
                vec![acc(seller), acc(buyer)]
            },
            Op::Trade(Trade {
                seller: acc(seller).into(),
                buyer: acc(buyer).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                price_fen: *price,
                exchange_ref: String::new(),
            }),
        ),
        Action::Pledge {
            pledgor,
            class: c,
            q,
        } => (
            vec![ent(pledgor), "BANK"],
            Op::Pledge(Pledge {
                pledgor: ent(pledgor).into(),
                pledgee: "BANK".into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                secured_amount_fen: 1_000_000,
                maturity_date: 20271231,
                contract_ref: String::new(),
            }),
        ),
        Action::Release { id, q } => {
            targets.insert(*id);
            (
                vec!["BANK"],
                Op::ReleasePledge(ReleasePledge {
                    pledge_id: *id,
                    quantity: *q,
                }),
            )
        }
        Action::Enforce { id } => {
            targets.insert(*id);
            (
                vec!["BANK"],
                Op::EnforcePledge(EnforcePledge { pledge_id: *id }),
            )
        }
        Action::Freeze {
            account,
            class: c,
            q,
        } => (
            vec![REG],
            Op::Freeze(Freeze {
                account_id: acc(account).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                court_order_ref: "(2026)浙01执1号".into(),
            }),
        ),
        Action::Unfreeze { id, q } => {
            targets.insert(*id);
            (
                vec![REG],
                Op::Unfreeze(Unfreeze {
                    freeze_id: *id,
                    quantity: *q,
                    court_order_ref: "(2026)浙01执1号之一".into(),
                }),
            )
        }
        Action::Allocate { ent: e, year: y, q } => (
            vec![REG],
            Op::Allocate(Allocate {
                enterprise_id: ent(e).into(),
                vintage: year(*y),
                quantity: *q,
            }),
        ),
        Action::TrueUp { ent: e, year: y, q } => (
            vec![REG],
            Op::TrueUp(TrueUp {
                enterprise_id: ent(e).into(),
                vintage: year(*y),
                final_quantity: *q,
            }),
        ),
        Action::Issue { wind, year: y, q } => (
            vec![REG],
            Op::IssueCredits(IssueCredits {
                project_id: if *wind { WIND } else { FOREST }.into(),
                monitoring_year: year(*y),
                quantity: *q,
            }),
        ),
        Action::Report {
            ent: e,
            year: y,
            t,
            by_regulator,
        } => (
            vec![if *by_regulator { REG } else { "VER" }],
            Op::ReportEmissions(ReportEmissions {
                enterprise_id: ent(e).into(),
                year: year(*y),
                tonnes: *t,
            }),
        ),
        Action::Surrender {
            ent: e,
            year: y,
            class: c,
            q,
        } => (
            vec![ent(e)],
            Op::Surrender(Surrender {
                enterprise_id: ent(e).into(),
                year: year(*y),
                unit_class: Some(class(*c)),
                quantity: *q,
            }),
        ),
        Action::Cancel {
            holder,
            class: c,
            q,
        } => (
            vec![acc(holder)],
            Op::Cancel(Cancel {
                holder: acc(holder).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                beneficiary: "亚运会".into(),
                purpose: "碳中和".into(),
                ..Default::default()
            }),
        ),
        Action::CloseYear { year: y } => (
            vec![REG],
            Op::CloseComplianceYear(CloseComplianceYear {
                year: year(*y),
                deadline_date: 20260201,
                penalty_multiplier: 5,
                fallback_price_fen: 8_000,
            }),
        ),
        Action::Suspend { account } => (
            vec![REG],
            Op::SuspendAccount(SuspendAccount {
                account_id: acc(account).into(),
                reason: "调查".into(),
            }),
        ),
        Action::Reinstate { account } => (
            vec![REG],
            Op::ReinstateAccount(ReinstateAccount {
                account_id: acc(account).into(),
                reason: "结案".into(),
            }),
        ),
        Action::Repo {
            seller,
            to_bank,
            buyer,
            class: c,
            q,
            days,
        } => {
            let buyer = if *to_bank { "BANK" } else { ent(buyer) };
            (
                if ent(seller) == buyer {
                    vec![buyer]
                } else {
                    vec![ent(seller), buyer]
                },
                Op::Repo(Repo {
                    seller: ent(seller).into(),
                    buyer: buyer.into(),
                    unit_class: Some(class(*c)),
                    quantity: *q,
                    sale_price_fen: 7_000,
                    repurchase_price_fen: 7_100,
                    repurchase_date: 20260301 + u32::from(*days),
                    contract_ref: String::new(),
                }),
            )
        }
        Action::Repurchase { id } => {
            targets.insert(*id);
            (
                vec!["BANK", "E1", "E2", "E3"],
                Op::Repurchase(Repurchase { repo_id: *id }),
            )
        }
        Action::RepoDefault { id } => {
            targets.insert(*id);
            (
                vec!["BANK", "E1", "E2", "E3"],
                Op::RepoDefault(RepoDefault { repo_id: *id }),
            )
        }
        Action::Lend {
            lender,
            borrower,
            class: c,
            q,
            days,
        } => (
            if lender == borrower {
                vec![acc(lender)]
            } else {
                vec![acc(lender), acc(borrower)]
            },
            Op::Lend(Lend {
                lender: acc(lender).into(),
                borrower: acc(borrower).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                fee_fen: 10_000,
                return_date: 20260301 + u32::from(*days),
                contract_ref: String::new(),
            }),
        ),
        Action::ReturnLoan { id, q } => (
            vec!["E1", "E2", "E3", "BANK", "IND", "OWNER"],
            Op::ReturnLoan(ReturnLoan {
                loan_id: *id,
                quantity: *q,
            }),
        ),
        Action::Trust { account, trusted } => (
            vec![acc(account)],
            Op::TrustAccount(TrustAccount {
                account_id: acc(account).into(),
                trusted_account_id: acc(trusted).into(),
            }),
        ),
        Action::Untrust { account, trusted } => (
            vec![acc(account)],
            Op::UntrustAccount(UntrustAccount {
                account_id: acc(account).into(),
                trusted_account_id: acc(trusted).into(),
            }),
        ),
        Action::Limit {
            account,
            kind,
            limit,
        } => (
            vec![acc(account)],
            Op::SetTransferLimit(SetTransferLimit {
                account_id: acc(account).into(),
                kind: i32::from(*kind),
                daily_limit: limit.unwrap_or(0),
                unlimited: limit.is_none(),
            }),
        ),
        Action::CancelPending { id, by } => {
            targets.insert(*id);
            (
                vec![["E1", "E2", "BANK"][usize::from(*by) % 3]],
                Op::CancelPendingTransfer(CancelPendingTransfer {
                    pending_transfer_id: *id,
                }),
            )
        }
        Action::TopUp { id, q } => {
            targets.insert(*id);
            (
                vec!["BANK", "E1", "E2", "E3"],
                Op::TopUpPledge(TopUpPledge {
                    pledge_id: *id,
                    quantity: *q,
                }),
            )
        }
        Action::Substitute {
            id,
            old,
            oq,
            new,
            nq,
        } => {
            targets.insert(*id);
            (
                vec!["BANK", "E1", "E2", "E3"],
                Op::SubstituteRepo(SubstituteRepo {
                    repo_id: *id,
                    replaced_class: Some(class(*old)),
                    replaced_quantity: *oq,
                    new_class: Some(class(*new)),
                    new_quantity: *nq,
                }),
            )
        }
        Action::Authorise {
            wind,
            seq,
            oimp,
            by_regulator,
        } => (
            vec![if *by_regulator { REG } else { "OWNER" }],
            Op::AuthoriseUnits(AuthoriseUnits {
                project_id: if *wind { WIND } else { FOREST }.into(),
                issuance_sequence: *seq,
                purpose: if *oimp { 2 } else { 1 },
                authorisation_reference: "LoA-1".into(),
            }),
        ),
        Action::Export {
            holder,
            class: c,
            q,
            with_regulator,
        } => (
            if *with_regulator && acc(holder) != REG {
                vec![acc(holder), REG]
            } else {
                vec![acc(holder)]
            },
            Op::ExportUnits(ExportUnits {
                holder: acc(holder).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                destination_registry: "CH-REG".into(),
                destination_account: "CH-1".into(),
            }),
        ),
        Action::CancelFor {
            holder,
            class: c,
            q,
            purpose,
        } => (
            vec![acc(holder)],
            Op::Cancel(Cancel {
                holder: acc(holder).into(),
                unit_class: Some(class(*c)),
                quantity: *q,
                beneficiary: "航空公司".into(),
                purpose: "CORSIA".into(),
                mitigation_purpose: i32::from(*purpose),
            }),
        ),
        Action::Resubmit { .. }
        | Action::NextDay
        | Action::Later
        | Action::Record { .. }
        | Action::Convert { .. }
        | Action::PhcerTransfer { .. }
        | Action::PhcerSurrender { .. }
        | Action::PhcerCancel { .. } => return None,
    })
}

/// The registry every case starts from: accounts, three vintages, two approved projects.
fn setup() -> Reg {
    setup_on(Reg::new())
}

fn setup_on(mut r: Reg) -> Reg {
    for (id, role) in [
        ("E1", Role::Enterprise),
        ("E2", Role::Enterprise),
        ("E3", Role::Enterprise),
        ("BANK", Role::Bank),
        ("IND", Role::Individual),
        ("OWNER", Role::ProjectOwner),
        ("VER", Role::Verifier),
    ] {
        r.open(id, role);
    }
    for v in 2024..=2026 {
        r.ok(
            &[REG],
            Op::DeclareVintage(DeclareVintage {
                vintage: v,
                cap: 5_000,
            }),
        );
    }
    for (id, kind, bp) in [
        (FOREST, UnitKind::Forestry, 1_000),
        (WIND, UnitKind::Ccer, 0),
    ] {
        r.ok(
            &["OWNER"],
            Op::ProposeProject(ProposeProject {
                project_id: id.into(),
                owner_id: "OWNER".into(),
                kind: kind as i32,
                name: id.into(),
                methodology: "CCER-14-001-V01".into(),
                region: "丽水市".into(),
                crediting_start_year: 2021,
                crediting_end_year: 2030,
            }),
        );
        r.ok(
            &[REG],
            Op::ApproveProject(ApproveProject {
                project_id: id.into(),
                buffer_share_bp: bp,
            }),
        );
    }
    for e in ["E1", "E2"] {
        r.ok(
            &[REG],
            Op::Allocate(Allocate {
                enterprise_id: e.into(),
                vintage: 2025,
                quantity: 1_000,
            }),
        );
    }
    r.ok(
        &[REG],
        Op::Allocate(Allocate {
            enterprise_id: "E3".into(),
            vintage: 2024,
            quantity: 1_000,
        }),
    );
    for p in [FOREST, WIND] {
        r.ok(
            &[REG],
            Op::IssueCredits(IssueCredits {
                project_id: p.into(),
                monitoring_year: 2025,
                quantity: 2_000,
            }),
        );
    }
    r
}

/// The registry of the inclusion property: the usual setup on a genesis listing PHCER among
/// the eligible offsets, two platforms with their persons, two methodologies.
fn inclusion_setup() -> Reg {
    let g = carbon_proto::v1::Genesis {
        eligible_offset_kinds: vec![UnitKind::Ccer as i32, UnitKind::Phcer as i32],
        ..genesis()
    };
    let mut r = setup_on(Reg::with_genesis(g));
    for p in PLATFORMS {
        r.open(p, Role::Platform);
        r.ok(
            &[REG],
            Op::AllowPersonalAccounts(AllowPersonalAccounts {
                platform_id: p.into(),
                allowed: true,
            }),
        );
    }
    for (p, people) in [("PLAT", &PERSONS[..4]), ("PLAT2", &PERSONS[4..6])] {
        r.ok(
            &[p],
            Op::OpenPersonalAccounts(OpenPersonalAccounts {
                platform_id: p.into(),
                region: "丽水市".into(),
                accounts: people
                    .iter()
                    .map(|id| PersonalAccount {
                        account_id: id.to_string(),
                        name: String::new(),
                    })
                    .collect(),
            }),
        );
    }
    for (code, platforms, cap) in [
        ("M-BUS", vec!["PLAT"], 600_000),
        ("M-BIKE", vec!["PLAT", "PLAT2"], 400_000),
    ] {
        r.ok(
            &[REG],
            Op::ApproveMethodology(ApproveMethodology {
                methodology: Some(InclusionMethodology {
                    code: code.into(),
                    behaviour: "绿色出行".into(),
                    platform_ids: platforms.into_iter().map(String::from).collect(),
                    daily_cap_grams: cap,
                    approved_sequence: 0,
                }),
            }),
        );
    }
    r.ok(
        &[REG],
        Op::ReportEmissions(ReportEmissions {
            enterprise_id: "E1".into(),
            year: 2025,
            tonnes: 400,
        }),
    );
    r
}

/// One entry to apply: its transactions, the encumbrance ids it may move, and how many days
/// the clock moves first.
struct Entry {
    txs: Vec<SignedTx>,
    targets: BTreeSet<u64>,
    days: u64,
    /// Minutes the clock moves first (`Action::Later`).
    later: u64,
}

/// Signs every entry's transactions up front so that two runs apply identical bytes (valid for
/// a month of leader time, since some entries move the clock a day).
fn build(base: &mut Reg, entries: &[Vec<Action>]) -> Vec<Entry> {
    let mut signed: Vec<SignedTx> = Vec::new();
    let mut out = Vec::new();
    for entry in entries {
        let mut txs = Vec::new();
        let mut targets = BTreeSet::new();
        let days = entry
            .iter()
            .filter(|a| matches!(a, Action::NextDay))
            .count() as u64;
        let later = entry.iter().filter(|a| matches!(a, Action::Later)).count() as u64;
        for a in entry {
            let a = &setup_issuance(base, a);
            match operation(a, &mut targets) {
                Some((signers, op)) => {
                    let mut body = base.body(&signers, op);
                    body.valid_until_ms = base.now + 31 * 86_400_000;
                    let tx = base.sign(&body);
                    signed.push(tx.clone());
                    txs.push(tx);
                }
                None => {
                    if let (Action::Resubmit { pick }, false) = (a, signed.is_empty()) {
                        txs.push(signed[pick % signed.len()].clone());
                    }
                }
            }
        }
        out.push(Entry {
            txs,
            targets,
            days,
            later,
        });
    }
    out
}

/// An authorisation naming issuance 0 names the project's issuance made by the setup.
fn setup_issuance(base: &Reg, a: &Action) -> Action {
    let mut a = a.clone();
    if let Action::Authorise { wind, seq, .. } = &mut a {
        if *seq == 0 {
            let project = if *wind { WIND } else { FOREST };
            let (_, issuances) = queries::project(&base.state, project)
                .expect("read")
                .expect("the setup's projects exist");
            *seq = issuances.first().map_or(0, |i| i.sequence);
        }
    }
    a
}

/// Conservation per unit class counted from the reads, apart from `audit`: created = held
/// (available + pledged + frozen + repo + pending transfer, from each account's balances) +
/// retired (surrendered + cancelled + withdrawn + exported).
fn check_conservation(s: &MemState) {
    let mut held: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    // Every account of the state (personal accounts and platforms included), by its key `A id\0`.
    let ids: Vec<String> = s
        .scan_prefix(keys::ACCOUNTS)
        .expect("scan")
        .into_iter()
        .filter_map(|(k, _)| {
            let id = k.get(1..k.len().checked_sub(1)?)?;
            Some(String::from_utf8(id.to_vec()).expect("utf-8 id"))
        })
        .collect();
    for acc in &ids {
        let (balances, _) = queries::holdings(s, acc).expect("read");
        for b in balances {
            let n = b.available + b.pledged + b.frozen + b.repo + b.pending_transfer;
            *held
                .entry(keys::class(&b.unit_class.unwrap_or_default()))
                .or_default() += n;
        }
    }
    let mut retired: BTreeMap<(Vec<u8>, i32), u64> = BTreeMap::new();
    for (_, b) in s.scan_prefix(keys::RETIRED).expect("scan") {
        let b = <RetiredBlock as prost::Message>::decode(b.as_slice()).expect("retired");
        let r = b.range.unwrap_or_default();
        let class = keys::class(&r.unit_class.unwrap_or_default());
        *retired.entry((class, b.reason)).or_default() += r.last - r.first + 1;
    }
    for (k, next) in s.scan_prefix(keys::SERIAL_COUNTERS).expect("scan") {
        let class = k[1..].to_vec();
        let created = u64::from_be_bytes(next.as_slice().try_into().expect("8 bytes")) - 1;
        let out: u64 = (1..=4)
            .map(|reason| retired.get(&(class.clone(), reason)).copied().unwrap_or(0))
            .sum();
        let h = held.get(&class).copied().unwrap_or(0);
        assert_eq!(
            created,
            h + out,
            "class {class:?}: created != held + retired (exported incl.)"
        );
    }
}

/// A pending transfer's units are in its sender's account in state pending transfer and
/// nowhere else: its ranges are exactly the blocks naming it, and no retired block overlaps.
fn check_pending_exclusive(s: &MemState) {
    let mut blocks: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for (_, v) in s.scan_prefix(keys::HOLDINGS).expect("scan") {
        let b = <SerialBlock as prost::Message>::decode(v.as_slice()).expect("block");
        if b.state() == BlockState::PendingTransfer {
            let r = b.range.unwrap_or_default();
            blocks
                .entry(b.encumbrance_id)
                .or_default()
                .push((r.first, r.last));
        }
    }
    for (_, v) in s.scan_prefix(keys::PENDING_TRANSFERS).expect("scan") {
        let p = <PendingTransfer as prost::Message>::decode(v.as_slice()).expect("pending");
        let held = blocks.remove(&p.id).unwrap_or_default();
        if p.status() != PendingTransferStatus::Pending {
            assert!(
                held.is_empty(),
                "closed pending transfer {} still holds units",
                p.id
            );
            continue;
        }
        let mut want: Vec<(u64, u64)> = p.ranges.iter().map(|r| (r.first, r.last)).collect();
        let mut got = held;
        want.sort();
        got.sort();
        let units = |v: &[(u64, u64)]| v.iter().map(|(f, l)| l - f + 1).sum::<u64>();
        assert_eq!(
            units(&want),
            units(&got),
            "pending transfer {}: its units are elsewhere",
            p.id
        );
        let class = p.unit_class.clone().unwrap_or_default();
        for (first, last) in &want {
            for (_, v) in s.scan_prefix(&keys::retired_of(&class)).expect("scan") {
                let b = <RetiredBlock as prost::Message>::decode(v.as_slice()).expect("retired");
                let r = b.range.unwrap_or_default();
                assert!(
                    r.last < *first || r.first > *last,
                    "pending units were retired too"
                );
            }
        }
    }
    assert!(
        blocks.is_empty(),
        "blocks pending for a transfer that does not exist"
    );
}

type Encumbered = BTreeSet<(Vec<u8>, u64, i32)>;

/// Every pledged, frozen or repo block: (key, encumbrance id, state).
fn encumbered(s: &MemState) -> Encumbered {
    s.scan_prefix(keys::HOLDINGS)
        .expect("scan")
        .into_iter()
        .filter_map(|(k, v)| {
            let b = <SerialBlock as prost::Message>::decode(v.as_slice()).expect("block");
            (b.state() != BlockState::Available).then_some((k, b.encumbrance_id, b.state))
        })
        .collect()
}

fn run(base: &Reg, entries: &[Entry]) -> Reg {
    let mut r = base.clone();
    let mut seen: BTreeMap<Vec<u8>, carbon_proto::v1::Outcome> = BTreeMap::new();
    for Entry {
        txs,
        targets,
        days,
        later,
    } in entries
    {
        r.now += days * 86_400_000 + later * 60_000;
        let before = encumbered(&r.state);
        let outcomes = r.apply(txs.clone());
        let after = encumbered(&r.state);
        check_conservation(&r.state);
        check_pending_exclusive(&r.state);
        // Pending transfers the ledger executed (or returned) in this entry moved too.
        let mut moved = targets.clone();
        for rec in &r.records {
            let body = rec.tx.as_ref().and_then(|t| {
                <carbon_proto::v1::TxBody as prost::Message>::decode(t.body.as_slice()).ok()
            });
            if let Some(Op::ExecutePendingTransfer(e)) = body.and_then(|b| b.operation) {
                moved.insert(e.pending_transfer_id);
            }
        }
        // Invariant 3: an encumbered block disappears only when its own encumbrance was acted on.
        for gone in before.difference(&after) {
            assert!(
                moved.contains(&gone.1),
                "encumbered block of {} moved without its release or enforcement",
                gone.1
            );
        }
        // Invariant 6: a tx id has one outcome, whatever how often it is submitted.
        for o in outcomes {
            if let Some(first) = seen.get(&o.tx_id) {
                assert_eq!(first, &o, "a resubmitted tx got a different outcome");
            } else {
                seen.insert(o.tx_id.clone(), o);
            }
        }
    }
    r
}

/// Equal states; on a difference, prints the first differing keys instead of both states.
fn same_state(a: &MemState, b: &MemState) -> bool {
    let keys: BTreeSet<&Vec<u8>> = a.map.keys().chain(b.map.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| a.map.get(*k) != b.map.get(*k))
        .take(5)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    if !differing.is_empty() {
        eprintln!("states differ at keys {differing:?}");
    }
    differing.is_empty()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_operations_with_safeguards_keep_every_invariant(
        entries in prop::collection::vec(prop::collection::vec(safe_action(), 1..4), 1..25)
    ) {
        let mut base = setup_on(Reg::with_safeguards());
        let built = build(&mut base, &entries);
        let a = run(&base, &built);
        let b = run(&base, &built);
        prop_assert_eq!(a.head(), b.head());
        prop_assert!(same_state(&a.state, &b.state));
        let history = queries::committed_since(&a.state, 1, usize::MAX).expect("read");
        let head = audit::verify_chain(&a.genesis, &history).expect("history verifies");
        prop_assert_eq!(head.to_vec(), a.head());
        let replayed = audit::replay(&a.genesis, &history).expect("history replays");
        prop_assert!(same_state(&replayed, &a.state));
    }

    /// Rule 16 mixed with everything else: no gram converted twice, recorded grams are the
    /// persons' points, PHCER exist for exactly the converted tonnes and are conserved
    /// (`audit::check_invariants` after every entry), and the history replays.
    #[test]
    fn random_operations_with_carbon_inclusion_keep_every_invariant(
        entries in prop::collection::vec(prop::collection::vec(inclusion_action(), 1..5), 1..25)
    ) {
        let mut base = inclusion_setup();
        let built = build(&mut base, &entries);
        let a = run(&base, &built);
        let b = run(&base, &built);
        prop_assert_eq!(a.head(), b.head());
        prop_assert!(same_state(&a.state, &b.state));
        let history = queries::committed_since(&a.state, 1, usize::MAX).expect("read");
        let head = audit::verify_chain(&a.genesis, &history).expect("history verifies");
        prop_assert_eq!(head.to_vec(), a.head());
        let replayed = audit::replay(&a.genesis, &history).expect("history replays");
        prop_assert!(same_state(&replayed, &a.state));
    }

    #[test]
    fn random_operations_keep_every_invariant(
        entries in prop::collection::vec(prop::collection::vec(action(), 1..4), 1..25)
    ) {
        let mut base = setup();
        let built = build(&mut base, &entries);
        let a = run(&base, &built);
        let b = run(&base, &built);
        // Invariant 5: same entries, same state and chain head.
        prop_assert_eq!(a.head(), b.head());
        prop_assert!(same_state(&a.state, &b.state));
        // The whole history verifies offline and replays to the same state.
        let history = queries::committed_since(&a.state, 1, usize::MAX).expect("read");
        let head = audit::verify_chain(&a.genesis, &history).expect("history verifies");
        prop_assert_eq!(head.to_vec(), a.head());
        let replayed = audit::replay(&a.genesis, &history).expect("history replays");
        prop_assert!(same_state(&replayed, &a.state));
    }
}
