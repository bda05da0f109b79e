//! Who may read what. Every read of private data states its policy in one call:
//!
//! ```ignore
//! let reader = auth::authorise(&view, chain_id, &request)?;     // who asks (or the public)
//! reader.require(Policy::PartyOrRegulator(&[&request.account_id]))?;
//! ```
//!
//! A request proves who asks with a `ReadAuth` bound to that one request (method, request hash,
//! short validity: `carbon_proto::read_auth`). No credential means the public, who see only what
//! the public disclosure shows. A credential that is present but wrong is an error, never a
//! silent downgrade to the public view.

use crate::errors::ApiError;
use crate::ledger::{queries, StateView};
use crate::write::checks::now_ms;
use carbon_proto::read_auth::{signing_hash_of, PrivateRead};
use carbon_proto::signing::verify_signature;
use carbon_proto::v1::{Account, AccountStatus, Role};

pub use crate::limits::READ_AUTH_VALID_MS_MAX;

/// Who asks: an authenticated account, or the public.
#[derive(Debug, Clone)]
pub struct Reader {
    account: Option<Account>,
}

/// What a read requires of its reader.
#[derive(Debug, Clone, Copy)]
pub enum Policy<'a> {
    /// Anyone, the public included.
    Public,
    /// Any authenticated account.
    Authenticated,
    /// The regulator only.
    Regulator,
    /// One of these accounts, or the regulator.
    PartyOrRegulator(&'a [&'a str]),
}

impl Reader {
    pub fn public() -> Self {
        Reader { account: None }
    }

    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    pub fn account_id(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.account_id.as_str())
    }

    pub fn is_regulator(&self) -> bool {
        self.account
            .as_ref()
            .is_some_and(|a| a.role() == Role::Regulator)
    }

    /// Whether this reader satisfies `policy`.
    pub fn may(&self, policy: Policy) -> bool {
        match policy {
            Policy::Public => true,
            Policy::Authenticated => self.account.is_some(),
            Policy::Regulator => self.is_regulator(),
            Policy::PartyOrRegulator(parties) => {
                self.is_regulator() || self.account_id().is_some_and(|me| parties.contains(&me))
            }
        }
    }

    /// Refuses, with PERMISSION_DENIED and a message saying why, a reader who does not
    /// satisfy `policy`.
    pub fn require(&self, policy: Policy) -> Result<(), ApiError> {
        if self.may(policy) {
            return Ok(());
        }
        Err(match (self.account_id(), policy) {
            (None, _) => ApiError::denied("this read needs a signed ReadAuth"),
            (Some(me), Policy::Regulator) => {
                ApiError::denied(format!("only the regulator may read this, not {me:?}"))
            }
            (Some(me), Policy::PartyOrRegulator(parties)) => ApiError::denied(format!(
                "{me:?} may not read the private records of {}",
                parties.join(", ")
            )),
            (Some(me), _) => ApiError::denied(format!("{me:?} may not read this")),
        })
    }

    /// Whether a transaction with these parties (its record's: the accounts whose history holds
    /// it) concerns this reader, or the reader is the regulator.
    pub fn sees_parties(&self, parties: &[String]) -> bool {
        self.is_regulator()
            || self
                .account_id()
                .is_some_and(|me| parties.iter().any(|p| p == me))
    }
}

/// Who asks `req`: the public when it carries no credential, else the account whose credential
/// verifies for exactly this request, now.
pub fn authorise<R: PrivateRead>(
    view: &dyn StateView,
    chain_id: &str,
    req: &R,
) -> Result<Reader, ApiError> {
    authorise_at(view, chain_id, req, now_ms())
}

/// [`authorise`] at a given time (tests).
pub fn authorise_at<R: PrivateRead>(
    view: &dyn StateView,
    chain_id: &str,
    req: &R,
    now_ms: u64,
) -> Result<Reader, ApiError> {
    let Some(auth) = req.auth() else {
        return Ok(Reader::public());
    };
    if now_ms > auth.valid_until_ms {
        return Err(ApiError::denied(format!(
            "the read credential expired at {} ms; it is now {now_ms} ms",
            auth.valid_until_ms
        )));
    }
    if auth.valid_until_ms - now_ms > READ_AUTH_VALID_MS_MAX {
        return Err(ApiError::denied(format!(
            "a read credential may be valid for at most {READ_AUTH_VALID_MS_MAX} ms"
        )));
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
        .map_err(|_| ApiError::denied("malformed public key"))?;
    let sig = <[u8; 64]>::try_from(auth.signature.as_slice())
        .map_err(|_| ApiError::denied("malformed signature"))?;
    verify_signature(&key, &sig, &signing_hash_of(chain_id, req, auth)).map_err(|_| {
        ApiError::denied(format!(
            "the read credential does not verify for this request ({})",
            R::METHOD
        ))
    })?;
    Ok(Reader {
        account: Some(account),
    })
}

/// Authenticates `req`'s reader and admits the regulator only (one call per read).
pub fn regulator_only<R: PrivateRead>(
    view: &dyn StateView,
    chain_id: &str,
    req: &R,
) -> Result<Account, ApiError> {
    let who = authorise(view, chain_id, req)?;
    who.require(Policy::Regulator)?;
    who.account
        .ok_or_else(|| ApiError::denied("this read needs a signed ReadAuth"))
}

/// Authenticates `req`'s reader and admits the account the record belongs to, or the regulator.
pub fn party_or_regulator<R: PrivateRead>(
    view: &dyn StateView,
    chain_id: &str,
    req: &R,
    party: &str,
) -> Result<Account, ApiError> {
    let who = authorise(view, chain_id, req)?;
    who.require(Policy::PartyOrRegulator(&[party]))?;
    who.account
        .ok_or_else(|| ApiError::denied("this read needs a signed ReadAuth"))
}
