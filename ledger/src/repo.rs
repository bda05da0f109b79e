//! Repo (回购, domain rule 13): the seller (an enterprise) sells units to the buyer (a bank or an
//! enterprise) and agrees to buy them back. The units sit in the buyer's account in state repo,
//! usable for nothing else, until the buyer confirms the repurchase (on or before the date: back
//! to the seller, available) or declares a default (after the date: the buyer's, available).
//! Repo ids come from the encumbrance sequence, so a block's encumbrance id names one thing.

use super::dates;
use super::encumbrances::next_id;
use super::error::{reject, ErrorCode, Res};
use super::exec::{check_quantity, check_text, mul, Exec};
use super::holdings::{Flow, Give, Take};
use super::keys;
use carbon_proto::v1::{Effects, Repo, RepoAgreement, RepoDefault, RepoStatus, Repurchase, Role};

/// A date argument that must exist and not lie before the leader's CST date.
pub fn check_future_date(x: &Exec, date: u32, what: &str) -> Res<()> {
    if !dates::is_valid_date(date) {
        return reject(
            ErrorCode::InvalidArgument,
            format!("the {what} {date} is not a yyyymmdd date"),
        );
    }
    let today = dates::date_of(x.ctx.timestamp_ms);
    if date < today {
        return reject(
            ErrorCode::InvalidArgument,
            format!("the {what} {date} is before today ({today})"),
        );
    }
    Ok(())
}

pub fn open_repo(x: &Exec, id: u64) -> Res<RepoAgreement> {
    let r = x.private_record(
        x.get::<RepoAgreement>(&keys::repo(id))?,
        |r| [r.seller.as_str(), r.buyer.as_str()],
        ErrorCode::UnknownRepo,
        "repo",
        id,
    )?;
    if r.status() != RepoStatus::Open {
        return reject(
            ErrorCode::RepoClosed,
            format!("repo {id} is no longer open"),
        );
    }
    x.require_signer(&r.buyer, "the repo buyer")?;
    Ok(r)
}

pub fn repo(x: &mut Exec, op: &Repo) -> Res<Effects> {
    x.require_signer(&op.seller, "the seller")?;
    x.require_signer(&op.buyer, "the buyer")?;
    check_quantity(op.quantity, "the quantity")?;
    check_quantity(op.sale_price_fen, "the sale price")?;
    check_quantity(op.repurchase_price_fen, "the repurchase price")?;
    mul(op.quantity, op.sale_price_fen, "the sale value")?;
    mul(op.quantity, op.repurchase_price_fen, "the repurchase value")?;
    check_text(&op.contract_ref, "contract reference", false)?;
    check_future_date(x, op.repurchase_date, "repurchase date")?;
    if op.seller == op.buyer {
        return reject(
            ErrorCode::SameAccount,
            format!("{:?} cannot repo units to itself", op.seller),
        );
    }
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    x.open_account_of_role(&op.seller, Role::Enterprise, "repo seller")?;
    let buyer = x.open_account(&op.buyer)?;
    if !matches!(buyer.role(), Role::Bank | Role::Enterprise) {
        return reject(
            ErrorCode::RoleNotPermitted,
            format!("repo buyer {:?} must be a bank or an enterprise", op.buyer),
        );
    }
    let id = next_id(x)?;
    let moved = x.move_units(
        &op.seller,
        &op.buyer,
        &class,
        op.quantity,
        Take::Available,
        Give::Repo(id),
    )?;
    let r = RepoAgreement {
        id,
        status: RepoStatus::Open as i32,
        seller: op.seller.clone(),
        buyer: op.buyer.clone(),
        unit_class: Some(class),
        quantity: op.quantity,
        sale_price_fen: op.sale_price_fen,
        repurchase_price_fen: op.repurchase_price_fen,
        repurchase_date: op.repurchase_date,
        contract_ref: op.contract_ref.clone(),
        ranges: moved.clone(),
        created_sequence: x.sequence,
        closed_sequence: 0,
        collateral: Vec::new(),
        substitutions: 0,
    };
    x.put(keys::repo(id), &r);
    x.st.put(keys::repo_by_party(&r.seller, id), Vec::new());
    x.st.put(keys::repo_by_party(&r.buyer, id), Vec::new());
    Ok(Effects {
        moved,
        encumbrance_id: id,
        ..Default::default()
    })
}

fn close(x: &mut Exec, mut r: RepoAgreement, status: RepoStatus, to: &str) -> Res<Effects> {
    let mut moved = Vec::new();
    // One leg (the class sold) unless a substitution changed it (rule 18).
    for (class, quantity) in super::collateral::legs(&r) {
        moved.extend(x.move_units(
            &r.buyer,
            to,
            &class,
            quantity,
            Take::Encumbrance(r.id),
            Give::Available,
        )?);
    }
    r.status = status as i32;
    r.closed_sequence = x.sequence;
    x.put(keys::repo(r.id), &r);
    x.touch(&r.seller);
    Ok(Effects {
        moved,
        encumbrance_id: r.id,
        ..Default::default()
    })
}

pub fn repurchase(x: &mut Exec, op: &Repurchase) -> Res<Effects> {
    let r = open_repo(x, op.repo_id)?;
    let today = dates::date_of(x.ctx.timestamp_ms);
    if today > r.repurchase_date {
        return reject(
            ErrorCode::RepurchaseDatePassed,
            format!(
                "repo {} was due for repurchase on {} (today is {today}); the buyer may declare a default",
                r.id, r.repurchase_date
            ),
        );
    }
    x.open_account(&r.seller)?;
    let seller = r.seller.clone();
    close(x, r, RepoStatus::Repurchased, &seller)
}

pub fn default(x: &mut Exec, op: &RepoDefault) -> Res<Effects> {
    let r = open_repo(x, op.repo_id)?;
    let today = dates::date_of(x.ctx.timestamp_ms);
    if today <= r.repurchase_date {
        return reject(
            ErrorCode::RepurchaseDateNotPassed,
            format!(
                "repo {} may be repurchased until {} (today is {today})",
                r.id, r.repurchase_date
            ),
        );
    }
    x.open_account(&r.buyer)?;
    let (buyer, seller) = (r.buyer.clone(), r.seller.clone());
    let class = r.unit_class.clone().unwrap_or_default();
    let fx = close(x, r, RepoStatus::Defaulted, &buyer)?;
    // The buyer's statement names the defaulting seller.
    x.note(&buyer, &class, &Vec::new(), Flow::Within, &seller)?;
    Ok(fx)
}
