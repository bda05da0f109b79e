//! Handlers of the command families that need more than one call or a table.

use super::ctx::{Ctx, Res};
use super::show;
use crate::{
    credit_kind, pubkeys, role, write, AccountCmd, ChainCmd, ClusterCmd, ComplianceCmd, PledgeCmd,
    ProjectCmd, StatusArg, TxCmd,
};
use carbon_client::keys::Key;
use carbon_client::ops::class_label;
use carbon_client::txfile::TxFile;
use carbon_client::ClientError;
use carbon_proto::v1::{self as pb, tx_body::Operation as Op};
use ed25519_dalek::Signer;
use prost::Message;
use std::io::Write;
use std::path::PathBuf;

fn status_word(s: pb::AccountStatus) -> &'static str {
    match s {
        pb::AccountStatus::Open => "open",
        pb::AccountStatus::Suspended => "suspended",
        pb::AccountStatus::Closed => "closed",
        pb::AccountStatus::Unspecified => "?",
    }
}

pub async fn account(ctx: &mut Ctx, cmd: AccountCmd) -> Res<()> {
    match cmd {
        AccountCmd::Open {
            id,
            role: r,
            name,
            region,
            pubkey,
            pubkey_file,
            threshold,
        } => {
            let public_keys = pubkeys(&pubkey, &pubkey_file)?;
            let op = Op::OpenAccount(pb::OpenAccount {
                account_id: id,
                role: role(r) as i32,
                name,
                region,
                public_keys,
                threshold,
            });
            write(ctx, op).await
        }
        AccountCmd::Show { id } => {
            let a = ctx.client.account(&id).await?;
            if ctx.json {
                show::json(&a);
            } else {
                let rows = vec![
                    vec!["id".into(), a.account_id.clone()],
                    vec![
                        "role".into(),
                        a.role()
                            .as_str_name()
                            .trim_start_matches("ROLE_")
                            .to_lowercase(),
                    ],
                    vec!["name".into(), a.name.clone()],
                    vec!["region".into(), a.region.clone()],
                    vec!["status".into(), status_word(a.status()).into()],
                    vec![
                        "keys".into(),
                        a.public_keys
                            .iter()
                            .map(hex::encode)
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ],
                    vec!["threshold".into(), a.threshold.to_string()],
                    vec![
                        "outstanding shortfall".into(),
                        a.outstanding_shortfall.to_string(),
                    ],
                ];
                println!("{}", show::table(&["field", "value"], rows));
            }
            Ok(())
        }
        AccountCmd::Keys {
            id,
            pubkey,
            pubkey_file,
            threshold,
        } => {
            let public_keys = pubkeys(&pubkey, &pubkey_file)?;
            write(
                ctx,
                Op::UpdateKeys(pb::UpdateKeys {
                    account_id: id,
                    public_keys,
                    threshold,
                }),
            )
            .await
        }
        AccountCmd::Suspend { id, reason } => {
            write(
                ctx,
                Op::SuspendAccount(pb::SuspendAccount {
                    account_id: id,
                    reason,
                }),
            )
            .await
        }
        AccountCmd::Reinstate { id, reason } => {
            write(
                ctx,
                Op::ReinstateAccount(pb::ReinstateAccount {
                    account_id: id,
                    reason,
                }),
            )
            .await
        }
        AccountCmd::Close { id } => {
            write(ctx, Op::CloseAccount(pb::CloseAccount { account_id: id })).await
        }
        AccountCmd::List {
            role: r,
            region,
            status,
            csv,
        } => {
            let filter = pb::ListAccountsRequest {
                role: r.map_or(0, |r| role(r) as i32),
                region,
                status: status.map_or(0, |s| match s {
                    StatusArg::Open => pb::AccountStatus::Open as i32,
                    StatusArg::Suspended => pb::AccountStatus::Suspended as i32,
                    StatusArg::Closed => pb::AccountStatus::Closed as i32,
                }),
                ..Default::default()
            };
            super::reads::accounts(ctx, filter, csv).await
        }
    }
}

pub async fn project(ctx: &mut Ctx, cmd: ProjectCmd) -> Res<()> {
    match cmd {
        ProjectCmd::Propose {
            id,
            owner,
            kind,
            name,
            methodology,
            region,
            start,
            end,
        } => {
            let op = Op::ProposeProject(pb::ProposeProject {
                project_id: id,
                owner_id: owner,
                kind: credit_kind(kind) as i32,
                name,
                methodology,
                region,
                crediting_start_year: start,
                crediting_end_year: end,
            });
            write(ctx, op).await
        }
        ProjectCmd::Approve { id, buffer_bp } => {
            write(
                ctx,
                Op::ApproveProject(pb::ApproveProject {
                    project_id: id,
                    buffer_share_bp: buffer_bp,
                }),
            )
            .await
        }
        ProjectCmd::Reject { id, reason } => {
            write(
                ctx,
                Op::RejectProject(pb::RejectProject {
                    project_id: id,
                    reason,
                }),
            )
            .await
        }
        ProjectCmd::Show { id } => {
            let r = ctx.client.project(&id).await?;
            if ctx.json {
                show::json(&r);
                return Ok(());
            }
            let p = r.project.unwrap_or_default();
            println!(
                "{} {} ({}) {} {}..={} status {:?} buffer {} bp, issued {}",
                p.project_id,
                p.name,
                p.kind().as_str_name().trim_start_matches("UNIT_KIND_"),
                p.methodology,
                p.crediting_start_year,
                p.crediting_end_year,
                p.status(),
                p.buffer_share_bp,
                p.issued_total
            );
            let rows = r
                .issuances
                .iter()
                .map(|i| {
                    let r = |x: &Option<pb::SerialRange>| {
                        x.as_ref()
                            .map_or(String::new(), |r| format!("{}..={}", r.first, r.last))
                    };
                    vec![
                        i.monitoring_year.to_string(),
                        i.quantity.to_string(),
                        r(&i.to_owner),
                        r(&i.to_buffer),
                        i.sequence.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}",
                show::table(
                    &[
                        "year",
                        "quantity",
                        "owner serials",
                        "buffer serials",
                        "sequence"
                    ],
                    rows
                )
            );
            Ok(())
        }
    }
}

pub async fn pledge(ctx: &mut Ctx, cmd: PledgeCmd) -> Res<()> {
    match cmd {
        PledgeCmd::Create {
            pledgor,
            pledgee,
            class,
            quantity,
            secured_fen,
            maturity,
            contract,
        } => {
            let op = Op::Pledge(pb::Pledge {
                pledgor,
                pledgee,
                unit_class: Some(carbon_client::ops::parse_class(&class)?),
                quantity,
                secured_amount_fen: secured_fen,
                maturity_date: maturity,
                contract_ref: contract,
            });
            write(ctx, op).await
        }
        PledgeCmd::Release { id, quantity } => {
            write(
                ctx,
                Op::ReleasePledge(pb::ReleasePledge {
                    pledge_id: id,
                    quantity,
                }),
            )
            .await
        }
        PledgeCmd::TopUp {
            id,
            quantity,
            pledgor,
            pledgee,
        } => {
            let op = Op::TopUpPledge(pb::TopUpPledge {
                pledge_id: id,
                quantity,
            });
            if let Some(o) = ctx.write_signed_by(op, vec![pledgor, pledgee]).await? {
                show::outcome(&o, ctx.json);
            }
            Ok(())
        }
        PledgeCmd::Enforce { id } => {
            write(ctx, Op::EnforcePledge(pb::EnforcePledge { pledge_id: id })).await
        }
        PledgeCmd::List { holder, pledgee } => {
            let who = ctx.read_as()?;
            let list = ctx.client.encumbrances(&holder, &pledgee, &who).await?;
            if ctx.json {
                show::json(&list);
                return Ok(());
            }
            let rows = list
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        format!("{:?}", e.kind()).to_lowercase(),
                        format!("{:?}", e.status()).to_lowercase(),
                        e.holder.clone(),
                        e.pledgee.clone(),
                        class_label(&e.unit_class.clone().unwrap_or_default()),
                        e.original_quantity.to_string(),
                        e.remaining_quantity.to_string(),
                        show::yuan(e.secured_amount_fen),
                        e.maturity_date.to_string(),
                        e.reference.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                show::table(
                    &[
                        "id",
                        "kind",
                        "status",
                        "holder",
                        "pledgee",
                        "class",
                        "original",
                        "remaining",
                        "secured CNY",
                        "maturity",
                        "reference"
                    ],
                    rows
                )
            );
            Ok(())
        }
    }
}

pub async fn compliance(ctx: &mut Ctx, cmd: ComplianceCmd) -> Res<()> {
    match cmd {
        ComplianceCmd::Show {
            year,
            enterprise,
            csv,
        } => {
            let r = ctx.client.compliance(year, &enterprise).await?;
            let rows = show::compliance_rows(&r.records);
            if let Some(path) = csv {
                show::csv_out(&path, &show::COMPLIANCE_HEADER, &rows)?;
            }
            if ctx.json {
                show::json(&r);
            } else {
                println!(
                    "compliance year {year} ({})",
                    if r.year_closed { "closed" } else { "open" }
                );
                println!("{}", show::table(&show::COMPLIANCE_HEADER, rows));
            }
            Ok(())
        }
        ComplianceCmd::ReferencePrice { deadline } => {
            super::reads::reference_price(ctx, deadline).await
        }
        ComplianceCmd::Close {
            year,
            deadline,
            multiplier,
            fallback_price_fen,
        } => {
            let op = Op::CloseComplianceYear(pb::CloseComplianceYear {
                year,
                deadline_date: deadline,
                penalty_multiplier: multiplier,
                fallback_price_fen,
            });
            write(ctx, op).await
        }
    }
}

pub async fn holdings(ctx: &mut Ctx, account: &str, csv: Option<PathBuf>) -> Res<()> {
    let who = ctx.read_as()?;
    let h = ctx.client.holdings(account, &who).await?;
    if ctx.json {
        show::json(&h);
        return Ok(());
    }
    let balances: Vec<Vec<String>> = h
        .balances
        .iter()
        .map(|b| {
            vec![
                class_label(&b.unit_class.clone().unwrap_or_default()),
                b.available.to_string(),
                b.pledged.to_string(),
                b.frozen.to_string(),
                b.repo.to_string(),
                b.pending_transfer.to_string(),
            ]
        })
        .collect();
    let blocks: Vec<Vec<String>> = h
        .blocks
        .iter()
        .map(|b| {
            let r = b.range.clone().unwrap_or_default();
            vec![
                class_label(&r.unit_class.clone().unwrap_or_default()),
                r.first.to_string(),
                r.last.to_string(),
                (r.last - r.first + 1).to_string(),
                format!("{:?}", b.state()).to_lowercase(),
                if b.encumbrance_id == 0 {
                    String::new()
                } else {
                    b.encumbrance_id.to_string()
                },
            ]
        })
        .collect();
    let header = [
        "class",
        "first serial",
        "last serial",
        "units",
        "state",
        "encumbrance",
    ];
    if let Some(path) = csv {
        show::csv_out(&path, &header, &blocks)?;
    }
    println!(
        "{}",
        show::table(
            &[
                "class",
                "available",
                "pledged",
                "frozen",
                "repo (bought)",
                "pending transfer",
            ],
            balances
        )
    );
    println!("{}", show::table(&header, blocks));
    Ok(())
}

/// A full 32-byte tx id in hex.
fn tx_id_arg(s: &str) -> Res<Vec<u8>> {
    match hex::decode(s.trim()) {
        Ok(id) if id.len() == 32 => Ok(id),
        _ => Err(ClientError::local(format!(
            "{s:?} is not a transaction id: give all 64 hex characters"
        ))),
    }
}

pub async fn history(ctx: &mut Ctx, account: &str, from: &str, limit: u32) -> Res<()> {
    let from = match from.parse::<u64>() {
        Ok(seq) => seq,
        Err(_) => {
            let id = tx_id_arg(from)?;
            let t = ctx.client.transaction(&id, None).await?;
            t.outcome.map_or(0, |o| o.sequence)
        }
    };
    let who = ctx.read_as()?;
    let txs = ctx.client.history(account, from, limit, &who).await?;
    if ctx.json {
        show::json(&txs);
        return Ok(());
    }
    let rows = txs
        .iter()
        .map(|t| {
            let o = t.outcome.clone().unwrap_or_default();
            let op =
                t.tx.as_ref()
                    .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok())
                    .and_then(|b| b.operation)
                    .map_or("?".to_string(), |op| op_name(&op));
            vec![
                o.sequence.to_string(),
                carbon_proto::dates::format_date(carbon_proto::dates::date_of(o.timestamp_ms)),
                op,
                o.code().as_str_name().to_string(),
                o.message.clone(),
                hex::encode(&o.tx_id),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(
            &[
                "sequence",
                "date",
                "operation",
                "result",
                "message",
                "tx id"
            ],
            rows
        )
    );
    Ok(())
}

pub fn op_name(op: &Op) -> String {
    carbon_proto::names::operation(op).to_string()
}

/// Prints what a body does, decoded from the body itself.
fn print_body(body: &pb::TxBody) {
    let rows = carbon_client::txfile::describe(body)
        .into_iter()
        .map(|(k, v)| vec![k, v])
        .collect();
    println!("{}", show::table(&["field", "value"], rows));
}

pub async fn tx(ctx: &mut Ctx, cmd: TxCmd) -> Res<()> {
    match cmd {
        TxCmd::Sign { file } => {
            let mut f = TxFile::load(&file)?;
            println!(
                "signing tx {} — what it does, decoded from its body:",
                f.tx_id
            );
            print_body(&f.body()?);
            let mut keys: Vec<Key> = Vec::new();
            if let Some(a) = ctx.actor.clone() {
                keys.extend(ctx.keys_for(&a)?);
            } else {
                keys.extend(
                    ctx.keys
                        .iter()
                        .map(|p| Key::load(p))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| ClientError::local(e.to_string()))?,
                );
            }
            if keys.is_empty() {
                return Err(ClientError::local(
                    "give --key FILE (or --as ACCOUNT with --keys-dir)",
                ));
            }
            for k in &keys {
                f.sign(k)?;
            }
            f.save(&file)?;
            eprintln!("{} signature(s) on tx {}", f.signatures.len(), f.tx_id);
            Ok(())
        }
        TxCmd::Submit { file } => {
            let f = TxFile::load(&file)?;
            let answer = ctx.checked_submit(f.signed()?).await;
            if settled(&answer) && is_pending_file(&file) {
                match std::fs::remove_file(&file) {
                    Ok(()) => eprintln!("{}: settled, removed", file.display()),
                    Err(e) => eprintln!("{}: settled, but not removed: {e}", file.display()),
                }
            }
            if let Some(o) = answer? {
                show::outcome(&o, ctx.json);
            }
            Ok(())
        }
        TxCmd::Show { tx } if std::path::Path::new(&tx).is_file() => {
            let f = TxFile::load(std::path::Path::new(&tx))?;
            let body = f.body()?;
            if ctx.json {
                show::json(
                    &serde_json::json!({ "txId": f.tx_id, "body": body, "signatures": f.signatures }),
                );
                return Ok(());
            }
            println!("tx {} ({} signature(s)):", f.tx_id, f.signatures.len());
            print_body(&body);
            Ok(())
        }
        TxCmd::Show { tx } => {
            let id = tx_id_arg(&tx)?;
            let who = ctx.read_as_if_given()?;
            let t = ctx.client.transaction(&id, who.as_ref()).await?;
            let body =
                t.tx.as_ref()
                    .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok());
            if ctx.json {
                show::json(&serde_json::json!({ "body": body, "committed": t }));
            } else {
                match &body {
                    Some(b) => print_body(b),
                    None => println!(
                        "private transaction: only its place in the chain is shown (read --as a party or the regulator)"
                    ),
                }
                let o = t.outcome.unwrap_or_default();
                match o.message.as_str() {
                    "" => println!("result {}", o.code().as_str_name()),
                    m => println!("result {}: {m}", o.code().as_str_name()),
                }
                show::outcome(&o, false);
            }
            Ok(())
        }
    }
}

pub async fn trace(ctx: &mut Ctx, class: pb::UnitClass, serial: u64) -> Res<()> {
    let who = ctx.read_as_if_given()?;
    let t = ctx
        .client
        .trace(class.clone(), serial, who.as_ref())
        .await?;
    if ctx.json {
        show::json(&t);
        return Ok(());
    }
    let o = t.origin.unwrap_or_default();
    let r = o.range.unwrap_or_default();
    let op = t
        .created_by
        .as_ref()
        .and_then(|c| c.tx.as_ref())
        .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok())
        .and_then(|b| b.operation)
        .map_or("?".into(), |o| op_name(&o));
    println!(
        "{} serial {serial}: created by {op} at sequence {} (tx {}), in block {}..={}",
        class_label(&class),
        o.sequence,
        hex::encode(&o.tx_id),
        r.first,
        r.last
    );
    match t.retired {
        Some(b) => println!(
            "retired: {:?} by {} at sequence {}",
            b.reason(),
            b.account_id,
            b.sequence
        ),
        None => println!("not retired: held in some account (holders are private)"),
    }
    Ok(())
}

pub async fn disclosure(ctx: &mut Ctx, year: u32, csv: Option<PathBuf>) -> Res<()> {
    let d = ctx.client.disclosure(year).await?;
    if ctx.json {
        show::json(&d);
        return Ok(());
    }
    let rows = show::compliance_rows(&d.compliance);
    if let Some(path) = csv {
        show::csv_out(&path, &show::COMPLIANCE_HEADER, &rows)?;
    }
    println!("compliance results {year}");
    println!("{}", show::table(&show::COMPLIANCE_HEADER, rows));
    let c = d
        .cancellations
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.holder.clone(),
                class_label(&c.unit_class.clone().unwrap_or_default()),
                c.quantity.to_string(),
                c.beneficiary.clone(),
                c.purpose.clone(),
            ]
        })
        .collect();
    println!("cancellations");
    println!(
        "{}",
        show::table(
            &["id", "holder", "class", "units", "beneficiary", "purpose"],
            c
        )
    );
    let i = d
        .issuances
        .iter()
        .map(|i| {
            vec![
                i.project_id.clone(),
                i.monitoring_year.to_string(),
                i.quantity.to_string(),
            ]
        })
        .collect();
    println!("issuances");
    println!(
        "{}",
        show::table(&["project", "monitoring year", "units"], i)
    );
    Ok(())
}

pub async fn watch(ctx: &mut Ctx, from: u64, count: Option<u64>) -> Res<()> {
    let who = ctx.read_as_if_given()?;
    let mut stream = ctx.client.watch(from, who.as_ref()).await?;
    let mut n = 0;
    while count.is_none_or(|c| n < c) {
        match stream.message().await {
            Ok(Some(t)) => {
                n += 1;
                if ctx.json {
                    let v = serde_json::to_value(&t)
                        .map(show::hexify)
                        .unwrap_or_default();
                    println!("{v}");
                } else {
                    let o = t.outcome.clone().unwrap_or_default();
                    let op =
                        t.tx.as_ref()
                            .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok())
                            .and_then(|b| b.operation)
                            .map_or("(private)".into(), |o| op_name(&o));
                    println!(
                        "{:>8} {:<22} {:<24} {}",
                        o.sequence,
                        op,
                        o.code().as_str_name(),
                        hex::encode(&o.tx_id)
                    );
                }
            }
            Ok(None) => break,
            Err(s) => return Err(ClientError::from_status(&s)),
        }
    }
    Ok(())
}

pub async fn chain(ctx: &mut Ctx, cmd: ChainCmd) -> Res<()> {
    match cmd {
        ChainCmd::Head => {
            let h = ctx.client.chain_head().await?;
            if ctx.json {
                show::json(&h);
            } else {
                println!(
                    "chain {} at sequence {} (log index {}): head {}",
                    h.chain_id,
                    h.sequence,
                    h.applied_index,
                    hex::encode(&h.chain_head)
                );
            }
            Ok(())
        }
        ChainCmd::Export { out } => {
            let who = ctx.read_as()?;
            let txs = ctx.client.export(u64::MAX, &who).await?;
            let mut f = std::fs::File::create(&out)
                .map_err(|e| ClientError::local(format!("{}: {e}", out.display())))?;
            for t in &txs {
                let line = carbon_proto::hex_json::export_line(t)
                    .map_err(|e| ClientError::local(e.to_string()))?;
                writeln!(f, "{line}").map_err(|e| ClientError::local(e.to_string()))?;
            }
            eprintln!("exported {} transactions to {}", txs.len(), out.display());
            Ok(())
        }
        ChainCmd::Verify { file, genesis } => {
            let g = crate::cli::demo::load_genesis(&genesis)?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ClientError::local(format!("{}: {e}", file.display())))?;
            let txs = carbon_proto::hex_json::read_export(&text)
                .map_err(|e| ClientError::local(format!("{}: {e}", file.display())))?;
            let head = carbon_proto::chain::verify_chain(&g, &txs)
                .map_err(|e| ClientError::rejected(pb::ErrorCode::BadSignature, e.to_string()))?;
            println!(
                "{} transactions verify (ids, signatures, every link); chain head {}",
                txs.len(),
                hex::encode(head)
            );
            eprintln!(
                "note: this checks links and signatures, not the rules: compare the head with the \
                 registry's (`carbonctl chain head`), or replay every transaction through the \
                 ledger with `carbon-node check {} --genesis {}` (a regulator's export)",
                file.display(),
                genesis.display()
            );
            Ok(())
        }
    }
}

/// An admin request for one use: valid for a minute (a node refuses more than five) and with a
/// fresh nonce (a node refuses a body it accepted before).
pub fn admin_request(chain: &str, action: pb::admin_body::Action, key: &Key) -> pb::AdminRequest {
    let body = pb::AdminBody {
        chain_id: chain.into(),
        valid_until_ms: carbon_client::ops::now_ms() + 60_000,
        nonce: carbon_client::ops::nonce(),
        action: Some(action),
    }
    .encode_to_vec();
    let sig = key
        .signing
        .sign(&carbon_proto::signing::admin_signing_hash(chain, &body));
    pb::AdminRequest {
        body,
        signature: sig.to_bytes().to_vec(),
    }
}

pub async fn cluster(ctx: &mut Ctx, cmd: ClusterCmd) -> Res<()> {
    let action = match cmd {
        ClusterCmd::Status => return super::cluster::status(ctx).await,
        ClusterCmd::Health { cluster } => return super::cluster::health(ctx, cluster).await,
        ClusterCmd::RotateAdminKey { new_key } => {
            let new = Key::load(&new_key).map_err(|e| ClientError::local(e.to_string()))?;
            let op = Op::RotateClusterAdminKey(pb::RotateClusterAdminKey {
                new_public_key: new.public_bytes().to_vec(),
            });
            return write(ctx, op).await;
        }
        ClusterCmd::Backup { out } => {
            let key = admin_key(ctx)?;
            let chain = ctx.client.chain_id().await?;
            let req = admin_request(
                &chain,
                pb::admin_body::Action::Backup(pb::BackupState {}),
                &key,
            );
            let stream = ctx.client.backup(req).await?;
            let saved = super::backup::save(stream, &out).await?;
            if ctx.json {
                show::json(&saved);
                return Ok(());
            }
            println!(
                "backup of log index {} (term {}, snapshot {}): {} bytes, blake3 {}, in {}",
                saved.last_log_index,
                saved.last_log_term,
                saved.snapshot_id,
                saved.file_bytes,
                hex::encode(&saved.file_blake3),
                out.display()
            );
            return Ok(());
        }
        ClusterCmd::AddLearner {
            node_id,
            peer_addr,
            client_addr,
        } => pb::admin_body::Action::AddLearner(pb::AddLearner {
            node_id,
            peer_address: peer_addr,
            client_address: client_addr,
        }),
        ClusterCmd::Voters { ids } => {
            pb::admin_body::Action::ChangeMembership(pb::ChangeMembership { voters: ids })
        }
    };
    let key = admin_key(ctx)?;
    let chain = ctx.client.chain_id().await?;
    let r = ctx
        .client
        .admin(admin_request(&chain, action, &key))
        .await?;
    super::cluster::print(&r.status.unwrap_or_default(), Vec::new());
    Ok(())
}

/// The cluster admin key: the first --key file.
pub fn admin_key(ctx: &Ctx) -> Res<Key> {
    ctx.keys
        .first()
        .map(|p| Key::load(p))
        .transpose()
        .map_err(|e| ClientError::local(e.to_string()))?
        .ok_or_else(|| {
            ClientError::local(
                "cluster operations are signed with the cluster admin key: give --key FILE",
            )
        })
}

/// Whether the answer to a submission is definite: committed (an outcome, success or rejection)
/// or never to be (FATE_NOT_APPLIED). A dry run's rejection is not: a copy sent before may still
/// be on its way.
fn settled(answer: &Res<Option<pb::Outcome>>) -> bool {
    match answer {
        Ok(Some(_)) => true,
        Err(ClientError::Rejected { outcome, fate, .. }) => {
            outcome.is_some() || *fate == pb::Fate::NotApplied
        }
        _ => false,
    }
}

/// A file carbonctl saved for a transaction of unknown fate (`pending-<id>.tx.json`).
fn is_pending_file(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("pending-") && n.ends_with(".tx.json"))
}
