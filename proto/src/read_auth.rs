//! Read credentials: how a private read proves who asks, for exactly one request.
//!
//! A `ReadAuth` travels inside the request it authorises. Its signature is ed25519, by one key
//! of `account_id`'s key set, over [`read_signing_hash`]:
//!
//! ```text
//! blake3( "carbon-registry/read/v2" || 0x00
//!         || le_u64(len(chain_id)) || chain_id
//!         || le_u64(len(method))   || method          e.g. "/carbon.registry.v1.Registry/GetHoldings"
//!         || request_hash                            32 bytes, see below
//!         || le_u64(len(account_id)) || account_id
//!         || le_u64(valid_until_ms) )
//! request_hash = blake3( the request message with its `auth` field unset, protobuf-encoded
//!                        canonically: fields in field-number order, default values and unknown
//!                        fields omitted )
//! ```
//!
//! The method and the request hash bind the credential to one request: it cannot be replayed
//! for another account, another page or another method. `valid_until_ms` bounds its life; a node
//! refuses one that has expired or that claims more than a few minutes (see the node's
//! `READ_AUTH_VALID_MS_MAX`). Within that window the same request may be repeated (a retry): it
//! can only return the same kind of answer to the same question.

use crate::v1::*;
use ed25519_dalek::{Signer, SigningKey};
use prost::Message;

/// Domain tag of read credentials (v1 signed only account and time, and is no longer accepted).
pub const READ_DOMAIN: &[u8] = b"carbon-registry/read/v2";

/// A request that may carry a read credential.
pub trait PrivateRead: Message + Clone {
    /// The full gRPC method path the credential is for.
    const METHOD: &'static str;
    fn auth(&self) -> Option<&ReadAuth>;
    fn set_auth(&mut self, auth: Option<ReadAuth>);
}

macro_rules! private_read {
    ($($req:ty => $method:literal),* $(,)?) => {$(
        impl PrivateRead for $req {
            const METHOD: &'static str = concat!("/carbon.registry.v1.Registry/", $method);
            fn auth(&self) -> Option<&ReadAuth> {
                self.auth.as_ref()
            }
            fn set_auth(&mut self, auth: Option<ReadAuth>) {
                self.auth = auth;
            }
        }
    )*};
}

private_read! {
    GetHoldingsRequest => "GetHoldings",
    ListEncumbrancesRequest => "ListEncumbrances",
    GetHistoryRequest => "GetHistory",
    GetTransactionRequest => "GetTransaction",
    WatchRequest => "Watch",
    ListReposRequest => "ListRepos",
    ListSafeguardsRequest => "ListSafeguards",
    GetPointsRequest => "GetPoints",
    GetPointsStatementRequest => "GetPointsStatement",
    ListLoansRequest => "ListLoans",
    ListVintagesRequest => "ListVintages",
    ListAllocationsRequest => "ListAllocations",
    ListAccountsRequest => "ListAccounts",
    GetStatementRequest => "GetStatement",
    SimulateRequest => "Simulate",
    TraceSerialRequest => "TraceSerial",
    ClusterStatusRequest => "ClusterStatus",
    GetMarketStatsRequest => "GetMarketStats",
    GetReferencePriceRequest => "GetReferencePrice",
}

/// blake3 of the request with its credential unset.
pub fn request_hash<R: PrivateRead>(req: &R) -> [u8; 32] {
    let mut r = req.clone();
    r.set_auth(None);
    *blake3::hash(&r.encode_to_vec()).as_bytes()
}

fn len_prefixed(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_le_bytes());
    h.update(b);
}

/// The 32 bytes a read credential's signature covers.
pub fn read_signing_hash(
    chain_id: &str,
    method: &str,
    request_hash: &[u8; 32],
    account_id: &str,
    valid_until_ms: u64,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(READ_DOMAIN);
    h.update(&[0]);
    len_prefixed(&mut h, chain_id.as_bytes());
    len_prefixed(&mut h, method.as_bytes());
    h.update(request_hash);
    len_prefixed(&mut h, account_id.as_bytes());
    h.update(&valid_until_ms.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The signing hash of `req` as it stands (its own credential names account and validity).
pub fn signing_hash_of<R: PrivateRead>(chain_id: &str, req: &R, auth: &ReadAuth) -> [u8; 32] {
    read_signing_hash(
        chain_id,
        R::METHOD,
        &request_hash(req),
        &auth.account_id,
        auth.valid_until_ms,
    )
}

/// Signs `req` as `account_id` with `key`, valid until `valid_until_ms`, and puts the credential
/// into it.
pub fn sign<R: PrivateRead>(
    req: &mut R,
    chain_id: &str,
    account_id: &str,
    key: &SigningKey,
    valid_until_ms: u64,
) {
    let mut auth = ReadAuth {
        account_id: account_id.to_string(),
        valid_until_ms,
        public_key: key.verifying_key().to_bytes().to_vec(),
        signature: Vec::new(),
    };
    auth.signature = key
        .sign(&signing_hash_of(chain_id, req, &auth))
        .to_bytes()
        .to_vec();
    req.set_auth(Some(auth));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_the_credential_and_binds_the_request() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut a = GetHoldingsRequest {
            account_id: "ZJ-ENT-01".into(),
            ..Default::default()
        };
        let unsigned = request_hash(&a);
        sign(&mut a, "zj", "ZJ-ENT-01", &key, 10);
        assert!(a.auth.is_some());
        assert_eq!(request_hash(&a), unsigned);
        let b = GetHoldingsRequest {
            account_id: "ZJ-ENT-02".into(),
            ..Default::default()
        };
        assert_ne!(request_hash(&b), unsigned);
        let auth = a.auth.clone().unwrap_or_default();
        let h = |method| read_signing_hash("zj", method, &unsigned, "ZJ-ENT-01", 10);
        assert_eq!(
            signing_hash_of("zj", &a, &auth),
            h(GetHoldingsRequest::METHOD)
        );
        assert_ne!(h(GetHoldingsRequest::METHOD), h(GetHistoryRequest::METHOD));
    }
}
