//! The regulator's and account holders' list reads: vintages, allocations, accounts, account
//! statements (paged through to the end), and the penalty reference price.

use super::ctx::{Ctx, Res};
use super::show;
use carbon_client::ops::class_label;
use carbon_proto::dates::format_date;
use carbon_proto::v1 as pb;
use std::path::PathBuf;

pub async fn vintages(ctx: &mut Ctx) -> Res<()> {
    let who = ctx.read_as()?;
    let v = ctx.client.vintages(&who).await?;
    if ctx.json {
        show::json(&v);
        return Ok(());
    }
    let rows = v
        .iter()
        .map(|v| {
            vec![
                v.vintage.to_string(),
                v.cap.to_string(),
                v.allocated.to_string(),
                v.remaining.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(&["vintage", "cap", "allocated", "remaining"], rows)
    );
    Ok(())
}

pub async fn allocations(ctx: &mut Ctx, vintage: u32, enterprise: &str) -> Res<()> {
    let who = ctx.read_as()?;
    let a = ctx.client.allocations(vintage, enterprise, &who).await?;
    if ctx.json {
        show::json(&a);
        return Ok(());
    }
    let rows = a
        .iter()
        .map(|a| {
            vec![
                a.enterprise_id.clone(),
                a.vintage.to_string(),
                a.pre_allocated.to_string(),
                if a.trued_up {
                    a.final_quantity.to_string()
                } else {
                    "-".into()
                },
                a.granted.to_string(),
                a.created.to_string(),
                a.withdrawn.to_string(),
                a.shortfall_deducted.to_string(),
                a.obligation_added.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(
            &[
                "enterprise",
                "vintage",
                "pre-allocated",
                "final",
                "granted",
                "created",
                "withdrawn",
                "shortfall deducted",
                "obligation added"
            ],
            rows
        )
    );
    Ok(())
}

pub const ACCOUNT_HEADER: [&str; 6] = ["id", "role", "name", "region", "status", "threshold"];

pub async fn accounts(
    ctx: &mut Ctx,
    filter: pb::ListAccountsRequest,
    csv: Option<PathBuf>,
) -> Res<()> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let who = ctx.read_as()?;
        let page = ctx
            .client
            .accounts_page(
                pb::ListAccountsRequest {
                    after_account_id: after.clone(),
                    ..filter.clone()
                },
                &who,
            )
            .await?;
        all.extend(page.accounts);
        if page.next_after_account_id.is_empty() {
            break;
        }
        after = page.next_after_account_id;
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|a| {
            vec![
                a.account_id.clone(),
                a.role()
                    .as_str_name()
                    .trim_start_matches("ROLE_")
                    .to_lowercase(),
                a.name.clone(),
                a.region.clone(),
                a.status()
                    .as_str_name()
                    .trim_start_matches("ACCOUNT_STATUS_")
                    .to_lowercase(),
                a.threshold.to_string(),
            ]
        })
        .collect();
    if let Some(path) = csv {
        show::csv_out(&path, &ACCOUNT_HEADER, &rows)?;
    }
    if ctx.json {
        show::json(&all);
    } else {
        println!("{}", show::table(&ACCOUNT_HEADER, rows));
    }
    Ok(())
}

pub const STATEMENT_HEADER: [&str; 10] = [
    "date",
    "tx id",
    "operation",
    "counterparty",
    "unit class",
    "serial ranges",
    "in",
    "out",
    "balance after",
    "available after",
];

pub fn statement_rows(lines: &[pb::StatementLine]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| {
            let ranges = l
                .ranges
                .iter()
                .map(|r| format!("{}..={}", r.first, r.last))
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                format_date(l.date),
                hex::encode(&l.tx_id),
                l.operation.clone(),
                l.counterparty.clone(),
                class_label(&l.unit_class.clone().unwrap_or_default()),
                ranges,
                l.quantity_in.to_string(),
                l.quantity_out.to_string(),
                l.balance_after.to_string(),
                l.available_after.to_string(),
            ]
        })
        .collect()
}

pub async fn statement(
    ctx: &mut Ctx,
    account: &str,
    from: Option<u32>,
    to: Option<u32>,
    csv: Option<PathBuf>,
) -> Res<()> {
    let mut lines = Vec::new();
    let mut token = Vec::new();
    loop {
        let who = ctx.read_as()?;
        let page = ctx
            .client
            .statement_page(
                pb::GetStatementRequest {
                    account_id: account.into(),
                    from_date: from.unwrap_or(0),
                    to_date: to.unwrap_or(0),
                    page_token: token,
                    limit: 0,
                    ..Default::default()
                },
                &who,
            )
            .await?;
        lines.extend(page.lines);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let rows = statement_rows(&lines);
    if let Some(path) = &csv {
        show::csv_out(path, &STATEMENT_HEADER, &rows)?;
        eprintln!("{} lines written to {}", rows.len(), path.display());
    }
    if ctx.json {
        show::json(&lines);
    } else {
        let period = |d: Option<u32>| d.map_or("…".to_string(), format_date);
        println!(
            "statement of {account}, {} to {} (CST)",
            period(from),
            period(to)
        );
        println!("{}", show::table(&STATEMENT_HEADER, rows));
    }
    Ok(())
}

pub async fn reference_price(ctx: &mut Ctx, deadline: u32) -> Res<()> {
    let who = ctx.read_as_if_given()?;
    let r = ctx.client.reference_price(deadline, who.as_ref()).await?;
    if ctx.json {
        show::json(&r);
        return Ok(());
    }
    println!(
        "deadline {}: CEA trades of {} to {} (the one month ending on the deadline, CST)",
        format_date(deadline),
        format_date(r.first_date),
        format_date(r.last_date)
    );
    println!(
        "{}",
        show::table(&show::MARKET_HEADER, show::market_rows(&r.days))
    );
    if r.withheld {
        println!(
            "the public sees no price yet: the complete days of the window hold too few trades \
             (the regulator sees it; the close uses every trade of the window)"
        );
    } else if r.traded {
        println!(
            "reference price {} CNY/t (volume {}, turnover {} CNY)",
            show::yuan(r.reference_price_fen),
            r.volume,
            show::yuan(r.turnover_fen)
        );
    } else {
        println!("no CEA traded in the window: a close needs a fallback price");
    }
    Ok(())
}
