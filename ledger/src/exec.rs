//! The context one transaction executes in: staged state, the entry's context, who signed, and
//! typed helpers every family of operations uses (records, authorisation, validation).

use super::error::{reject, ErrorCode, LedgerError, Res};
use super::keys;
use super::store::{Overlay, StateView, ViewFault};
use carbon_proto::v1::{Account, AccountStatus, ChainState, Genesis, Role, UnitClass, UnitKind};
use carbon_proto::VerifiedTx;
use prost::Message;
use std::collections::BTreeSet;

/// What the Raft layer tells the ledger about the entry being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Raft log index of the entry.
    pub log_index: u64,
    /// The leader's clock when it proposed the entry (Unix ms). The ledger's only notion of time.
    pub timestamp_ms: u64,
    /// The version of the rules the entry must be applied with (see [`super::VERSION`]).
    pub ledger_version: u32,
}

use crate::limits::{ACCOUNT_KEYS_MAX, ID_BYTES_MAX, TEXT_BYTES_MAX};
/// Old names of `crate::limits`' (kept while branches that use them merge).
pub const MAX_ID_LEN: usize = ID_BYTES_MAX;
pub const MAX_TEXT_LEN: usize = TEXT_BYTES_MAX;
pub const MAX_KEYS: usize = ACCOUNT_KEYS_MAX;

pub struct Exec<'a, 'v> {
    pub st: &'a mut Overlay<'v, dyn StateView + 'v>,
    pub ctx: Ctx,
    pub tx: &'a VerifiedTx,
    pub genesis: &'a Genesis,
    pub chain: &'a mut ChainState,
    /// The chain position this transaction takes.
    pub sequence: u64,
    /// Accounts this transaction concerns; its history is indexed under each.
    pub parties: BTreeSet<String>,
    /// Its movements in the parties' statements (kept in its record).
    pub lines: Vec<carbon_proto::v1::StatementLine>,
}

fn corrupt(key: &[u8], e: prost::DecodeError) -> ViewFault {
    ViewFault(format!("record {} does not decode: {e}", hex::encode(key)))
}

/// Reads and decodes one record.
pub fn read<M: Message + Default>(
    st: &(impl StateView + ?Sized),
    key: &[u8],
) -> Result<Option<M>, ViewFault> {
    match st.get(key)? {
        None => Ok(None),
        Some(bytes) => M::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| corrupt(key, e)),
    }
}

/// Decodes every record under a prefix, in key order.
pub fn read_all<M: Message + Default>(
    st: &(impl StateView + ?Sized),
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, M)>, ViewFault> {
    st.scan_prefix(prefix)?
        .into_iter()
        .map(|(k, v)| match M::decode(v.as_slice()) {
            Ok(m) => Ok((k, m)),
            Err(e) => Err(corrupt(&k, e)),
        })
        .collect()
}

impl Exec<'_, '_> {
    pub fn get<M: Message + Default>(&self, key: &[u8]) -> Res<Option<M>> {
        Ok(read(&*self.st, key)?)
    }

    pub fn put<M: Message>(&mut self, key: Vec<u8>, record: &M) {
        self.st.put(key, record.encode_to_vec());
    }

    pub fn account(&self, account_id: &str) -> Res<Account> {
        match self.get::<Account>(&keys::account(account_id))? {
            Some(a) => Ok(a),
            None => reject(
                ErrorCode::UnknownAccount,
                format!("account {account_id:?} does not exist"),
            ),
        }
    }

    pub fn put_account(&mut self, a: &Account) {
        self.put(keys::account(&a.account_id), a);
    }

    /// The account, which must be open (suspended and closed accounts send and receive nothing).
    pub fn open_account(&self, account_id: &str) -> Res<Account> {
        let a = self.account(account_id)?;
        if a.status() != AccountStatus::Open {
            return reject(
                ErrorCode::AccountNotOpen,
                format!("account {account_id:?} is {}", status_word(a.status())),
            );
        }
        Ok(a)
    }

    /// The account, open and of the given role.
    pub fn open_account_of_role(&self, account_id: &str, role: Role, what: &str) -> Res<Account> {
        let a = self.open_account(account_id)?;
        if a.role() != role {
            return reject(
                ErrorCode::RoleNotPermitted,
                format!(
                    "account {account_id:?} is a {}, a {what} must be a {}",
                    role_word(a.role()),
                    role_word(role)
                ),
            );
        }
        Ok(a)
    }

    /// The named account must be among the transaction's signers (whose thresholds were checked
    /// before the operation ran).
    pub fn require_signer(&self, account_id: &str, what: &str) -> Res<()> {
        if self.tx.body.signers.iter().any(|s| s == account_id) {
            Ok(())
        } else {
            reject(
                ErrorCode::InsufficientSignatures,
                format!("{what} {account_id:?} must sign this transaction"),
            )
        }
    }

    /// Whether any of `parties` signs this transaction.
    pub fn signed_by_any(&self, parties: &[&str]) -> bool {
        self.tx
            .body
            .signers
            .iter()
            .any(|s| parties.contains(&s.as_str()))
    }

    /// A private record (pledge, repo, loan) looked up by its id for an action, or the one
    /// rejection a signer gets for an id that does not exist: from ledger version 2 on, a
    /// record none of whose `parties` signs is answered the same way, so that walking the ids
    /// tells a stranger nothing (not a record's parties, amounts or state).
    pub fn private_record<M>(
        &self,
        record: Option<M>,
        parties: impl for<'r> Fn(&'r M) -> [&'r str; 2],
        unknown: ErrorCode,
        what: &str,
        id: u64,
    ) -> Res<M> {
        let shown = match record {
            Some(r) if self.ctx.ledger_version < 2 || self.signed_by_any(&parties(&r)) => Some(r),
            _ => None,
        };
        match shown {
            Some(r) => Ok(r),
            None if self.ctx.ledger_version < 2 => {
                reject(unknown, format!("there is no {what} {id}"))
            }
            None => reject(
                unknown,
                format!("there is no {what} {id} that the signers of this transaction may act on"),
            ),
        }
    }

    /// The first signer whose role is one of `roles`; rejects if none.
    pub fn signer_with_role(&self, roles: &[Role], what: &str) -> Res<Account> {
        for s in &self.tx.body.signers {
            let a = self.account(s)?;
            if roles.contains(&a.role()) {
                return Ok(a);
            }
        }
        reject(
            ErrorCode::RoleNotPermitted,
            format!("only {what} may do this, and none signed"),
        )
    }

    pub fn require_regulator(&self) -> Res<Account> {
        self.signer_with_role(&[Role::Regulator], "the regulator")
    }

    /// Checks every signing account's threshold against the verified keys.
    pub fn authorise_signers(&self) -> Res<()> {
        let mut seen = BTreeSet::new();
        for s in &self.tx.body.signers {
            if !seen.insert(s.as_str()) {
                return reject(
                    ErrorCode::Malformed,
                    format!("signer {s:?} is listed twice"),
                );
            }
            if s == carbon_proto::signing::CLUSTER_ADMIN_SIGNER {
                super::cluster::authorise(self)?;
                continue;
            }
            if let Some(why) = signer_refusal(&*self.st, self.tx, s)? {
                return Err(why.into());
            }
        }
        Ok(())
    }

    pub fn touch(&mut self, account_id: &str) {
        if !self.parties.contains(account_id) {
            self.parties.insert(account_id.to_string());
        }
    }

    /// A unit class must name a known kind; CEA has no project; a credit names an existing
    /// project of the same kind.
    pub fn check_unit_class(&self, c: Option<&UnitClass>) -> Res<UnitClass> {
        let Some(c) = c else {
            return reject(ErrorCode::InvalidUnitClass, "no unit class given");
        };
        let mut kind = c.kind();
        // Before ledger version 4 the PHCER kind did not exist (it read as unspecified).
        if kind == UnitKind::Phcer && self.ctx.ledger_version < super::inclusion::INCLUSION_VERSION
        {
            kind = UnitKind::Unspecified;
        }
        match kind {
            UnitKind::Unspecified => reject(ErrorCode::InvalidUnitClass, "unit kind is missing"),
            UnitKind::Cea => {
                if !c.project_id.is_empty() {
                    return reject(
                        ErrorCode::InvalidUnitClass,
                        "allowances (CEA) belong to no project",
                    );
                }
                Ok(c.clone())
            }
            UnitKind::Phcer => {
                let m = self.get::<carbon_proto::v1::InclusionMethodology>(&keys::methodology(
                    &c.project_id,
                ))?;
                if m.is_none() {
                    return reject(
                        ErrorCode::InvalidUnitClass,
                        format!(
                            "inclusion credits name methodology {:?}, which is not approved",
                            c.project_id
                        ),
                    );
                }
                Ok(c.clone())
            }
            kind => {
                let p = self.get::<carbon_proto::v1::Project>(&keys::project(&c.project_id))?;
                match p {
                    Some(p) if p.kind() == kind => Ok(c.clone()),
                    Some(p) => reject(
                        ErrorCode::InvalidUnitClass,
                        format!(
                            "project {:?} issues {}, not {}",
                            c.project_id,
                            p.kind().as_str_name(),
                            kind.as_str_name()
                        ),
                    ),
                    None => reject(
                        ErrorCode::InvalidUnitClass,
                        format!(
                            "credits name project {:?}, which does not exist",
                            c.project_id
                        ),
                    ),
                }
            }
        }
    }
}

/// Whether an account of `role` may hold units of `kind` (enforcement of a pledge lets a bank
/// hold allowances too; that path does not ask this question).
pub fn can_hold(role: Role, kind: UnitKind) -> bool {
    match kind {
        UnitKind::Unspecified => false,
        UnitKind::Cea => matches!(role, Role::Enterprise | Role::Regulator),
        _ => role != Role::Unspecified,
    }
}

pub fn check_can_hold(a: &Account, c: &UnitClass) -> Res<()> {
    if can_hold(a.role(), c.kind()) {
        Ok(())
    } else {
        reject(
            ErrorCode::RoleCannotHold,
            format!(
                "a {} account ({:?}) cannot hold {}",
                role_word(a.role()),
                a.account_id,
                c.kind().as_str_name()
            ),
        )
    }
}

pub fn role_word(r: Role) -> &'static str {
    match r {
        Role::Unspecified => "unspecified-role",
        Role::Regulator => "regulator",
        Role::Enterprise => "enterprise",
        Role::Verifier => "verifier",
        Role::ProjectOwner => "project owner",
        Role::Bank => "bank",
        Role::Individual => "individual",
        Role::Organisation => "organisation",
        Role::Platform => "platform",
    }
}

fn status_word(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Unspecified => "in no known state",
        AccountStatus::Open => "open",
        AccountStatus::Suspended => "suspended",
        AccountStatus::Closed => "closed",
    }
}

/// Identifiers: 1..=64 bytes of `A-Z a-z 0-9 . _ -`.
pub fn check_id(s: &str, what: &str) -> Res<()> {
    let ok = !s.is_empty()
        && s.len() <= ID_BYTES_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        reject(
            ErrorCode::InvalidArgument,
            format!("{what} {s:?} must be 1 to {ID_BYTES_MAX} characters of A-Z a-z 0-9 . _ -"),
        )
    }
}

/// Free text: at most 512 bytes; `required` text must not be blank.
pub fn check_text(s: &str, what: &str, required: bool) -> Res<()> {
    if s.len() > TEXT_BYTES_MAX {
        return reject(
            ErrorCode::InvalidArgument,
            format!("{what} is longer than {TEXT_BYTES_MAX} bytes"),
        );
    }
    if required && s.trim().is_empty() {
        return reject(ErrorCode::InvalidArgument, format!("{what} is required"));
    }
    Ok(())
}

pub fn check_quantity(q: u64, what: &str) -> Res<()> {
    if q == 0 {
        return reject(
            ErrorCode::ZeroAmount,
            format!("{what} must be more than zero"),
        );
    }
    Ok(())
}

/// Why account `signer` has not authorised `tx`, if it has not: it does not exist, it is closed,
/// or the verified keys do not reach its threshold. The one signer rule: the ledger applies it
/// to every signing account (`Exec::authorise_signers`, and the history's parties), and the
/// leader's ingress asks it before proposing (`node::write::checks::check_signers`).
pub fn signer_refusal(
    view: &dyn StateView,
    tx: &VerifiedTx,
    signer: &str,
) -> Result<Option<LedgerError>, ViewFault> {
    let refusal = |code, message: String| Ok(Some(LedgerError::new(code, message)));
    let Some(a) = read::<Account>(view, &keys::account(signer))? else {
        return refusal(
            ErrorCode::UnknownAccount,
            format!("account {signer:?} does not exist"),
        );
    };
    if a.status() == AccountStatus::Closed {
        return refusal(
            ErrorCode::AccountNotOpen,
            format!("account {signer:?} is closed and can authorise nothing"),
        );
    }
    if !carbon_proto::signing::threshold_met(&a.public_keys, a.threshold, &tx.signer_keys) {
        return refusal(
            ErrorCode::InsufficientSignatures,
            format!(
                "account {signer:?} needs {}",
                carbon_proto::signing::threshold_needed(a.threshold)
            ),
        );
    }
    Ok(None)
}

/// A key set: 1..=16 distinct valid ed25519 keys and a threshold between 1 and their number.
pub fn check_key_set(keys: &[Vec<u8>], threshold: u32) -> Res<()> {
    if keys.is_empty() || keys.len() > ACCOUNT_KEYS_MAX {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "a key set has 1 to {ACCOUNT_KEYS_MAX} keys, not {}",
                keys.len()
            ),
        );
    }
    for (i, k) in keys.iter().enumerate() {
        let valid = <[u8; 32]>::try_from(k.as_slice())
            .ok()
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            .is_some_and(|vk| !vk.is_weak());
        if !valid {
            return reject(
                ErrorCode::InvalidArgument,
                format!("key {i} is not a valid 32-byte ed25519 public key"),
            );
        }
        if keys[..i].contains(k) {
            return reject(
                ErrorCode::InvalidArgument,
                format!("key {i} is listed twice"),
            );
        }
    }
    if threshold == 0 || threshold as usize > keys.len() {
        return reject(
            ErrorCode::InvalidArgument,
            format!(
                "threshold must be between 1 and {} (the number of keys), not {threshold}",
                keys.len()
            ),
        );
    }
    Ok(())
}

pub fn add(a: u64, b: u64, what: &str) -> Res<u64> {
    match a.checked_add(b) {
        Some(v) => Ok(v),
        None => reject(ErrorCode::AmountOverflow, format!("{what} would overflow")),
    }
}

/// `a - b`. Callers check first; should that check ever be wrong, the transaction is rejected
/// instead of the amount wrapping around.
pub fn sub(a: u64, b: u64, what: &str) -> Res<u64> {
    match a.checked_sub(b) {
        Some(v) => Ok(v),
        None => reject(
            ErrorCode::AmountOverflow,
            format!("{what} would go below zero"),
        ),
    }
}

pub fn mul(a: u64, b: u64, what: &str) -> Res<u64> {
    match a.checked_mul(b) {
        Some(v) => Ok(v),
        None => reject(ErrorCode::AmountOverflow, format!("{what} would overflow")),
    }
}
