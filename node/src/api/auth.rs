//! Who may read what. Private reads (holdings, encumbrances, history, statements, repos, loans,
//! and the regulator's lists) carry a `ReadAuth`: a signature by one key of the reading account
//! over `read_signing_hash(chain, account, time)`, fresh within five minutes of this node's
//! clock. The holder, the regulator and, for pledged units only, the pledgee may read an
//! account's holdings. Each read states who may read it with one call: [`regulator_only`] or
//! [`party_or_regulator`].

use super::errors::ApiError;
use super::ingress::now_ms;
use crate::ledger::{queries, StateView};
use carbon_proto::v1::{Account, AccountStatus, ReadAuth, Role};
use ed25519_dalek::{Signature, VerifyingKey};

/// How far a read authentication's time may be from this node's clock.
pub const READ_AUTH_SKEW_MS: u64 = 5 * 60 * 1000;

/// Checks the authentication and returns the reading account.
pub fn reader(
    view: &dyn StateView,
    chain_id: &str,
    auth: Option<&ReadAuth>,
) -> Result<Account, ApiError> {
    let auth = auth.ok_or_else(|| ApiError::denied("this read needs a signed ReadAuth"))?;
    let now = now_ms();
    if auth.issued_at_ms.abs_diff(now) > READ_AUTH_SKEW_MS {
        return Err(ApiError::denied(
            "the read authentication is older or newer than five minutes",
        ));
    }
    let account = queries::account(view, &auth.account_id)?
        .ok_or_else(|| ApiError::denied(format!("unknown account {:?}", auth.account_id)))?;
    if account.status() == AccountStatus::Closed {
        return Err(ApiError::denied("a closed account reads nothing private"));
    }
    if !account.public_keys.contains(&auth.public_key) {
        return Err(ApiError::denied("the key is not one of the account's keys"));
    }
    let key = <[u8; 32]>::try_from(auth.public_key.as_slice())
        .ok()
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| ApiError::denied("malformed public key"))?;
    let sig = <[u8; 64]>::try_from(auth.signature.as_slice())
        .map(|s| Signature::from_bytes(&s))
        .map_err(|_| ApiError::denied("malformed signature"))?;
    let hash =
        carbon_proto::signing::read_signing_hash(chain_id, &auth.account_id, auth.issued_at_ms);
    key.verify_strict(&hash, &sig)
        .map_err(|_| ApiError::denied("the read authentication does not verify"))?;
    Ok(account)
}

pub fn is_regulator(a: &Account) -> bool {
    a.role() == Role::Regulator
}

/// Authenticates the reader and admits the regulator only.
pub fn regulator_only(
    view: &dyn StateView,
    chain_id: &str,
    auth: Option<&ReadAuth>,
) -> Result<Account, ApiError> {
    let who = reader(view, chain_id, auth)?;
    if !is_regulator(&who) {
        return Err(ApiError::denied(format!(
            "only the regulator may read this; {:?} may not",
            who.account_id
        )));
    }
    Ok(who)
}

/// Authenticates the reader and admits the account the record belongs to, or the regulator.
pub fn party_or_regulator(
    view: &dyn StateView,
    chain_id: &str,
    auth: Option<&ReadAuth>,
    party: &str,
) -> Result<Account, ApiError> {
    let who = reader(view, chain_id, auth)?;
    require_self_or_regulator(&who, party)?;
    Ok(who)
}

/// The holder itself or the regulator.
pub fn require_self_or_regulator(reader: &Account, account_id: &str) -> Result<(), ApiError> {
    if reader.account_id == account_id || is_regulator(reader) {
        Ok(())
    } else {
        Err(ApiError::denied(format!(
            "{:?} may not read {account_id:?}'s private records",
            reader.account_id
        )))
    }
}
