//! The cluster admin key: who may change membership and take backups (`AdminRequest`s). The
//! genesis names the first; `RotateClusterAdminKey`, signed by the current key as the signer
//! [`CLUSTER_ADMIN_SIGNER`], replaces it. Being a transaction, the rotation is committed through
//! the log, so every replica switches keys at the same log index.

use super::error::{reject, ErrorCode, LedgerError, Res};
use super::exec::Exec;
use super::keys;
use carbon_proto::signing::CLUSTER_ADMIN_SIGNER;
use carbon_proto::v1::{Effects, RotateClusterAdminKey};

/// The key in force: the last rotation's, or the genesis key.
fn current(x: &Exec) -> Res<Vec<u8>> {
    match x.get::<Vec<u8>>(keys::CLUSTER_ADMIN_KEY)? {
        Some(k) => Ok(k),
        None => Ok(x.genesis.cluster_admin_key.clone()),
    }
}

/// The signer `@cluster-admin` is authorised when the current cluster admin key signed.
pub fn authorise(x: &Exec) -> Res<()> {
    match admin_key_refusal(&current(x)?, x.tx) {
        None => Ok(()),
        Some(why) => Err(why.into()),
    }
}

/// Why `@cluster-admin` has not authorised `tx`, if it has not: `key` (the key in force) did not
/// sign it. The one rule: the ledger applies it, and the leader's ingress asks it before
/// proposing (`node::write::checks`), each with the key in force in its view.
pub fn admin_key_refusal(key: &[u8], tx: &carbon_proto::VerifiedTx) -> Option<LedgerError> {
    if tx.signer_keys.iter().any(|k| k.as_slice() == key) {
        return None;
    }
    Some(LedgerError::new(
        ErrorCode::InsufficientSignatures,
        format!("{CLUSTER_ADMIN_SIGNER} needs the signature of the current cluster admin key"),
    ))
}

pub fn rotate_admin_key(x: &mut Exec, op: &RotateClusterAdminKey) -> Res<Effects> {
    if x.tx.body.signers != [CLUSTER_ADMIN_SIGNER] {
        return reject(
            ErrorCode::RoleNotPermitted,
            format!("the cluster admin key is rotated by {CLUSTER_ADMIN_SIGNER} alone"),
        );
    }
    let new = <[u8; 32]>::try_from(op.new_public_key.as_slice())
        .ok()
        .filter(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok());
    let Some(new) = new else {
        return reject(
            ErrorCode::InvalidArgument,
            "the new cluster admin key is not a valid 32-byte ed25519 public key",
        );
    };
    if new.as_slice() == current(x)?.as_slice() {
        return reject(
            ErrorCode::InvalidArgument,
            "the new cluster admin key is the current one",
        );
    }
    x.put(keys::CLUSTER_ADMIN_KEY.to_vec(), &new.to_vec());
    Ok(Effects::default())
}
