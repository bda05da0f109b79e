//! Offline multi-party signing: a transaction as a JSON file that travels between parties.
//!
//! ```json
//! {"kind":"carbon-registry-tx/v1","chain_id":"...","tx_id":"<hex>","body":"<hex>",
//!  "summary":{ ...TxBody in protobuf JSON... },
//!  "signatures":[{"public_key":"<hex>","signature":"<hex>"}]}
//! ```
//! The body bytes are fixed when the file is built; each party checks the summary, signs the
//! same bytes, and anyone submits once enough signatures are attached.

use crate::error::ClientError;
use crate::keys::Key;
use carbon_proto::v1::{Signature, SignedTx, TxBody};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const KIND: &str = "carbon-registry-tx/v1";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SigEntry {
    pub public_key: String,
    pub signature: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TxFile {
    pub kind: String,
    pub chain_id: String,
    pub tx_id: String,
    pub body: String,
    pub summary: serde_json::Value,
    pub signatures: Vec<SigEntry>,
}

impl TxFile {
    pub fn new(body: &TxBody) -> Result<Self, ClientError> {
        let bytes = body.encode_to_vec();
        Ok(TxFile {
            kind: KIND.into(),
            chain_id: body.chain_id.clone(),
            tx_id: hex::encode(carbon_proto::signing::tx_id(&bytes)),
            body: hex::encode(&bytes),
            summary: serde_json::to_value(body).map_err(|e| ClientError::local(e.to_string()))?,
            signatures: Vec::new(),
        })
    }

    pub fn body_bytes(&self) -> Result<Vec<u8>, ClientError> {
        hex::decode(&self.body).map_err(|e| ClientError::local(format!("tx file body: {e}")))
    }

    /// Adds a signature by `key` over the file's exact body bytes (once per key).
    pub fn sign(&mut self, key: &Key) -> Result<(), ClientError> {
        let bytes = self.body_bytes()?;
        let body = TxBody::decode(bytes.as_slice())
            .map_err(|e| ClientError::local(format!("tx file body: {e}")))?;
        if body.chain_id != self.chain_id {
            return Err(ClientError::local(
                "the file's chain id does not match its body",
            ));
        }
        let s = carbon_proto::signing::sign(&self.chain_id, &bytes, &key.signing);
        let pk = hex::encode(&s.public_key);
        self.signatures.retain(|e| e.public_key != pk);
        self.signatures.push(SigEntry {
            public_key: pk,
            signature: hex::encode(&s.signature),
        });
        Ok(())
    }

    pub fn signed(&self) -> Result<SignedTx, ClientError> {
        let signatures = self
            .signatures
            .iter()
            .map(|e| {
                Ok(Signature {
                    public_key: hex::decode(&e.public_key)
                        .map_err(|err| ClientError::local(format!("signature key: {err}")))?,
                    signature: hex::decode(&e.signature)
                        .map_err(|err| ClientError::local(format!("signature: {err}")))?,
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok(SignedTx {
            body: self.body_bytes()?,
            signatures,
        })
    }

    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClientError::local(format!("{}: {e}", path.display())))?;
        let f: TxFile = serde_json::from_str(&text)
            .map_err(|e| ClientError::local(format!("{} is not a tx file: {e}", path.display())))?;
        if f.kind != KIND {
            return Err(ClientError::local(format!(
                "{} is not a {KIND} file",
                path.display()
            )));
        }
        Ok(f)
    }

    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| ClientError::local(e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| ClientError::local(format!("{}: {e}", path.display())))
    }
}
