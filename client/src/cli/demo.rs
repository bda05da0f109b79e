//! `carbonctl demo`: the Zhejiang compliance year 2025, end to end, against a fresh registry.
//!
//! Accounts and figures come from `seeds/demo/` (drawn from the seed document: power and heat,
//! chemicals, textiles, paper, cement and steel in Zhejiang's cities; a Lishui forestry sink, a
//! Zhoushan offshore-wind CCER project, a Ningbo/Xiangshan blue-carbon project, two banks and the
//! Anji Yucun "zero-carbon" pilot, a non-emitting organisation). Besides allocation, issuance,
//! trades, pledges, surrender and the close, it shows a repo with a bank, a loan between two
//! enterprises used for surrender and returned, and the December penalty month. Keys:
//! `seeds/keys/` (demo only).

use super::ctx::{Ctx, Res};
use super::show;
use carbon_client::ops::parse_class;
use carbon_client::ClientError;
use carbon_proto::v1::{self as pb, tx_body::Operation as Op, ErrorCode, Outcome, Role, UnitKind};
use std::collections::BTreeMap;
use std::path::Path;

pub fn load_genesis(path: &Path) -> Res<pb::Genesis> {
    carbon_proto::genesis::load(path).map_err(|e| ClientError::local(e.to_string()))
}

const REG: &str = "ZJ-REG";
const VER: &str = "ZJ-VER-01";
const FOREST: &str = "ZJ-LS-FOR-001";
const WIND: &str = "ZJ-ZS-WIND-001";
const BLUE: &str = "ZJ-XS-BLUE-001";
/// Penalty price used when no allowance traded in the month before the deadline (fen per unit).
const FALLBACK_PRICE_FEN: u64 = 9_000;

struct Enterprise {
    id: String,
    verified: u64,
    final_allocation: u64,
}

async fn ok(ctx: &mut Ctx, actor: &str, op: Op) -> Res<Outcome> {
    ctx.actor = Some(actor.to_string());
    match ctx.write(op).await? {
        Some(o) => Ok(o),
        None => Err(ClientError::local(
            "the demo does not write unsigned transactions",
        )),
    }
}

async fn expect_rejection(ctx: &mut Ctx, actor: &str, op: Op, code: ErrorCode) -> Res<String> {
    match ok(ctx, actor, op).await {
        Err(ClientError::Rejected {
            code: c, message, ..
        }) if c == code => Ok(message),
        Err(e) => Err(e),
        Ok(_) => Err(ClientError::local(format!(
            "expected {code:?}, the transaction succeeded"
        ))),
    }
}

fn cls(s: &str) -> Res<pb::UnitClass> {
    parse_class(s)
}

async fn available(ctx: &mut Ctx, account: &str, class: &str) -> Res<u64> {
    ctx.actor = Some(account.to_string());
    let who = ctx.read_as()?;
    let want = cls(class)?;
    let h = ctx.client.holdings(account, &who).await?;
    Ok(h.balances
        .iter()
        .find(|b| b.unit_class.as_ref() == Some(&want))
        .map_or(0, |b| b.available))
}

fn say(m: impl AsRef<str>) {
    println!("• {}", m.as_ref());
}

fn yesterday_cst() -> u32 {
    carbon_proto::dates::date_of(carbon_client::ops::now_ms().saturating_sub(86_400_000))
}

/// The story, step by step; each step is one function below, in this order.
pub async fn run(ctx: &mut Ctx, data: &Path) -> Res<()> {
    start(ctx, data).await?;
    let (enterprises, names) = open_accounts(ctx, data).await?; // 1
    let work = declare_and_preallocate(ctx, data).await?; // 2
    register_and_issue(ctx).await?; // 3
    settle_trades(ctx).await?; // 4
    pledge_release_enforce(ctx).await?; // 5
    let today = carbon_proto::dates::date_of(carbon_client::ops::now_ms());
    repo_and_repurchase(ctx, today).await?; // 5b
    let loan_id = lend(ctx, today).await?; // 5c
    report_and_true_up(ctx, &enterprises).await?; // 6
    surrender_all(ctx, &enterprises, loan_id).await?; // 7
    show_december_reference(ctx, today).await?; // 8
    close_2025(ctx).await?;
    allocate_2026(ctx, &enterprises).await?; // 9
    pilot_cancels(ctx).await?; // 10
    phishing_stopped(ctx).await?; // 11
    international_transfer(ctx).await?; // 12
    carbon_inclusion(ctx, &work).await?; // 13
    print_tables(ctx, &names).await?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Defaults the keys directory to `seeds/keys/`, refuses a registry that is not fresh, and
/// prints the title.
async fn start(ctx: &mut Ctx, data: &Path) -> Res<()> {
    if ctx.keys_dir.is_none() {
        ctx.keys_dir = Some(data.join("../keys"));
    }
    let head = ctx.client.chain_head().await?;
    if head.sequence != 0 {
        return Err(ClientError::local(format!(
            "the demo needs a fresh registry; this one is at sequence {} (start a node on an empty data dir)",
            head.sequence
        )));
    }
    println!(
        "浙江省碳排放权注册登记 — demo of compliance year 2025 on chain {}",
        head.chain_id
    );
    Ok(())
}

/// The role named in `accounts.csv`.
fn role_of(role: &str) -> Role {
    match role {
        "enterprise" => Role::Enterprise,
        "verifier" => Role::Verifier,
        "project_owner" => Role::ProjectOwner,
        "bank" => Role::Bank,
        "organisation" => Role::Organisation,
        "platform" => Role::Platform,
        _ => Role::Individual,
    }
}

/// Step 1, accounts: opens every account of `accounts.csv` with its demo key. Returns the
/// enterprises with their figures, and every account's name.
async fn open_accounts(
    ctx: &mut Ctx,
    data: &Path,
) -> Res<(Vec<Enterprise>, BTreeMap<String, String>)> {
    let mut reader = csv::Reader::from_path(data.join("accounts.csv"))
        .map_err(|e| ClientError::local(format!("accounts.csv: {e}")))?;
    let mut enterprises = Vec::new();
    let mut names = BTreeMap::new();
    for rec in reader.records() {
        let r = rec.map_err(|e| ClientError::local(e.to_string()))?;
        let (id, role, name, region) = (&r[0], role_of(&r[1]), &r[2], &r[3]);
        let key = ctx
            .keys_for(id)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::local(format!("no demo key for {id}")))?;
        let op = Op::OpenAccount(pb::OpenAccount {
            account_id: id.into(),
            role: role as i32,
            name: name.into(),
            region: region.into(),
            public_keys: vec![key.public_bytes().to_vec()],
            threshold: 1,
        });
        ok(ctx, REG, op).await?;
        names.insert(id.to_string(), name.to_string());
        if role == Role::Enterprise {
            let num = |i: usize| {
                r[i].parse::<u64>()
                    .map_err(|_| ClientError::local(format!("{id}: bad figure")))
            };
            enterprises.push(Enterprise {
                id: id.into(),
                verified: num(6)?,
                final_allocation: num(7)?,
            });
        }
    }
    say(format!(
        "opened {} accounts (verifier, {} key emitting entities, project owners, banks, pilot)",
        names.len(),
        enterprises.len()
    ));
    Ok((enterprises, names))
}

/// Step 2, vintage and pre-allocation (70 % of 2024 emissions) through the bulk plan path.
/// Returns the work directory holding the plan's copy (removed at the end of a successful run).
async fn declare_and_preallocate(ctx: &mut Ctx, data: &Path) -> Res<std::path::PathBuf> {
    ok(
        ctx,
        REG,
        Op::DeclareVintage(pb::DeclareVintage {
            vintage: 2025,
            cap: 60_000_000,
        }),
    )
    .await?;
    let work = std::env::temp_dir().join(format!("carbon-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| ClientError::local(e.to_string()))?;
    let plan = work.join("plan-2025.csv");
    std::fs::copy(data.join("plan-2025.csv"), &plan)
        .map_err(|e| ClientError::local(e.to_string()))?;
    ctx.actor = Some(REG.into());
    let s = super::plan::run(ctx, &plan, None, None).await?;
    say(format!(
        "vintage 2025 declared (cap 60,000,000 t); pre-allocated to {} enterprises from the plan",
        s.committed_now
    ));
    Ok(work)
}

/// A demo project: (id, owner, kind, name, methodology, region, buffer share in basis points,
/// credits issued for 2025).
type DemoProject = (
    &'static str,
    &'static str,
    UnitKind,
    &'static str,
    &'static str,
    &'static str,
    u32,
    u64,
);

/// The demo's projects.
const PROJECTS: [DemoProject; 3] = [
    (
        FOREST,
        "ZJ-PO-LS",
        UnitKind::Forestry,
        "丽水百山祖林业碳汇项目（示例）",
        "CCER-14-001-V01",
        "丽水市",
        1_000,
        400_000,
    ),
    (
        WIND,
        "ZJ-PO-WIND",
        UnitKind::Ccer,
        "舟山岱山海上风电项目（示例）",
        "CCER-01-001-V01",
        "舟山市",
        0,
        1_500_000,
    ),
    (
        BLUE,
        "ZJ-PO-BLUE",
        UnitKind::BlueCarbon,
        "象山港红树林与盐沼湿地蓝碳项目（示例）",
        "CCER-14-002-V01",
        "宁波市",
        1_000,
        60_000,
    ),
];

/// Step 3, projects and issuance: each project proposed by its owner, approved, and issued
/// credits.
async fn register_and_issue(ctx: &mut Ctx) -> Res<()> {
    for (id, owner, kind, name, method, region, bp, qty) in PROJECTS {
        let op = Op::ProposeProject(pb::ProposeProject {
            project_id: id.into(),
            owner_id: owner.into(),
            kind: kind as i32,
            name: name.into(),
            methodology: method.into(),
            region: region.into(),
            crediting_start_year: 2021,
            crediting_end_year: 2030,
        });
        ok(ctx, owner, op).await?;
        ok(
            ctx,
            REG,
            Op::ApproveProject(pb::ApproveProject {
                project_id: id.into(),
                buffer_share_bp: bp,
            }),
        )
        .await?;
        ok(
            ctx,
            REG,
            Op::IssueCredits(pb::IssueCredits {
                project_id: id.into(),
                monitoring_year: 2025,
                quantity: qty,
            }),
        )
        .await?;
        say(format!(
            "{name}: registered, {qty} credits issued for 2025 (buffer {}%)",
            bp / 100
        ));
    }
    Ok(())
}

/// The demo's trades: (seller, buyer, unit class, quantity, price in fen).
fn trades() -> [(&'static str, &'static str, String, u64, u64); 7] {
    [
        (
            "ZJ-PO-WIND",
            "ZJ-ENT-01",
            format!("CCER:2025:{WIND}"),
            575_000u64,
            5_200u64,
        ),
        (
            "ZJ-PO-WIND",
            "ZJ-ENT-02",
            format!("CCER:2025:{WIND}"),
            600_000,
            5_150,
        ),
        (
            "ZJ-PO-LS",
            "ZJ-ENT-12",
            format!("FORESTRY:2025:{FOREST}"),
            150_000,
            6_800,
        ),
        (
            "ZJ-ENT-05",
            "ZJ-ENT-10",
            "CEA:2025".to_string(),
            50_000,
            9_350,
        ),
        (
            "ZJ-ENT-04",
            "ZJ-ENT-11",
            "CEA:2025".to_string(),
            100_000,
            9_120,
        ),
        (
            "ZJ-PO-WIND",
            "ZJ-PILOT-AJ",
            format!("CCER:2025:{WIND}"),
            20_000,
            5_300,
        ),
        (
            "ZJ-PO-BLUE",
            "ZJ-PILOT-AJ",
            format!("BLUE_CARBON:2025:{BLUE}"),
            10_000,
            8_800,
        ),
    ]
}

/// Step 4, trades.
async fn settle_trades(ctx: &mut Ctx) -> Res<()> {
    let trades = trades();
    for (seller, buyer, class, qty, price) in &trades {
        let op = Op::Trade(pb::Trade {
            seller: (*seller).into(),
            buyer: (*buyer).into(),
            unit_class: Some(cls(class)?),
            quantity: *qty,
            price_fen: *price,
            exchange_ref: "上海环境能源交易所（示例）".into(),
        });
        ok(ctx, seller, op).await?;
    }
    say(format!(
        "{} trades settled (CEA and credits, prices in CNY/t)",
        trades.len()
    ));
    Ok(())
}

/// A pledge of CEA 2025 maturing at the end of 2026.
fn pledge(pledgor: &str, bank: &str, q: u64, secured: u64, contract: &str) -> Op {
    Op::Pledge(pb::Pledge {
        pledgor: pledgor.into(),
        pledgee: bank.into(),
        unit_class: Some(cea2025()),
        quantity: q,
        secured_amount_fen: secured,
        maturity_date: 20261231,
        contract_ref: contract.into(),
    })
}

/// Step 5, pledges: one partly released, one enforced after default.
async fn pledge_release_enforce(ctx: &mut Ctx) -> Res<()> {
    let p1 = ok(
        ctx,
        "ZJ-ENT-04",
        pledge(
            "ZJ-ENT-04",
            "ZJ-BANK-01",
            500_000,
            3_000_000_000,
            "碳排放权质押合同 2025-HZ-001",
        ),
    )
    .await?
    .effects
    .unwrap_or_default()
    .encumbrance_id;
    ok(
        ctx,
        "ZJ-BANK-01",
        Op::ReleasePledge(pb::ReleasePledge {
            pledge_id: p1,
            quantity: 200_000,
        }),
    )
    .await?;
    // Pre-allocation only covered 420,000 for ZJ-ENT-06; the true-up below adds the rest.
    let p2 = ok(
        ctx,
        "ZJ-ENT-06",
        pledge(
            "ZJ-ENT-06",
            "ZJ-BANK-02",
            100_000,
            600_000_000,
            "碳排放权质押合同 2025-NB-007",
        ),
    )
    .await?
    .effects
    .unwrap_or_default()
    .encumbrance_id;
    ok(
        ctx,
        "ZJ-BANK-02",
        Op::EnforcePledge(pb::EnforcePledge { pledge_id: p2 }),
    )
    .await?;
    say(format!("pledge {p1}: 500,000 CEA of ZJ-ENT-04 to ZJ-BANK-01, 200,000 released; pledge {p2}: ZJ-ENT-06 defaulted, ZJ-BANK-02 enforced 100,000 CEA"));
    Ok(())
}

/// The date `n` days after `today` (yyyymmdd).
fn in_days(today: u32, n: u32) -> u32 {
    (0..n).fold(today, |d, _| carbon_proto::dates::next_day(d))
}

/// Step 5b, repo (回购): ZJ-ENT-03 sells allowances to a bank and buys them back.
async fn repo_and_repurchase(ctx: &mut Ctx, today: u32) -> Res<()> {
    let repo_id = ok(
        ctx,
        "ZJ-ENT-03",
        Op::Repo(pb::Repo {
            seller: "ZJ-ENT-03".into(),
            buyer: "ZJ-BANK-01".into(),
            unit_class: Some(cea2025()),
            quantity: 200_000,
            sale_price_fen: 8_000,
            repurchase_price_fen: 8_150,
            repurchase_date: in_days(today, 30),
            contract_ref: "碳排放权回购协议 2025-NB-R01".into(),
        }),
    )
    .await?
    .effects
    .unwrap_or_default()
    .encumbrance_id;
    ok(
        ctx,
        "ZJ-BANK-01",
        Op::Repurchase(pb::Repurchase { repo_id }),
    )
    .await?;
    say(format!(
        "repo {repo_id}: ZJ-ENT-03 sold 200,000 CEA to ZJ-BANK-01 at 80.00, repurchase at 81.50 by {}; the bank confirmed the repurchase, the units are back with ZJ-ENT-03",
        carbon_proto::dates::format_date(in_days(today, 30))
    ));
    Ok(())
}

/// Step 5c, lending (借碳): ZJ-ENT-07 borrows allowances from ZJ-ENT-01 before its true-up.
/// Returns the loan id.
async fn lend(ctx: &mut Ctx, today: u32) -> Res<u64> {
    let loan_id = ok(
        ctx,
        "ZJ-ENT-01",
        Op::Lend(pb::Lend {
            lender: "ZJ-ENT-01".into(),
            borrower: "ZJ-ENT-07".into(),
            unit_class: Some(cea2025()),
            quantity: 30_000,
            fee_fen: 4_500_000,
            return_date: in_days(today, 60),
            contract_ref: "借碳合同 2025-HZ-L01".into(),
        }),
    )
    .await?
    .effects
    .unwrap_or_default()
    .loan_id;
    say(format!(
        "loan {loan_id}: ZJ-ENT-01 lent 30,000 CEA to ZJ-ENT-07 (fee 45,000.00 CNY, return by {})",
        carbon_proto::dates::format_date(in_days(today, 60))
    ));
    Ok(loan_id)
}

/// Step 6, verified emissions, then the final true-up.
async fn report_and_true_up(ctx: &mut Ctx, enterprises: &[Enterprise]) -> Res<()> {
    for e in enterprises {
        ok(
            ctx,
            VER,
            Op::ReportEmissions(pb::ReportEmissions {
                enterprise_id: e.id.clone(),
                year: 2025,
                tonnes: e.verified,
            }),
        )
        .await?;
    }
    for e in enterprises {
        let o = ok(
            ctx,
            REG,
            Op::TrueUp(pb::TrueUp {
                enterprise_id: e.id.clone(),
                vintage: 2025,
                final_quantity: e.final_allocation,
            }),
        )
        .await?;
        let fx = o.effects.unwrap_or_default();
        let withdrawn: u64 = fx.retired.iter().map(|r| r.last - r.first + 1).sum();
        if withdrawn > 0 {
            say(format!(
                "true-up {}: {withdrawn} allowances withdrawn",
                e.id
            ));
        }
    }
    say("verified emissions reported by ZJ-VER-01; final allocations trued up");
    Ok(())
}

/// Step 7, surrender: credits up to 5 %, then allowances; then ZJ-ENT-07 returns its loan.
async fn surrender_all(ctx: &mut Ctx, enterprises: &[Enterprise], loan_id: u64) -> Res<()> {
    let over = Op::Surrender(pb::Surrender {
        enterprise_id: "ZJ-ENT-02".into(),
        year: 2025,
        unit_class: Some(cls(&format!("CCER:2025:{WIND}"))?),
        quantity: 600_000,
    });
    let msg = expect_rejection(ctx, "ZJ-ENT-02", over, ErrorCode::CreditCapExceeded).await?;
    say(format!(
        "ZJ-ENT-02 tried to surrender 600,000 CCER: rejected CREDIT_CAP_EXCEEDED ({msg})"
    ));
    for e in enterprises {
        surrender_for(ctx, e).await?;
    }
    say("surrenders done (ZJ-ENT-07's lowest serials, the borrowed ones, went first)");
    ok(
        ctx,
        "ZJ-ENT-07",
        Op::ReturnLoan(pb::ReturnLoan {
            loan_id,
            quantity: 30_000,
        }),
    )
    .await?;
    say(format!(
        "ZJ-ENT-07 returned 30,000 CEA 2025 to ZJ-ENT-01: loan {loan_id} closed"
    ));
    Ok(())
}

/// One enterprise's surrender: the credits it holds up to 5 % of its verified emissions per
/// class, then allowances for the rest.
async fn surrender_for(ctx: &mut Ctx, e: &Enterprise) -> Res<()> {
    let mut remaining = e.verified;
    let cap = e.verified * 5 / 100;
    for class in [
        format!("CCER:2025:{WIND}"),
        format!("FORESTRY:2025:{FOREST}"),
    ] {
        let have = available(ctx, &e.id, &class).await?;
        let q = have.min(cap).min(remaining);
        if q > 0 {
            let op = Op::Surrender(pb::Surrender {
                enterprise_id: e.id.clone(),
                year: 2025,
                unit_class: Some(cls(&class)?),
                quantity: q,
            });
            ok(ctx, &e.id, op).await?;
            remaining -= q;
        }
    }
    let q = available(ctx, &e.id, "CEA:2025").await?.min(remaining);
    if q > 0 {
        let op = Op::Surrender(pb::Surrender {
            enterprise_id: e.id.clone(),
            year: 2025,
            unit_class: Some(cea2025()),
            quantity: q,
        });
        ok(ctx, &e.id, op).await?;
    }
    Ok(())
}

/// Step 8, the penalty price: the usual deadline, 31 December, looks at December's trades
/// only.
async fn show_december_reference(ctx: &mut Ctx, today: u32) -> Res<()> {
    let december = (today / 10_000) * 10_000 + 1231;
    let reg = as_regulator(ctx)?;
    let p = ctx.client.reference_price(december, Some(&reg)).await?;
    say(format!(
        "penalty reference for the deadline {}: CEA trades of {} to {} (the one month ending on the deadline, Decree 775 art. 24): {}",
        carbon_proto::dates::format_date(december),
        carbon_proto::dates::format_date(p.first_date),
        carbon_proto::dates::format_date(p.last_date),
        if p.traded {
            format!("{} CNY/t over {} t", show::yuan(p.reference_price_fen), p.volume)
        } else {
            "nothing traded yet".to_string()
        }
    ));
    Ok(())
}

/// Close 2025 (the demo cannot wait for 31 December: yesterday stands in as the deadline).
async fn close_2025(ctx: &mut Ctx) -> Res<()> {
    let deadline = yesterday_cst();
    let reg = as_regulator(ctx)?;
    let window = ctx.client.reference_price(deadline, Some(&reg)).await?;
    let close = Op::CloseComplianceYear(pb::CloseComplianceYear {
        year: 2025,
        deadline_date: deadline,
        penalty_multiplier: 5,
        fallback_price_fen: FALLBACK_PRICE_FEN,
    });
    ok(ctx, REG, close).await?;
    say(format!(
        "compliance year 2025 closed (deadline {}, multiplier 5; penalty price: {})",
        carbon_proto::dates::format_date(deadline),
        if window.traded {
            format!(
                "{} CNY/t, the CEA average of {} to {}",
                show::yuan(window.reference_price_fen),
                carbon_proto::dates::format_date(window.first_date),
                carbon_proto::dates::format_date(window.last_date)
            )
        } else {
            format!(
                "no CEA traded from {} to {}, so the fallback {} CNY/t",
                carbon_proto::dates::format_date(window.first_date),
                carbon_proto::dates::format_date(window.last_date),
                show::yuan(FALLBACK_PRICE_FEN)
            )
        }
    ));
    Ok(())
}

/// Step 9, 2026: the short enterprise's allocation is reduced by its shortfall.
async fn allocate_2026(ctx: &mut Ctx, enterprises: &[Enterprise]) -> Res<()> {
    ok(
        ctx,
        REG,
        Op::DeclareVintage(pb::DeclareVintage {
            vintage: 2026,
            cap: 60_000_000,
        }),
    )
    .await?;
    let short = enterprises
        .iter()
        .find(|e| e.id == "ZJ-ENT-06")
        .map_or(0, |e| e.verified * 7 / 10);
    let o = ok(
        ctx,
        REG,
        Op::Allocate(pb::Allocate {
            enterprise_id: "ZJ-ENT-06".into(),
            vintage: 2026,
            quantity: short,
        }),
    )
    .await?;
    say(format!(
        "2026 pre-allocation of ZJ-ENT-06: {short} granted, {} withheld against its 2025 shortfall (Decree 775 art. 24)",
        o.effects.unwrap_or_default().shortfall_deducted
    ));
    Ok(())
}

/// Step 10, the zero-carbon pilot cancels credits.
async fn pilot_cancels(ctx: &mut Ctx) -> Res<()> {
    for (class, q) in [
        (format!("CCER:2025:{WIND}"), 20_000u64),
        (format!("BLUE_CARBON:2025:{BLUE}"), 10_000),
    ] {
        let op = Op::Cancel(pb::Cancel {
            holder: "ZJ-PILOT-AJ".into(),
            unit_class: Some(cls(&class)?),
            quantity: q,
            beneficiary: "湖州安吉余村零碳示范村".into(),
            purpose: "2026年度村域运营碳中和（“两山”理念零碳试点）".into(),
            ..Default::default()
        });
        ok(ctx, "ZJ-PILOT-AJ", op).await?;
    }
    say("ZJ-PILOT-AJ cancelled 20,000 CCER and 10,000 blue-carbon credits for its 2026 carbon neutrality");
    Ok(())
}

/// Step 11, rule 15: a transfer signed with ZJ-ENT-06's phished key, to an account not on its
/// trusted list, waits out the transfer delay; the holder sees it pending and cancels it. Only
/// on a genesis that enables safeguards (seeds/demo/genesis.toml); otherwise said and skipped.
async fn phishing_stopped(ctx: &mut Ctx) -> Res<()> {
    const VICTIM: &str = "ZJ-ENT-06";
    const THIEF: &str = "ZJ-ENT-11";
    ctx.actor = Some(VICTIM.to_string());
    let who = ctx.read_as()?;
    let s = ctx.client.safeguards(VICTIM, &who).await?;
    let settings = s.settings.unwrap_or_default();
    if !settings.enabled {
        say("safeguards (rule 15: trusted accounts, transfer delay) are off in this genesis; start the node with seeds/demo/genesis.toml to see a phishing attempt stopped");
        return Ok(());
    }
    let o = ok(
        ctx,
        VICTIM,
        Op::TrustAccount(pb::TrustAccount {
            account_id: VICTIM.into(),
            trusted_account_id: "ZJ-ENT-12".into(),
        }),
    )
    .await?;
    say(format!(
        "{VICTIM} put its usual counterparty ZJ-ENT-12 on its trusted account list: effective from {} ({} h after it was recorded)",
        super::safeguards::cst(o.effects.unwrap_or_default().due_ms),
        settings.trusted_list_delay_ms / 3_600_000
    ));
    let before = available(ctx, VICTIM, "CEA:2026").await?;
    let o = ok(
        ctx,
        VICTIM,
        Op::Transfer(pb::Transfer {
            from_account: VICTIM.into(),
            to_account: THIEF.into(),
            unit_class: Some(cls("CEA:2026")?),
            quantity: before,
        }),
    )
    .await?;
    let fx = o.effects.unwrap_or_default();
    say(format!(
        "phishing: a transfer of all {before} CEA 2026 of {VICTIM} to {THIEF}, signed with a stolen key, is pending until {} (pending transfer {}): the units are encumbered, not gone",
        super::safeguards::cst(fx.due_ms),
        fx.pending_transfer_id
    ));
    ok(
        ctx,
        VICTIM,
        Op::CancelPendingTransfer(pb::CancelPendingTransfer {
            pending_transfer_id: fx.pending_transfer_id,
        }),
    )
    .await?;
    let after = available(ctx, VICTIM, "CEA:2026").await?;
    say(format!(
        "{VICTIM} saw it in its pending transfers and cancelled it within the delay: {after} CEA 2026 available again, {THIEF} received nothing"
    ));
    Ok(())
}

/// Step 12, rule 17 (Paris Agreement art. 6): the regulator authorises the offshore wind
/// project's 2025 issuance for other international mitigation purposes (CORSIA); its owner
/// exports some to a foreign registry (owner and regulator sign) and cancels some for an
/// airline's CORSIA offsetting; both are corresponding adjustments for 2025, in the public read.
async fn international_transfer(ctx: &mut Ctx) -> Res<()> {
    const OWNER: &str = "ZJ-PO-WIND";
    let p = ctx.client.project(WIND).await?;
    let Some(sequence) = p
        .issuances
        .iter()
        .find(|i| i.monitoring_year == 2025)
        .map(|i| i.sequence)
    else {
        return Err(ClientError::local(format!("{WIND} has no 2025 issuance")));
    };
    let reference = "生态环境部 第6条授权函 2026-001号（示例）";
    let authorise = Op::AuthoriseUnits(pb::AuthoriseUnits {
        project_id: WIND.into(),
        issuance_sequence: sequence,
        purpose: pb::MitigationPurpose::Oimp as i32,
        authorisation_reference: reference.into(),
    });
    ok(ctx, REG, authorise).await?;
    say(format!(
        "art. 6: the regulator authorised the units of {WIND}'s 2025 issuance for OIMP (CORSIA), {reference}"
    ));
    let class = format!("CCER:2025:{WIND}");
    let export = Op::ExportUnits(pb::ExportUnits {
        holder: OWNER.into(),
        unit_class: Some(cls(&class)?),
        quantity: 50_000,
        destination_registry: "CH-NATIONAL-REGISTRY".into(),
        destination_account: "CH-KLIK-0001".into(),
    });
    ok(ctx, REG, export).await?;
    say(format!("{OWNER} exported 50,000 of them to the Swiss national registry (signed by {OWNER} and the regulator): they left this registry for good"));
    let cancel = Op::Cancel(pb::Cancel {
        holder: OWNER.into(),
        unit_class: Some(cls(&class)?),
        quantity: 10_000,
        beneficiary: "某航空公司（示例）".into(),
        purpose: "CORSIA 第一履约期抵消".into(),
        mitigation_purpose: pb::MitigationPurpose::Oimp as i32,
    });
    ok(ctx, OWNER, cancel).await?;
    say(format!(
        "{OWNER} cancelled 10,000 for an airline's CORSIA offsetting (use for OIMP)"
    ));
    let r = ctx.client.international_transfers(2025, 0).await?;
    let adjusted: u64 = r.adjustments.iter().map(|a| a.quantity).sum();
    say(format!(
        "public art. 6 read for 2025 (carbonctl art6 --year 2025): {} authorisation(s), {} export(s), corresponding adjustments of {adjusted} t for 2025",
        r.authorisations.len(),
        r.exports.len()
    ));
    Ok(())
}

const PLATFORM: &str = "ZJ-PLAT-LS";
const PILOT: &str = "ZJ-PILOT-AJ";
/// The demo's inclusion methodologies: (code, behaviour, daily cap per person in grams).
const INCLUSION_METHODOLOGIES: [(&str, &str, u64); 2] = [
    ("ZJ-PH-BUS-V01", "公交出行 (bus rides)", 3_000),
    ("ZJ-PH-BIKE-V01", "共享单车骑行 (bike-share cycling)", 1_500),
];

/// A resident's reductions of a day under a methodology (deterministic demo figures).
fn demo_grams(methodology: usize, resident: u64, day: u64) -> u64 {
    match methodology {
        0 => 400 + (resident * 37 + day * 101) % 1_400,
        _ => 150 + (resident * 53 + day * 29) % 700,
    }
}

/// Step 13, rule 16 (carbon inclusion): Lishui's platform opens 1,000 residents' personal
/// accounts in one bulk transaction, records a week of bus and cycling reductions (one bulk
/// transaction per methodology and day), the regulator converts the whole tonnes into PHCER,
/// the platform sells them to the Anji pilot, which cancels them.
async fn carbon_inclusion(ctx: &mut Ctx, work: &Path) -> Res<()> {
    use super::inclusion::{run as bulk_run, Bulk, BulkArgs};
    ok(
        ctx,
        REG,
        Op::AllowPersonalAccounts(pb::AllowPersonalAccounts {
            platform_id: PLATFORM.into(),
            allowed: true,
        }),
    )
    .await?;
    let people = work.join("lishui-residents.csv");
    let mut text = String::from("account_id,name\n");
    for i in 1..=1_000u64 {
        text.push_str(&format!("LS-P-{i:06},丽水居民{i:04}\n"));
    }
    write_file(&people, &text)?;
    ctx.actor = Some(PLATFORM.into());
    let open = Bulk::Open {
        region: "丽水市".into(),
    };
    all_committed(bulk_run(ctx, &people, &open, &BulkArgs::default()).await?)?;
    for (code, behaviour, cap) in INCLUSION_METHODOLOGIES {
        let m = pb::InclusionMethodology {
            code: code.into(),
            behaviour: behaviour.into(),
            platform_ids: vec![PLATFORM.into()],
            daily_cap_grams: cap,
            approved_sequence: 0,
        };
        ok(
            ctx,
            REG,
            Op::ApproveMethodology(pb::ApproveMethodology {
                methodology: Some(m),
            }),
        )
        .await?;
    }
    say("ZJ-PLAT-LS, Lishui's inclusion platform, opened 1,000 residents' personal accounts in one bulk transaction (custodial: the platform's keys until a resident rotates them); the regulator approved bus and cycling methodologies");
    let today = carbon_proto::dates::date_of(carbon_client::ops::now_ms());
    let mut day = today;
    let mut years = std::collections::BTreeSet::new();
    for d in 0..7u64 {
        years.insert(day / 10_000);
        for (m, (code, _, _)) in INCLUSION_METHODOLOGIES.iter().enumerate() {
            let rides = work.join(format!("rides-{code}-{day}.csv"));
            let mut text = String::from("account_id,grams\n");
            for i in 1..=1_000u64 {
                text.push_str(&format!("LS-P-{i:06},{}\n", demo_grams(m, i, d)));
            }
            write_file(&rides, &text)?;
            ctx.actor = Some(PLATFORM.into());
            let rec = Bulk::Record {
                methodology: code.to_string(),
                date: day,
            };
            all_committed(bulk_run(ctx, &rides, &rec, &BulkArgs::default()).await?)?;
        }
        day = carbon_proto::dates::date_of(
            carbon_proto::dates::start_ms(day).saturating_sub(86_400_000),
        );
    }
    let who = carbon_client::ops::ReadAs {
        account: PLATFORM.into(),
        key: ctx
            .keys_for(PLATFORM)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::local("no demo key for ZJ-PLAT-LS"))?,
    };
    let p = ctx.client.points("LS-P-000001", 0, &who).await?;
    let grams: u64 = p.points.iter().map(|c| c.grams).sum();
    say(format!("recorded a week of bus and cycling reductions for the 1,000 residents (14 bulk transactions of 1,000 rows); resident LS-P-000001 has {grams} g of carbon points"));
    let mut phcer = Vec::new();
    for year in &years {
        for (code, _, _) in INCLUSION_METHODOLOGIES {
            let op = Op::ConvertReductions(pb::ConvertReductions {
                platform_id: PLATFORM.into(),
                methodology: code.into(),
                year: *year,
            });
            match ok(ctx, REG, op).await {
                Ok(o) => {
                    let fx = o.effects.unwrap_or_default();
                    let class = format!("PHCER:{year}:{code}");
                    phcer.push((class, fx.grams_converted / 1_000_000));
                }
                Err(ClientError::Rejected {
                    code: ErrorCode::NothingToConvert,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    sell_and_cancel_phcer(ctx, &phcer).await
}

/// The platform sells its PHCER to the Anji pilot (a trade both sign), which cancels them.
async fn sell_and_cancel_phcer(ctx: &mut Ctx, phcer: &[(String, u64)]) -> Res<()> {
    let total: u64 = phcer.iter().map(|(_, q)| q).sum();
    for (class, q) in phcer {
        ctx.actor = Some(PLATFORM.into());
        ctx.write_signed_by(
            Op::Trade(pb::Trade {
                seller: PLATFORM.into(),
                buyer: PILOT.into(),
                unit_class: Some(cls(class)?),
                quantity: *q,
                price_fen: 6_000,
                exchange_ref: "丽水碳普惠-安吉".into(),
            }),
            vec![PLATFORM.into(), PILOT.into()],
        )
        .await?;
        let op = Op::Cancel(pb::Cancel {
            holder: PILOT.into(),
            unit_class: Some(cls(class)?),
            quantity: *q,
            beneficiary: "湖州安吉余村零碳示范村".into(),
            purpose: "丽水居民绿色出行减排量（碳普惠）用于村域碳中和".into(),
            mitigation_purpose: 0,
        });
        ok(ctx, PILOT, op).await?;
    }
    say(format!(
        "the regulator converted the whole tonnes into {total} PHCER ({}); ZJ-PLAT-LS sold them to ZJ-PILOT-AJ at 60.00 yuan, which cancelled them",
        phcer.iter().map(|(c, q)| format!("{q} {c}")).collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

fn all_committed(s: super::inclusion::Summary) -> Res<()> {
    if s.bad_rows + s.refused_rows + s.unknown > 0 {
        return Err(ClientError::local(format!(
            "a bulk run of the demo did not commit every row: {} bad, {} refused, {} unknown",
            s.bad_rows, s.refused_rows, s.unknown
        )));
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text).map_err(|e| ClientError::local(format!("{}: {e}", path.display())))
}

/// Tables: the 2025 compliance records with account names, and the market statistics.
async fn print_tables(ctx: &mut Ctx, names: &BTreeMap<String, String>) -> Res<()> {
    let r = ctx.client.compliance(2025, "").await?;
    let mut rows = show::compliance_rows(&r.records);
    for row in &mut rows {
        let name = names.get(&row[0]).cloned().unwrap_or_default();
        row.insert(1, name);
    }
    let mut header = show::COMPLIANCE_HEADER.to_vec();
    header.insert(1, "name");
    println!("\nCompliance 2025");
    println!("{}", show::table(&header, rows));
    // The regulator's view: today's trades too (the public sees complete days only).
    let reg = as_regulator(ctx)?;
    let days = ctx.client.market_stats(None, 0, 0, Some(&reg)).await?;
    println!("Market statistics");
    println!(
        "{}",
        show::table(&show::MARKET_HEADER, show::market_rows(&days))
    );
    Ok(())
}

pub fn cea2025() -> pb::UnitClass {
    pb::UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: 2025,
        project_id: String::new(),
    }
}

/// Reads as the regulator (the demo's figures include today's trades, which the public sees only
/// from tomorrow on).
fn as_regulator(ctx: &mut Ctx) -> Res<carbon_client::ops::ReadAs> {
    ctx.actor = Some(REG.into());
    ctx.read_as()
}
