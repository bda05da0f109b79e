//! Rule 17's commands (Paris Agreement art. 6): `units authorise` (the regulator, --as),
//! `export` (the holder and the regulator, --as), `cancel --mitigation-purpose ndc|oimp`
//! (built in `main.rs` with [`purpose`]), and the public read `art6 [--year]`.

use super::ctx::{Ctx, Res};
use super::safeguards::cst;
use super::show;
use carbon_client::ops::{class_label, parse_class};
use carbon_client::ClientError;
use carbon_proto::v1::{
    self as pb, tx_body::Operation as Op, AdjustmentTrigger, ListInternationalTransfersResponse,
    MitigationPurpose,
};

/// `ndc` or `oimp` (any case) as the proto's purpose.
pub fn purpose(word: &str) -> Res<MitigationPurpose> {
    match word.to_ascii_lowercase().as_str() {
        "ndc" => Ok(MitigationPurpose::Ndc),
        "oimp" => Ok(MitigationPurpose::Oimp),
        _ => Err(ClientError::local(format!(
            "purpose {word:?}: give ndc (nationally determined contribution) or oimp (other international mitigation purposes, e.g. CORSIA)"
        ))),
    }
}

fn purpose_word(p: MitigationPurpose) -> &'static str {
    match p {
        MitigationPurpose::Ndc => "NDC",
        MitigationPurpose::Oimp => "OIMP",
        MitigationPurpose::Unspecified => "-",
    }
}

/// The chain sequence of a project's issuance for `year` (the one issuance of that year; with
/// several, `--issuance SEQ` must say which).
async fn issuance_of_year(ctx: &mut Ctx, project: &str, year: u32) -> Res<u64> {
    let p = ctx.client.project(project).await?;
    let of_year: Vec<u64> = p
        .issuances
        .iter()
        .filter(|i| i.monitoring_year == year)
        .map(|i| i.sequence)
        .collect();
    match of_year.as_slice() {
        [one] => Ok(*one),
        [] => Err(ClientError::local(format!(
            "project {project} has no issuance for monitoring year {year}"
        ))),
        many => Err(ClientError::local(format!(
            "project {project} has {} issuances for {year} (sequences {many:?}): give --issuance SEQ",
            many.len()
        ))),
    }
}

/// `carbonctl units authorise PROJECT (--year Y | --issuance SEQ) --purpose ndc|oimp
/// --reference REF` (the regulator, --as).
pub async fn authorise(
    ctx: &mut Ctx,
    project: String,
    year: Option<u32>,
    issuance: Option<u64>,
    purpose_arg: &str,
    reference: String,
) -> Res<()> {
    let p = purpose(purpose_arg)?;
    let sequence = match (issuance, year) {
        (Some(s), _) => s,
        (None, Some(y)) => issuance_of_year(ctx, &project, y).await?,
        (None, None) => {
            return Err(ClientError::local(
                "name the issuance: --year MONITORING_YEAR or --issuance SEQ",
            ))
        }
    };
    let op = Op::AuthoriseUnits(pb::AuthoriseUnits {
        project_id: project.clone(),
        issuance_sequence: sequence,
        purpose: p as i32,
        authorisation_reference: reference.clone(),
    });
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
        if !ctx.json {
            println!(
                "the units of issuance {sequence} of {project} are authorised for {} ({reference})",
                purpose_word(p)
            );
        }
    }
    Ok(())
}

/// `carbonctl export HOLDER CLASS QUANTITY --to-registry R --to-account A` (the holder and
/// the regulator sign: --as names the regulator).
pub async fn export(
    ctx: &mut Ctx,
    holder: String,
    class: &str,
    quantity: u64,
    destination_registry: String,
    destination_account: String,
) -> Res<()> {
    let unit_class = parse_class(class)?;
    let op = Op::ExportUnits(pb::ExportUnits {
        holder,
        unit_class: Some(unit_class.clone()),
        quantity,
        destination_registry: destination_registry.clone(),
        destination_account,
    });
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
        if !ctx.json {
            println!(
                "{quantity} units of {} exported to {destination_registry} for good; a corresponding adjustment is recorded for {}",
                class_label(&unit_class),
                unit_class.vintage
            );
        }
    }
    Ok(())
}

/// `carbonctl art6 [--year Y] [--page-size N]`: the public read, three tables.
pub async fn list(ctx: &mut Ctx, year: u32, page_size: u32) -> Res<()> {
    let r = ctx.client.international_transfers(year, page_size).await?;
    if ctx.json {
        show::json(&r);
        return Ok(());
    }
    print_tables(&r, year);
    Ok(())
}

fn print_tables(r: &ListInternationalTransfersResponse, year: u32) {
    let shown = if year == 0 {
        "every year".to_string()
    } else {
        format!("vintage {year}")
    };
    let rows = r
        .authorisations
        .iter()
        .map(|a| {
            let range = a.range.clone().unwrap_or_default();
            vec![
                a.project_id.clone(),
                a.issuance_sequence.to_string(),
                class_label(&range.unit_class.unwrap_or_default()),
                format!("{}..{}", range.first, range.last),
                purpose_word(a.purpose()).into(),
                a.authorisation_reference.clone(),
                cst(a.timestamp_ms),
            ]
        })
        .collect();
    println!("art. 6 authorisations ({shown})");
    let header = [
        "project",
        "issuance",
        "class",
        "serials",
        "purpose",
        "reference",
        "at",
    ];
    println!("{}", show::table(&header, rows));
    let rows = r
        .exports
        .iter()
        .map(|e| {
            vec![
                e.sequence.to_string(),
                e.holder.clone(),
                class_label(&e.unit_class.clone().unwrap_or_default()),
                e.quantity.to_string(),
                e.destination_registry.clone(),
                e.destination_account.clone(),
                cst(e.timestamp_ms),
            ]
        })
        .collect();
    println!("exports");
    let header = [
        "sequence", "holder", "class", "units", "registry", "account", "at",
    ];
    println!("{}", show::table(&header, rows));
    let rows = r
        .adjustments
        .iter()
        .map(|a| {
            let why = match a.trigger() {
                AdjustmentTrigger::FirstTransfer => "first transfer (export)",
                AdjustmentTrigger::OimpUse => "use for OIMP (cancellation)",
                AdjustmentTrigger::Unspecified => "-",
            };
            vec![
                a.year.to_string(),
                class_label(&a.unit_class.clone().unwrap_or_default()),
                a.quantity.to_string(),
                why.into(),
                a.sequence.to_string(),
            ]
        })
        .collect();
    println!("corresponding adjustments");
    let header = ["year", "class", "units", "trigger", "sequence"];
    println!("{}", show::table(&header, rows));
}
