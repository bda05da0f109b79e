//! The signing rule shared by clients, nodes and offline auditors.
//!
//! * `tx_id = blake3(body)`, over the body bytes exactly as sent.
//! * A signature is ed25519 over [`signing_hash`]`(chain_id, body)`:
//!   `blake3("carbon-registry/tx/v1" || 0x00 || le_u64(len(chain_id)) || chain_id || body)`.
//!   The domain tag keeps transaction signatures from ever being valid for anything else (read
//!   authentication and cluster administration use their own tags); the chain id keeps a
//!   transaction signed for one registry from being replayed on another.
//! * An account authorises a transaction when valid signatures of at least `threshold` distinct
//!   keys of its key set are attached ([`threshold_met`]).
//!
//! Verification is all-or-nothing per transaction: one invalid signature rejects it, so a stored
//! transaction never carries a signature that does not verify. There is ONE rule,
//! [`verify_signature`]: Ed25519 as ZIP 215 defines it (the cofactored equation
//! `[8][s]B = [8]R + [8][k]A`, `s` canonical; implemented by the `ed25519-zebra` crate), used for
//! transactions at ingress, in the offline replay and by `chain::verify_chain`, for read
//! credentials and for cluster-admin requests. Its batch form ([`verify_all`]) reaches exactly the
//! verdict of verifying one by one, which is why this rule and not `verify_strict` (whose
//! cofactorless equation a batch cannot reproduce): the leader verifies concurrent submissions
//! in one batch, an auditor one by one, and both agree. Every signature valid under
//! `verify_strict` is valid here. Keys in key sets are canonical and not of small order
//! (`ledger::exec::check_key_set`); a signature by a key outside every signer's key set counts
//! for nothing.

use crate::v1::{SignedTx, TxBody};
use ed25519_dalek::{Signer, SigningKey};
use ed25519_zebra::{batch, Signature as ZipSignature, VerificationKey, VerificationKeyBytes};
use prost::Message;

/// Domain tags of the three kinds of signed message.
pub const TX_DOMAIN: &[u8] = b"carbon-registry/tx/v1";
pub use crate::read_auth::READ_DOMAIN;
pub const ADMIN_DOMAIN: &[u8] = b"carbon-registry/admin/v1";

/// Most signatures one transaction may carry (the largest key set is 16 keys).
pub const SIGNATURES_MAX: usize = 32;
/// Old name of [`SIGNATURES_MAX`].
pub const MAX_SIGNATURES: usize = SIGNATURES_MAX;

/// A 32-byte transaction id.
pub type TxId = [u8; 32];

/// Why a signed transaction was refused before it could reach the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("the body is not a valid TxBody: {0}")]
    MalformedBody(String),
    #[error("signature {index} is malformed: {reason}")]
    MalformedSignature { index: usize, reason: &'static str },
    #[error("the transaction is for chain {found:?}, this registry is {expected:?}")]
    WrongChain { expected: String, found: String },
    #[error("signature {index} does not verify")]
    BadSignature { index: usize },
    #[error("the transaction carries no signature")]
    NoSignature,
    #[error("the transaction carries {0} signatures, at most {SIGNATURES_MAX} are allowed")]
    TooManySignatures(usize),
    #[error("the transaction names no signing account")]
    NoSigner,
}

impl SigningError {
    /// The stable error code a client sees.
    pub fn code(&self) -> crate::v1::ErrorCode {
        use crate::v1::ErrorCode;
        match self {
            SigningError::MalformedBody(_)
            | SigningError::MalformedSignature { .. }
            | SigningError::TooManySignatures(_)
            | SigningError::NoSigner => ErrorCode::Malformed,
            SigningError::WrongChain { .. } => ErrorCode::WrongChain,
            SigningError::BadSignature { .. } => ErrorCode::BadSignature,
            SigningError::NoSignature => ErrorCode::InsufficientSignatures,
        }
    }
}

/// `blake3(body)`.
pub fn tx_id(body: &[u8]) -> TxId {
    *blake3::hash(body).as_bytes()
}

fn domain_hash(domain: &[u8], chain_id: &str, payload: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(&[0]);
    h.update(&(chain_id.len() as u64).to_le_bytes());
    h.update(chain_id.as_bytes());
    for part in payload {
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// The 32 bytes a transaction signature covers.
pub fn signing_hash(chain_id: &str, body: &[u8]) -> [u8; 32] {
    domain_hash(TX_DOMAIN, chain_id, &[body])
}

/// The 32 bytes a cluster-admin signature covers.
pub fn admin_signing_hash(chain_id: &str, body: &[u8]) -> [u8; 32] {
    domain_hash(ADMIN_DOMAIN, chain_id, &[body])
}

/// Signs `body` for `chain_id` with `key`.
pub fn sign(chain_id: &str, body: &[u8], key: &SigningKey) -> crate::v1::Signature {
    let sig = key.sign(&signing_hash(chain_id, body));
    crate::v1::Signature {
        public_key: key.verifying_key().to_bytes().to_vec(),
        signature: sig.to_bytes().to_vec(),
    }
}

/// Encodes `body`, signs it with every key in `keys`, and returns the signed transaction.
pub fn sign_body(body: &TxBody, keys: &[&SigningKey]) -> SignedTx {
    let bytes = body.encode_to_vec();
    let signatures = keys
        .iter()
        .map(|k| sign(&body.chain_id, &bytes, k))
        .collect();
    SignedTx {
        body: bytes,
        signatures,
    }
}

/// The signer name of the cluster admin key in a transaction's `signers` (`RotateClusterAdminKey`).
/// Not a valid account id (`@`), so no account can take it.
pub const CLUSTER_ADMIN_SIGNER: &str = "@cluster-admin";

/// A transaction whose body decoded and whose every signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTx {
    pub tx_id: TxId,
    pub body: TxBody,
    pub signed: SignedTx,
    /// Distinct public keys whose signatures verified, sorted.
    pub signer_keys: Vec<[u8; 32]>,
}

impl VerifiedTx {
    /// Rebuilds a transaction that was verified before (at ingress, by the leader) without
    /// checking signatures again: decodes the body and collects the keys. Used when applying the
    /// replicated log, whose entries only ever contain verified transactions.
    pub fn from_verified_log(signed: SignedTx) -> Result<Self, SigningError> {
        let body = TxBody::decode(signed.body.as_slice())
            .map_err(|e| SigningError::MalformedBody(e.to_string()))?;
        let mut signer_keys = Vec::with_capacity(signed.signatures.len());
        for (index, s) in signed.signatures.iter().enumerate() {
            let key: [u8; 32] = s.public_key.as_slice().try_into().map_err(|_| {
                SigningError::MalformedSignature {
                    index,
                    reason: "public key is not 32 bytes",
                }
            })?;
            signer_keys.push(key);
        }
        signer_keys.sort_unstable();
        signer_keys.dedup();
        Ok(VerifiedTx {
            tx_id: tx_id(&signed.body),
            body,
            signed,
            signer_keys,
        })
    }
}

/// The body of the record the ledger writes when pending transfer `id`, due at `due_ms`,
/// executes (rule 15): no signer, valid until its due time, the id as nonce.
pub fn ledger_made_body(chain_id: &str, id: u64, due_ms: u64) -> TxBody {
    TxBody {
        chain_id: chain_id.to_string(),
        signers: Vec::new(),
        valid_until_ms: due_ms,
        nonce: id,
        memo: String::new(),
        operation: Some(crate::v1::tx_body::Operation::ExecutePendingTransfer(
            crate::v1::ExecutePendingTransfer {
                pending_transfer_id: id,
            },
        )),
    }
}

/// A record the ledger wrote itself, not a transaction anyone signed: no signature, no signer,
/// an `ExecutePendingTransfer` of this chain. Such a record is checked by replaying the rules
/// (the ledger makes it again from the same state), not by signatures.
pub fn ledger_made(chain_id: &str, signed: &SignedTx) -> Option<VerifiedTx> {
    if !signed.signatures.is_empty() {
        return None;
    }
    let body = TxBody::decode(signed.body.as_slice()).ok()?;
    let system = body.chain_id == chain_id
        && body.signers.is_empty()
        && matches!(
            body.operation,
            Some(crate::v1::tx_body::Operation::ExecutePendingTransfer(_))
        );
    system.then(|| VerifiedTx {
        tx_id: tx_id(&signed.body),
        body,
        signed: signed.clone(),
        signer_keys: Vec::new(),
    })
}

struct Parsed {
    body: TxBody,
    keys: Vec<[u8; 32]>,
    sigs: Vec<[u8; 64]>,
    hash: [u8; 32],
}

fn parse(chain_id: &str, signed: &SignedTx) -> Result<Parsed, SigningError> {
    let body = TxBody::decode(signed.body.as_slice())
        .map_err(|e| SigningError::MalformedBody(e.to_string()))?;
    if body.chain_id != chain_id {
        return Err(SigningError::WrongChain {
            expected: chain_id.to_string(),
            found: body.chain_id,
        });
    }
    if body.signers.is_empty() {
        return Err(SigningError::NoSigner);
    }
    if signed.signatures.is_empty() {
        return Err(SigningError::NoSignature);
    }
    if signed.signatures.len() > SIGNATURES_MAX {
        return Err(SigningError::TooManySignatures(signed.signatures.len()));
    }
    let mut keys = Vec::with_capacity(signed.signatures.len());
    let mut sigs = Vec::with_capacity(signed.signatures.len());
    for (index, s) in signed.signatures.iter().enumerate() {
        let malformed = |reason| SigningError::MalformedSignature { index, reason };
        let key: [u8; 32] = s
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| malformed("public key is not 32 bytes"))?;
        let sig: [u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| malformed("signature is not 64 bytes"))?;
        keys.push(key);
        sigs.push(sig);
    }
    let hash = signing_hash(chain_id, &signed.body);
    Ok(Parsed {
        body,
        keys,
        sigs,
        hash,
    })
}

fn finish(signed: SignedTx, p: Parsed) -> VerifiedTx {
    let mut signer_keys = p.keys;
    signer_keys.sort_unstable();
    signer_keys.dedup();
    VerifiedTx {
        tx_id: tx_id(&signed.body),
        body: p.body,
        signed,
        signer_keys,
    }
}

/// Why one signature failed the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFault {
    /// The public key is not an encoding of a curve point.
    MalformedKey,
    /// The signature does not verify.
    Invalid,
}

/// THE signature rule (module docs): Ed25519 under ZIP 215 over a 32-byte hash.
pub fn verify_signature(
    public_key: &[u8; 32],
    signature: &[u8; 64],
    hash: &[u8; 32],
) -> Result<(), SignatureFault> {
    let key = VerificationKey::try_from(VerificationKeyBytes::from(*public_key))
        .map_err(|_| SignatureFault::MalformedKey)?;
    key.verify(&ZipSignature::from_bytes(signature), hash)
        .map_err(|_| SignatureFault::Invalid)
}

fn verify_each(p: &Parsed) -> Result<(), SigningError> {
    for (index, (key, sig)) in p.keys.iter().zip(&p.sigs).enumerate() {
        verify_signature(key, sig, &p.hash).map_err(|f| match f {
            SignatureFault::MalformedKey => SigningError::MalformedSignature {
                index,
                reason: "public key is not a valid ed25519 point",
            },
            SignatureFault::Invalid => SigningError::BadSignature { index },
        })?;
    }
    Ok(())
}

/// Decodes and verifies one signed transaction for `chain_id`.
pub fn verify(chain_id: &str, signed: SignedTx) -> Result<VerifiedTx, SigningError> {
    let p = parse(chain_id, &signed)?;
    verify_each(&p)?;
    Ok(finish(signed, p))
}

/// Whether every signature of the parsed transactions verifies, checked in one batch.
fn batch_verifies(parsed: &[&Parsed]) -> bool {
    let mut v = batch::Verifier::new();
    for p in parsed {
        for (key, sig) in p.keys.iter().zip(&p.sigs) {
            let item = (
                VerificationKeyBytes::from(*key),
                ZipSignature::from_bytes(sig),
                &p.hash[..],
            );
            v.queue(item);
        }
    }
    v.verify(rand_core::OsRng).is_ok()
}

/// Verifies many transactions by the one rule: all their signatures in one batch (about half
/// the cost of one by one), and one by one only when the batch fails, to find which failed. The
/// verdict is each transaction's own, whatever else is in the batch (ZIP 215: batch and single
/// verification agree). Each input gets its own result, in order.
pub fn verify_all(chain_id: &str, txs: Vec<SignedTx>) -> Vec<Result<VerifiedTx, SigningError>> {
    let parsed: Vec<Result<Parsed, SigningError>> =
        txs.iter().map(|t| parse(chain_id, t)).collect();
    let ok: Vec<&Parsed> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
    let all_good = ok.is_empty() || batch_verifies(&ok);
    txs.into_iter()
        .zip(parsed)
        .map(|(signed, p)| {
            let p = p?;
            if !all_good {
                verify_each(&p)?;
            }
            Ok(finish(signed, p))
        })
        .collect()
}

/// "needs …" of an account whose threshold is not met, for rejection messages.
pub fn threshold_needed(threshold: u32) -> String {
    match threshold {
        1 => "a signature by one of its keys".to_string(),
        t => format!("signatures by {t} distinct keys of its key set"),
    }
}

/// True when the distinct verified keys include at least `threshold` keys of `key_set`.
/// A threshold of zero is never met: every account needs at least one signature.
pub fn threshold_met(key_set: &[Vec<u8>], threshold: u32, verified_keys: &[[u8; 32]]) -> bool {
    if threshold == 0 {
        return false;
    }
    let mut distinct: Vec<&[u8]> = key_set
        .iter()
        .map(|k| k.as_slice())
        .filter(|k| verified_keys.iter().any(|v| v.as_slice() == *k))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() as u64 >= u64::from(threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{tx_body::Operation, DeclareVintage, Signature};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn body() -> TxBody {
        TxBody {
            chain_id: "zj-test".into(),
            signers: vec!["ZJ-REG".into()],
            valid_until_ms: 1_900_000_000_000,
            nonce: 7,
            memo: String::new(),
            operation: Some(Operation::DeclareVintage(DeclareVintage {
                vintage: 2025,
                cap: 1_000,
            })),
        }
    }

    #[test]
    fn a_signed_tx_verifies_and_keeps_its_id() {
        let t = sign_body(&body(), &[&key(1)]);
        let v = verify("zj-test", t.clone()).expect("verifies");
        assert_eq!(v.tx_id, tx_id(&t.body));
        assert_eq!(v.signer_keys, vec![key(1).verifying_key().to_bytes()]);
    }

    #[test]
    fn wrong_chain_is_refused() {
        let t = sign_body(&body(), &[&key(1)]);
        assert!(matches!(
            verify("other", t),
            Err(SigningError::WrongChain { .. })
        ));
    }

    #[test]
    fn a_flipped_body_bit_breaks_the_signature() {
        let mut t = sign_body(&body(), &[&key(1)]);
        let last = t.body.len() - 1;
        t.body[last] ^= 1;
        let r = verify("zj-test", t);
        assert!(
            matches!(r, Err(SigningError::BadSignature { index: 0 }))
                || matches!(r, Err(SigningError::MalformedBody(_)))
        );
    }

    #[test]
    fn a_signature_from_another_key_is_refused() {
        let mut t = sign_body(&body(), &[&key(1)]);
        t.signatures[0].public_key = key(2).verifying_key().to_bytes().to_vec();
        assert_eq!(
            verify("zj-test", t),
            Err(SigningError::BadSignature { index: 0 })
        );
    }

    #[test]
    fn malformed_signatures_and_missing_signatures_are_refused() {
        let mut t = sign_body(&body(), &[&key(1)]);
        t.signatures[0].signature.pop();
        assert!(matches!(
            verify("zj-test", t),
            Err(SigningError::MalformedSignature { index: 0, .. })
        ));
        let mut t = sign_body(&body(), &[&key(1)]);
        t.signatures.clear();
        assert_eq!(verify("zj-test", t), Err(SigningError::NoSignature));
        let t = SignedTx {
            body: vec![0xff, 0xff, 0xff],
            signatures: vec![Signature::default()],
        };
        assert!(matches!(
            verify("zj-test", t),
            Err(SigningError::MalformedBody(_))
        ));
    }

    #[test]
    fn verifying_many_finds_the_one_bad_transaction() {
        let mut txs: Vec<SignedTx> = (0..20u8)
            .map(|i| {
                let mut b = body();
                b.nonce = u64::from(i);
                sign_body(&b, &[&key(i + 1)])
            })
            .collect();
        txs[13].signatures[0].signature[5] ^= 0x40;
        let results = verify_all("zj-test", txs);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 13, "tx {i}: {r:?}");
        }
    }

    #[test]
    fn thresholds_count_distinct_keys_of_the_set() {
        let set: Vec<Vec<u8>> = (1..=3u8)
            .map(|i| key(i).verifying_key().to_bytes().to_vec())
            .collect();
        let k = |i: u8| key(i).verifying_key().to_bytes();
        assert!(threshold_met(&set, 2, &[k(1), k(3)]));
        assert!(!threshold_met(&set, 2, &[k(1), k(1)]));
        assert!(!threshold_met(&set, 2, &[k(1), k(9)]));
        assert!(!threshold_met(&set, 0, &[k(1)]));
    }
}
