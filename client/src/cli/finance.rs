//! Repo (回购) and lending (借碳) commands: create, close, and list by party.

use super::ctx::{Ctx, Res};
use super::show;
use crate::{write, LoanCmd, RepoCmd};
use carbon_client::ops::{class_label, parse_class};
use carbon_proto::dates::format_date;
use carbon_proto::v1::{self as pb, tx_body::Operation as Op};

pub async fn repo(ctx: &mut Ctx, cmd: RepoCmd) -> Res<()> {
    match cmd {
        RepoCmd::Create {
            seller,
            buyer,
            class,
            quantity,
            sale_price_fen,
            repurchase_price_fen,
            repurchase_date,
            contract,
        } => {
            let op = Op::Repo(pb::Repo {
                seller,
                buyer,
                unit_class: Some(parse_class(&class)?),
                quantity,
                sale_price_fen,
                repurchase_price_fen,
                repurchase_date,
                contract_ref: contract,
            });
            write(ctx, op).await
        }
        RepoCmd::Repurchase { id } => {
            write(ctx, Op::Repurchase(pb::Repurchase { repo_id: id })).await
        }
        RepoCmd::Substitute {
            id,
            replaced_class,
            replaced_quantity,
            new_class,
            new_quantity,
            seller,
            buyer,
        } => {
            let op = Op::SubstituteRepo(pb::SubstituteRepo {
                repo_id: id,
                replaced_class: Some(parse_class(&replaced_class)?),
                replaced_quantity,
                new_class: Some(parse_class(&new_class)?),
                new_quantity,
            });
            if let Some(o) = ctx.write_signed_by(op, vec![seller, buyer]).await? {
                show::outcome(&o, ctx.json);
            }
            Ok(())
        }
        RepoCmd::Default { id } => {
            write(ctx, Op::RepoDefault(pb::RepoDefault { repo_id: id })).await
        }
        RepoCmd::List { party } => {
            let who = ctx.read_as()?;
            let repos = ctx.client.repos(&party, &who).await?;
            if ctx.json {
                show::json(&repos);
                return Ok(());
            }
            let rows = repos
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.status()
                            .as_str_name()
                            .trim_start_matches("REPO_STATUS_")
                            .to_lowercase(),
                        r.seller.clone(),
                        r.buyer.clone(),
                        class_label(&r.unit_class.clone().unwrap_or_default()),
                        r.quantity.to_string(),
                        show::yuan(r.sale_price_fen),
                        show::yuan(r.repurchase_price_fen),
                        format_date(r.repurchase_date),
                        r.contract_ref.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                show::table(
                    &[
                        "id",
                        "status",
                        "seller",
                        "buyer",
                        "class",
                        "units",
                        "sale CNY/t",
                        "repurchase CNY/t",
                        "repurchase date",
                        "contract"
                    ],
                    rows
                )
            );
            Ok(())
        }
    }
}

pub async fn loan(ctx: &mut Ctx, cmd: LoanCmd) -> Res<()> {
    match cmd {
        LoanCmd::Create {
            lender,
            borrower,
            class,
            quantity,
            fee_fen,
            return_date,
            contract,
        } => {
            let op = Op::Lend(pb::Lend {
                lender,
                borrower,
                unit_class: Some(parse_class(&class)?),
                quantity,
                fee_fen,
                return_date,
                contract_ref: contract,
            });
            write(ctx, op).await
        }
        LoanCmd::Return { id, quantity } => {
            write(
                ctx,
                Op::ReturnLoan(pb::ReturnLoan {
                    loan_id: id,
                    quantity,
                }),
            )
            .await
        }
        LoanCmd::List { party, overdue } => {
            let who = ctx.read_as()?;
            let loans = ctx
                .client
                .loans(party.as_deref().unwrap_or(""), overdue, &who)
                .await?;
            if ctx.json {
                show::json(&loans);
                return Ok(());
            }
            let rows = loans
                .iter()
                .map(|l| {
                    let status = match (l.status(), l.overdue) {
                        (_, true) => "OVERDUE".to_string(),
                        (s, false) => s
                            .as_str_name()
                            .trim_start_matches("LOAN_STATUS_")
                            .to_lowercase(),
                    };
                    vec![
                        l.id.to_string(),
                        status,
                        l.lender.clone(),
                        l.borrower.clone(),
                        class_label(&l.unit_class.clone().unwrap_or_default()),
                        l.quantity.to_string(),
                        l.returned.to_string(),
                        show::yuan(l.fee_fen),
                        format_date(l.return_date),
                        l.contract_ref.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                show::table(
                    &[
                        "id",
                        "status",
                        "lender",
                        "borrower",
                        "class",
                        "units",
                        "returned",
                        "fee CNY",
                        "return date",
                        "contract"
                    ],
                    rows
                )
            );
            Ok(())
        }
    }
}
