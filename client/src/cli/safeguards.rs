//! Rule 15's commands: `transfer` (which says when a pending transfer executes), `transfer
//! cancel`, `trusted add|remove|list`, `limit`.

use super::ctx::{Ctx, Res};
use super::show;
use crate::{TransferCmd, TrustedCmd};
use carbon_client::ops::{class_label, parse_class};
use carbon_client::ClientError;
use carbon_proto::dates::{date_of, format_date};
use carbon_proto::v1::{self as pb, tx_body::Operation as Op, Outcome, UnitKind};

/// A ledger time as China Standard Time, to the second.
pub fn cst(ms: u64) -> String {
    let secs_of_day = (ms / 1_000 + 8 * 3_600) % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} CST",
        format_date(date_of(ms)),
        secs_of_day / 3_600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

fn pending_note(o: &Outcome) {
    if let Some(fx) = o.effects.as_ref().filter(|fx| fx.pending_transfer_id != 0) {
        println!(
            "pending transfer {} — pending until {}; the sender may cancel it until then: carbonctl transfer cancel {} --as SENDER",
            fx.pending_transfer_id,
            cst(fx.due_ms),
            fx.pending_transfer_id
        );
    }
}

pub async fn transfer(
    ctx: &mut Ctx,
    sub: Option<TransferCmd>,
    from: Option<String>,
    to: Option<String>,
    class: Option<String>,
    quantity: Option<u64>,
) -> Res<()> {
    if let Some(TransferCmd::Cancel { id }) = sub {
        let op = Op::CancelPendingTransfer(pb::CancelPendingTransfer {
            pending_transfer_id: id,
        });
        if let Some(o) = ctx.write(op).await? {
            show::outcome(&o, ctx.json);
            if !ctx.json {
                println!("pending transfer {id} cancelled: its units are available again");
            }
        }
        return Ok(());
    }
    let (Some(from), Some(to), Some(class), Some(quantity)) = (from, to, class, quantity) else {
        return Err(ClientError::local(
            "usage: carbonctl transfer FROM TO CLASS QUANTITY, or carbonctl transfer cancel ID",
        ));
    };
    let op = Op::Transfer(pb::Transfer {
        from_account: from,
        to_account: to,
        unit_class: Some(parse_class(&class)?),
        quantity,
    });
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
        if !ctx.json {
            pending_note(&o);
        }
    }
    Ok(())
}

pub async fn trusted(ctx: &mut Ctx, cmd: TrustedCmd) -> Res<()> {
    match cmd {
        TrustedCmd::Add { account, trusted } => {
            let op = Op::TrustAccount(pb::TrustAccount {
                account_id: account,
                trusted_account_id: trusted.clone(),
            });
            if let Some(o) = ctx.write(op).await? {
                show::outcome(&o, ctx.json);
                if !ctx.json {
                    let when = o.effects.as_ref().map_or(0, |fx| fx.due_ms);
                    println!("{trusted} is trusted from {}", cst(when));
                }
            }
            Ok(())
        }
        TrustedCmd::Remove { account, trusted } => {
            let op = Op::UntrustAccount(pb::UntrustAccount {
                account_id: account,
                trusted_account_id: trusted,
            });
            if let Some(o) = ctx.write(op).await? {
                show::outcome(&o, ctx.json);
            }
            Ok(())
        }
        TrustedCmd::List { account } => list(ctx, &account).await,
    }
}

pub async fn limit(
    ctx: &mut Ctx,
    account: String,
    kind: &str,
    limit: Option<u64>,
    unlimited: bool,
) -> Res<()> {
    let upper = kind.to_uppercase();
    let k = UnitKind::from_str_name(&upper)
        .or_else(|| UnitKind::from_str_name(&format!("UNIT_KIND_{upper}")))
        .filter(|k| *k != UnitKind::Unspecified)
        .ok_or_else(|| ClientError::local(format!("unknown unit kind {kind:?}")))?;
    if unlimited == limit.is_some() {
        return Err(ClientError::local("give either a LIMIT or --unlimited"));
    }
    let op = Op::SetTransferLimit(pb::SetTransferLimit {
        account_id: account,
        kind: k as i32,
        daily_limit: limit.unwrap_or(0),
        unlimited,
    });
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
        if !ctx.json {
            let when = o.effects.as_ref().map_or(0, |fx| fx.due_ms);
            println!("the new limit applies from {}", cst(when));
        }
    }
    Ok(())
}

async fn list(ctx: &mut Ctx, account: &str) -> Res<()> {
    let who = ctx.read_as()?;
    let s = ctx.client.safeguards(account, &who).await?;
    if ctx.json {
        show::json(&s);
        return Ok(());
    }
    let settings = s.settings.unwrap_or_default();
    if settings.enabled {
        println!(
            "safeguards on: transfers to untrusted accounts wait {} s, trusted-list additions and limit raises {} s (ledger time {})",
            settings.transfer_delay_ms / 1_000,
            settings.trusted_list_delay_ms / 1_000,
            cst(s.ledger_time_ms)
        );
    } else {
        println!("safeguards are off in this registry's genesis: transfers are immediate");
    }
    let trusted = s
        .trusted
        .iter()
        .map(|t| {
            vec![
                t.trusted_account_id.clone(),
                cst(t.effective_ms),
                if t.effective { "yes" } else { "not yet" }.into(),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(&["trusted account", "effective from", "effective"], trusted)
    );
    let limits = s
        .limits
        .iter()
        .map(|l| {
            vec![
                l.kind()
                    .as_str_name()
                    .trim_start_matches("UNIT_KIND_")
                    .to_string(),
                if l.limited {
                    l.daily_limit.to_string()
                } else {
                    "none".into()
                },
                l.sent_today.to_string(),
                if l.raise_pending {
                    format!(
                        "{} from {}",
                        if l.raise_to_unlimited {
                            "none".to_string()
                        } else {
                            l.raised_limit.to_string()
                        },
                        cst(l.raise_effective_ms)
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(
            &["kind", "daily limit", "sent today", "raise pending"],
            limits
        )
    );
    let pending = s
        .pending
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.status()
                    .as_str_name()
                    .trim_start_matches("PENDING_TRANSFER_STATUS_")
                    .to_lowercase(),
                p.from_account.clone(),
                p.to_account.clone(),
                class_label(&p.unit_class.clone().unwrap_or_default()),
                p.quantity.to_string(),
                cst(p.due_ms),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(
            &[
                "pending transfer",
                "status",
                "from",
                "to",
                "class",
                "units",
                "due"
            ],
            pending
        )
    );
    Ok(())
}
