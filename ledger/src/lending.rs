//! Lending (借碳 / 碳租赁, domain rule 14): the lender lends units to the borrower, available (the
//! borrower may surrender them: that is what borrowing is for). The borrower returns the same
//! quantity of the same unit class, any serials, lowest first; partial returns allowed. An open
//! loan past its return date is overdue (a read-side notion: it stays open). Lending is not a
//! trade: it does not move market statistics.

use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_can_hold, check_quantity, check_text, sub, Exec};
use super::holdings::{Give, Take};
use super::keys;
use super::repo::check_future_date;
use carbon_proto::v1::{Effects, Lend, Loan, LoanStatus, ReturnLoan, Role};

pub fn lend(x: &mut Exec, op: &Lend) -> Res<Effects> {
    x.require_signer(&op.lender, "the lender")?;
    x.require_signer(&op.borrower, "the borrower")?;
    check_quantity(op.quantity, "the lent quantity")?;
    check_text(&op.contract_ref, "contract reference", false)?;
    check_future_date(x, op.return_date, "return date")?;
    if op.lender == op.borrower {
        return reject(
            ErrorCode::SameAccount,
            format!("{:?} cannot lend to itself", op.lender),
        );
    }
    let class = x.check_unit_class(op.unit_class.as_ref())?;
    let lender = x.open_account(&op.lender)?;
    let borrower = x.open_account(&op.borrower)?;
    for a in [&lender, &borrower] {
        if a.role() == Role::Regulator {
            return reject(
                ErrorCode::RoleNotPermitted,
                format!(
                    "a regulator account ({:?}) neither lends nor borrows",
                    a.account_id
                ),
            );
        }
    }
    check_can_hold(&borrower, &class)?;
    let id = x.chain.next_loan_id.max(1);
    x.chain.next_loan_id = add(id, 1, "the loan ids")?;
    let moved = x.move_units(
        &op.lender,
        &op.borrower,
        &class,
        op.quantity,
        Take::Available,
        Give::Available,
    )?;
    let loan = Loan {
        id,
        status: LoanStatus::Open as i32,
        lender: op.lender.clone(),
        borrower: op.borrower.clone(),
        unit_class: Some(class),
        quantity: op.quantity,
        returned: 0,
        fee_fen: op.fee_fen,
        return_date: op.return_date,
        contract_ref: op.contract_ref.clone(),
        created_sequence: x.sequence,
        closed_sequence: 0,
        overdue: false,
    };
    x.put(keys::loan(id), &loan);
    x.st.put(keys::loan_by_party(&loan.lender, id), Vec::new());
    x.st.put(keys::loan_by_party(&loan.borrower, id), Vec::new());
    Ok(Effects {
        moved,
        loan_id: id,
        ..Default::default()
    })
}

pub fn return_loan(x: &mut Exec, op: &ReturnLoan) -> Res<Effects> {
    let mut loan = x.private_record(
        x.get::<Loan>(&keys::loan(op.loan_id))?,
        |l| [l.lender.as_str(), l.borrower.as_str()],
        ErrorCode::UnknownLoan,
        "loan",
        op.loan_id,
    )?;
    if loan.status() != LoanStatus::Open {
        return reject(
            ErrorCode::LoanClosed,
            format!("loan {} is returned already", loan.id),
        );
    }
    x.require_signer(&loan.borrower, "the borrower")?;
    check_quantity(op.quantity, "the returned quantity")?;
    let outstanding = sub(loan.quantity, loan.returned, "the outstanding loan")?;
    if op.quantity > outstanding {
        return reject(
            ErrorCode::ExceedsLoan,
            format!(
                "loan {} has {outstanding} units outstanding, {} cannot be returned",
                loan.id, op.quantity
            ),
        );
    }
    x.open_account(&loan.borrower)?;
    x.open_account(&loan.lender)?;
    let class = loan.unit_class.clone().unwrap_or_default();
    let moved = x.move_units(
        &loan.borrower,
        &loan.lender,
        &class,
        op.quantity,
        Take::Available,
        Give::Available,
    )?;
    loan.returned = add(loan.returned, op.quantity, "the returned quantity")?;
    if loan.returned == loan.quantity {
        loan.status = LoanStatus::Returned as i32;
        loan.closed_sequence = x.sequence;
    }
    x.put(keys::loan(loan.id), &loan);
    Ok(Effects {
        moved,
        loan_id: loan.id,
        ..Default::default()
    })
}
