//! Offset projects and credit issuance: a project owner proposes, the regulator approves (setting
//! the buffer share) or rejects, and the regulator issues serial-numbered credits for a
//! monitoring year, the buffer share going to the regulator's buffer account.

use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_id, check_quantity, check_text, sub, Exec};
use super::holdings::to_ranges;
use super::keys;
use carbon_proto::v1::{
    ApproveProject, Effects, Issuance, IssueCredits, Project, ProjectStatus, ProposeProject,
    RejectProject, Role, SerialRange, UnitClass, UnitKind,
};

use crate::limits::{BUFFER_BP_MAX, CREDITING_YEARS_MAX};
/// Old names of `crate::limits`' (kept while branches that use them merge).
pub const MAX_CREDITING_YEARS: u32 = CREDITING_YEARS_MAX;
pub const MAX_BUFFER_BP: u32 = BUFFER_BP_MAX;

fn project(x: &Exec, project_id: &str) -> Res<Project> {
    match x.get::<Project>(&keys::project(project_id))? {
        Some(p) => Ok(p),
        None => reject(
            ErrorCode::UnknownProject,
            format!("project {project_id:?} does not exist"),
        ),
    }
}

pub fn propose(x: &mut Exec, op: &ProposeProject) -> Res<Effects> {
    check_id(&op.project_id, "project id")?;
    x.require_signer(&op.owner_id, "project owner")?;
    x.open_account_of_role(&op.owner_id, Role::ProjectOwner, "project proponent")?;
    if !matches!(
        op.kind(),
        UnitKind::Ccer | UnitKind::Forestry | UnitKind::BlueCarbon
    ) {
        return reject(
            ErrorCode::InvalidArgument,
            "a project issues CCER, FORESTRY or BLUE_CARBON credits",
        );
    }
    check_text(&op.name, "project name", true)?;
    check_text(&op.methodology, "methodology", true)?;
    check_text(&op.region, "region", false)?;
    let (start, end) = (op.crediting_start_year, op.crediting_end_year);
    if !super::allocation::VINTAGES.contains(&start)
        || end < start
        || end.abs_diff(start) >= CREDITING_YEARS_MAX
    {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "crediting period {start}..={end} must be 1 to {CREDITING_YEARS_MAX} years from 2000"
            ),
        );
    }
    if x.get::<Project>(&keys::project(&op.project_id))?.is_some() {
        return reject(
            ErrorCode::ProjectExists,
            format!("project {:?} already exists", op.project_id),
        );
    }
    let p = Project {
        project_id: op.project_id.clone(),
        owner_id: op.owner_id.clone(),
        kind: op.kind,
        name: op.name.clone(),
        methodology: op.methodology.clone(),
        region: op.region.clone(),
        crediting_start_year: start,
        crediting_end_year: end,
        status: ProjectStatus::Pending as i32,
        buffer_share_bp: 0,
        issued_total: 0,
    };
    x.put(keys::project(&p.project_id), &p);
    Ok(Effects::default())
}

fn pending(x: &Exec, project_id: &str) -> Res<Project> {
    let p = project(x, project_id)?;
    if p.status() != ProjectStatus::Pending {
        return reject(
            ErrorCode::ProjectNotPending,
            format!("project {project_id:?} was already decided"),
        );
    }
    Ok(p)
}

pub fn approve(x: &mut Exec, op: &ApproveProject) -> Res<Effects> {
    x.require_regulator()?;
    let mut p = pending(x, &op.project_id)?;
    let bp = op.buffer_share_bp;
    let ok = match p.kind() {
        UnitKind::Ccer => bp == 0,
        _ => (1..=BUFFER_BP_MAX).contains(&bp),
    };
    if !ok {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "buffer share {bp} bp: CCER projects have none, forestry and blue carbon 1..={BUFFER_BP_MAX} bp"
            ),
        );
    }
    p.status = ProjectStatus::Approved as i32;
    p.buffer_share_bp = bp;
    x.touch(&p.owner_id);
    x.put(keys::project(&op.project_id), &p);
    Ok(Effects::default())
}

pub fn reject_project(x: &mut Exec, op: &RejectProject) -> Res<Effects> {
    x.require_regulator()?;
    check_text(&op.reason, "reason", true)?;
    let mut p = pending(x, &op.project_id)?;
    p.status = ProjectStatus::Rejected as i32;
    x.touch(&p.owner_id);
    x.put(keys::project(&op.project_id), &p);
    Ok(Effects::default())
}

pub fn issue(x: &mut Exec, op: &IssueCredits) -> Res<Effects> {
    x.require_regulator()?;
    check_quantity(op.quantity, "the issuance")?;
    let mut p = project(x, &op.project_id)?;
    if p.status() != ProjectStatus::Approved {
        return reject(
            ErrorCode::ProjectNotApproved,
            format!("project {:?} is not approved", op.project_id),
        );
    }
    let year = op.monitoring_year;
    if year < p.crediting_start_year || year > p.crediting_end_year {
        return reject(
            ErrorCode::OutsideCreditingPeriod,
            format!(
                "monitoring year {year} is outside the crediting period {}..={}",
                p.crediting_start_year, p.crediting_end_year
            ),
        );
    }
    x.open_account(&p.owner_id)?;
    let buffer_id = x.genesis.buffer_account_id.clone();
    // quantity x share (at most 10,000 bp) / 10,000 <= quantity: fits in u64.
    let buffer = u128::from(op.quantity)
        .checked_mul(u128::from(p.buffer_share_bp))
        .and_then(|b| u64::try_from(b / 10_000).ok())
        .unwrap_or(0);
    let to_owner = sub(op.quantity, buffer, "the owner's share")?;
    p.issued_total = add(p.issued_total, op.quantity, "the project's issued total")?;
    let class = UnitClass {
        kind: p.kind,
        vintage: year,
        project_id: p.project_id.clone(),
    };
    let (first, last) = x.create_serials(&class, op.quantity)?;
    let mut created = Vec::new();
    let mut issuance = Issuance {
        project_id: p.project_id.clone(),
        monitoring_year: year,
        quantity: op.quantity,
        sequence: x.sequence,
        ..Default::default()
    };
    if to_owner > 0 {
        let r = (first, sub(add(first, to_owner, "serials")?, 1, "serials")?);
        x.give_created(&p.owner_id, &class, &vec![r])?;
        created.extend(to_ranges(&class, &vec![r]));
        issuance.to_owner = Some(range(&class, r));
    }
    if buffer > 0 {
        let r = (add(first, to_owner, "serials")?, last);
        x.give_created(&buffer_id, &class, &vec![r])?;
        created.extend(to_ranges(&class, &vec![r]));
        issuance.to_buffer = Some(range(&class, r));
    }
    x.put(keys::project(&p.project_id), &p);
    x.put(keys::issuance(&p.project_id, x.sequence), &issuance);
    Ok(Effects {
        created,
        ..Default::default()
    })
}

fn range(class: &UnitClass, (first, last): (u64, u64)) -> SerialRange {
    SerialRange {
        unit_class: Some(class.clone()),
        first,
        last,
    }
}
