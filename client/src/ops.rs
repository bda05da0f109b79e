//! Building transactions: unit classes from text, who must sign each operation, bodies with an
//! expiry and a fresh nonce, signing with key files, and read credentials bound to one request.

use crate::error::ClientError;
use crate::keys::Key;
use carbon_proto::read_auth::PrivateRead;
use carbon_proto::v1::{tx_body::Operation, SignedTx, TxBody, UnitClass, UnitKind};
use prost::Message;
use std::time::Duration;

/// `CEA:2025`, `CCER:2025:ZS-WIND-001`, `FORESTRY:2025:LS-FOR-001`, `BLUE_CARBON:2025:ZS-BLUE-001`,
/// `PHCER:2026:ZJ-PH-BUS-V01` (an inclusion credit names its methodology).
pub fn parse_class(s: &str) -> Result<UnitClass, ClientError> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || {
        ClientError::local(format!(
            "unit class {s:?}: use KIND:VINTAGE[:PROJECT], e.g. CEA:2025 or CCER:2025:ZS-WIND-001"
        ))
    };
    let kind = match parts.first().map(|k| k.to_ascii_uppercase()) {
        Some(k) if k == "CEA" => UnitKind::Cea,
        Some(k) if k == "CCER" => UnitKind::Ccer,
        Some(k) if k == "FORESTRY" => UnitKind::Forestry,
        Some(k) if k == "BLUE_CARBON" || k == "BLUE-CARBON" => UnitKind::BlueCarbon,
        // Rule 16: inclusion credits, PHCER:YEAR:METHODOLOGY.
        Some(k) if k == "PHCER" => UnitKind::Phcer,
        _ => return Err(bad()),
    };
    let vintage: u32 = parts.get(1).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let project = parts.get(2).map(|p| p.to_string()).unwrap_or_default();
    if parts.len() > 3 || (kind == UnitKind::Cea) != project.is_empty() {
        return Err(bad());
    }
    Ok(UnitClass {
        kind: kind as i32,
        vintage,
        project_id: project,
    })
}

pub fn class_label(c: &UnitClass) -> String {
    let kind = c.kind().as_str_name().trim_start_matches("UNIT_KIND_");
    if c.project_id.is_empty() {
        format!("{kind}:{}", c.vintage)
    } else {
        format!("{kind}:{}:{}", c.vintage, c.project_id)
    }
}

/// The accounts that must sign an operation; `actor` is the acting regulator, verifier or bank
/// for operations that name no account of their own.
pub fn signers(op: &Operation, actor: Option<&str>) -> Result<Vec<String>, ClientError> {
    use Operation as O;
    let own = |a: &str| Ok(vec![a.to_string()]);
    let actor = || {
        actor.map(|a| vec![a.to_string()]).ok_or_else(|| {
            ClientError::local("this operation is signed by the acting account: give --as ACCOUNT")
        })
    };
    match op {
        O::UpdateKeys(o) => own(&o.account_id),
        O::ProposeProject(o) => own(&o.owner_id),
        O::Transfer(o) => own(&o.from_account),
        O::Trade(o) => Ok(vec![o.seller.clone(), o.buyer.clone()]),
        O::Pledge(o) => Ok(vec![o.pledgor.clone(), o.pledgee.clone()]),
        O::Surrender(o) => own(&o.enterprise_id),
        O::Cancel(o) => own(&o.holder),
        O::Repo(o) => Ok(vec![o.seller.clone(), o.buyer.clone()]),
        O::Lend(o) => Ok(vec![o.lender.clone(), o.borrower.clone()]),
        O::TrustAccount(o) => own(&o.account_id),
        O::UntrustAccount(o) => own(&o.account_id),
        O::SetTransferLimit(o) => own(&o.account_id),
        O::OpenPersonalAccounts(o) => own(&o.platform_id),
        O::RecordReductions(o) => own(&o.platform_id),
        O::RotateClusterAdminKey(_) => own(carbon_proto::signing::CLUSTER_ADMIN_SIGNER),
        // Rule 17: the holder and the acting regulator (once, when the holder is it).
        O::ExportUnits(o) => {
            let mut s = vec![o.holder.clone()];
            s.extend(actor()?.into_iter().filter(|a| *a != o.holder));
            Ok(s)
        }
        _ => actor(),
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random nonce (a new transaction or admin request, even when all else is alike).
pub fn nonce() -> u64 {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    u64::from_le_bytes(b)
}

/// A body valid for `valid_for`, with a nonce that makes it a new transaction.
pub fn body(chain_id: &str, signers: Vec<String>, valid_for: Duration, op: Operation) -> TxBody {
    let nonce = nonce();
    TxBody {
        chain_id: chain_id.into(),
        signers,
        valid_until_ms: now_ms() + valid_for.as_millis() as u64,
        nonce,
        memo: String::new(),
        operation: Some(op),
    }
}

/// Encodes and signs a body with the given keys.
pub fn sign(body: &TxBody, keys: &[&Key]) -> SignedTx {
    let bytes = body.encode_to_vec();
    let signatures = keys
        .iter()
        .map(|k| carbon_proto::signing::sign(&body.chain_id, &bytes, &k.signing))
        .collect();
    SignedTx {
        body: bytes,
        signatures,
    }
}

/// How long a read credential made by this client stays valid (a node accepts at most five
/// minutes; the margin absorbs clock skew).
pub const READ_VALID_FOR: Duration = Duration::from_secs(120);

/// The account a private read is signed as, and one of its keys.
pub struct ReadAs {
    pub account: String,
    pub key: Key,
}

impl ReadAs {
    /// Puts a credential for exactly this request into `req`.
    pub fn sign<R: PrivateRead>(&self, chain_id: &str, req: &mut R) {
        let valid_until = now_ms() + READ_VALID_FOR.as_millis() as u64;
        carbon_proto::read_auth::sign(req, chain_id, &self.account, &self.key.signing, valid_until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_classes_parse_and_print() {
        for s in [
            "CEA:2025",
            "CCER:2025:ZS-WIND-001",
            "FORESTRY:2024:LS-FOR-001",
            "BLUE_CARBON:2025:X",
            "PHCER:2026:ZJ-PH-BUS-V01",
        ] {
            assert_eq!(class_label(&parse_class(s).expect(s)), s);
        }
        for bad in [
            "CEA",
            "CEA:x",
            "CEA:2025:P",
            "CCER:2025",
            "GOLD:2025",
            "CCER:2025:a:b",
        ] {
            assert!(parse_class(bad).is_err(), "{bad}");
        }
    }
}
