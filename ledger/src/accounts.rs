//! Accounts: the regulator opens, suspends, reinstates and closes them; an account replaces its
//! own key set.

use super::error::{reject, ErrorCode, Res};
use super::exec::{check_id, check_key_set, check_text, Exec};
use super::keys;
use carbon_proto::v1::{
    Account, AccountStatus, CloseAccount, Effects, Encumbrance, EncumbranceStatus, Loan,
    LoanStatus, OpenAccount, ReinstateAccount, RepoAgreement, RepoStatus, Role, SuspendAccount,
    UpdateKeys,
};

pub fn open(x: &mut Exec, op: &OpenAccount) -> Res<Effects> {
    x.require_regulator()?;
    check_id(&op.account_id, "account id")?;
    check_text(&op.name, "account name", true)?;
    check_text(&op.region, "region", false)?;
    let mut role = op.role();
    // Before ledger version 4 the platform role did not exist (it read as unspecified).
    if role == Role::Platform && x.ctx.ledger_version < super::inclusion::INCLUSION_VERSION {
        role = Role::Unspecified;
    }
    if matches!(role, Role::Unspecified | Role::Regulator) {
        return reject(
            ErrorCode::InvalidArgument,
            "an account is opened for an enterprise, verifier, project owner, bank, individual, organisation or platform",
        );
    }

    check_key_set(&op.public_keys, op.threshold)?;
    if x.get::<Account>(&keys::account(&op.account_id))?.is_some() {
        return reject(
            ErrorCode::AccountExists,
            format!("account {:?} already exists", op.account_id),
        );
    }
    let a = Account {
        account_id: op.account_id.clone(),
        role: role as i32,
        name: op.name.clone(),
        region: op.region.clone(),
        public_keys: op.public_keys.clone(),
        threshold: op.threshold,
        status: AccountStatus::Open as i32,
        outstanding_shortfall: 0,
        platform_id: String::new(),
        custodial: false,
    };
    x.put_account(&a);
    x.touch(&a.account_id);
    Ok(Effects::default())
}

pub fn update_keys(x: &mut Exec, op: &UpdateKeys) -> Res<Effects> {
    x.require_signer(&op.account_id, "account")?;
    let mut a = x.account(&op.account_id)?;
    check_key_set(&op.public_keys, op.threshold)?;
    a.public_keys = op.public_keys.clone();
    a.threshold = op.threshold;
    // Rule 16: the owner's own keys replace the platform's copy.
    a.custodial = false;
    x.put_account(&a);
    Ok(Effects::default())
}

pub fn suspend(x: &mut Exec, op: &SuspendAccount) -> Res<Effects> {
    x.require_regulator()?;
    check_text(&op.reason, "reason", true)?;
    let mut a = x.open_account(&op.account_id)?;
    if a.role() == Role::Regulator {
        return reject(
            ErrorCode::RoleNotPermitted,
            "a regulator account cannot be suspended",
        );
    }
    a.status = AccountStatus::Suspended as i32;
    x.put_account(&a);
    x.touch(&a.account_id);
    Ok(Effects::default())
}

pub fn reinstate(x: &mut Exec, op: &ReinstateAccount) -> Res<Effects> {
    x.require_regulator()?;
    check_text(&op.reason, "reason", true)?;
    let mut a = x.account(&op.account_id)?;
    if a.status() != AccountStatus::Suspended {
        return reject(
            ErrorCode::InvalidArgument,
            format!("account {:?} is not suspended", op.account_id),
        );
    }
    a.status = AccountStatus::Open as i32;
    x.put_account(&a);
    x.touch(&a.account_id);
    Ok(Effects::default())
}

pub fn close(x: &mut Exec, op: &CloseAccount) -> Res<Effects> {
    x.require_regulator()?;
    let mut a = x.account(&op.account_id)?;
    if a.status() == AccountStatus::Closed {
        return reject(
            ErrorCode::AccountNotOpen,
            format!("account {:?} is already closed", op.account_id),
        );
    }
    if a.role() == Role::Regulator {
        return reject(
            ErrorCode::RoleNotPermitted,
            "a regulator account cannot be closed",
        );
    }
    if !x
        .st
        .scan_prefix(&keys::holdings_of(&op.account_id))?
        .is_empty()
    {
        return reject(
            ErrorCode::AccountNotEmpty,
            format!("account {:?} still holds units", op.account_id),
        );
    }
    let pledges: Vec<(Vec<u8>, Vec<u8>)> =
        x.st.scan_prefix(&keys::encumbrances_by_pledgee(&op.account_id))?;
    for (k, _) in pledges {
        let id = keys::trailing_u64(&k).unwrap_or_default();
        if let Some(e) = x.get::<Encumbrance>(&keys::encumbrance(id))? {
            if e.status() == EncumbranceStatus::Active {
                return reject(
                    ErrorCode::AccountNotEmpty,
                    format!("account {:?} is pledgee of open pledge {id}", op.account_id),
                );
            }
        }
    }
    open_financing(x, &op.account_id)?;
    a.status = AccountStatus::Closed as i32;
    x.put_account(&a);
    x.touch(&a.account_id);
    Ok(Effects::default())
}

/// An account that is party to an open repo or loan cannot close: units would come back to it.
fn open_financing(x: &Exec, account: &str) -> Res<()> {
    for (k, _) in x.st.scan_prefix(&keys::repos_of_party(account))? {
        let id = keys::trailing_u64(&k).unwrap_or_default();
        if let Some(r) = x.get::<RepoAgreement>(&keys::repo(id))? {
            if r.status() == RepoStatus::Open {
                return reject(
                    ErrorCode::AccountNotEmpty,
                    format!("account {account:?} is party to open repo {id}"),
                );
            }
        }
    }
    for (k, _) in x.st.scan_prefix(&keys::loans_of_party(account))? {
        let id = keys::trailing_u64(&k).unwrap_or_default();
        if let Some(l) = x.get::<Loan>(&keys::loan(id))? {
            if l.status() == LoanStatus::Open {
                return reject(
                    ErrorCode::AccountNotEmpty,
                    format!("account {account:?} is party to open loan {id}"),
                );
            }
        }
    }
    Ok(())
}
