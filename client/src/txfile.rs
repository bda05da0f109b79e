//! Offline multi-party signing: a transaction as a JSON file that travels between parties.
//!
//! ```json
//! {"kind":"carbon-registry-tx/v1","chain_id":"...","tx_id":"<hex>","body":"<hex>",
//!  "summary":{ ...TxBody in protobuf JSON... },
//!  "signatures":[{"public_key":"<hex>","signature":"<hex>"}]}
//! ```
//! The body bytes are fixed when the file is built; each party signs the same bytes, and anyone
//! submits once enough signatures are attached. What a signer is shown is decoded from the body
//! itself ([`TxFile::body`], [`describe`]): the summary is derived from the body for people who
//! read the file, never trusted, and a file whose summary, id or chain disagrees with its body is
//! refused when loaded (an edited summary cannot make anyone sign something else).

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

    /// The file of a signed transaction (to resubmit its exact bytes later).
    pub fn from_signed(tx: &SignedTx) -> Result<Self, ClientError> {
        let body = TxBody::decode(tx.body.as_slice())
            .map_err(|e| ClientError::local(format!("transaction body: {e}")))?;
        Ok(TxFile {
            kind: KIND.into(),
            chain_id: body.chain_id.clone(),
            tx_id: hex::encode(carbon_proto::signing::tx_id(&tx.body)),
            body: hex::encode(&tx.body),
            summary: serde_json::to_value(&body).map_err(|e| ClientError::local(e.to_string()))?,
            signatures: tx
                .signatures
                .iter()
                .map(|s| SigEntry {
                    public_key: hex::encode(&s.public_key),
                    signature: hex::encode(&s.signature),
                })
                .collect(),
        })
    }

    pub fn body_bytes(&self) -> Result<Vec<u8>, ClientError> {
        hex::decode(&self.body).map_err(|e| ClientError::local(format!("tx file body: {e}")))
    }

    /// The body, decoded from the bytes that are signed.
    pub fn body(&self) -> Result<TxBody, ClientError> {
        TxBody::decode(self.body_bytes()?.as_slice())
            .map_err(|e| ClientError::local(format!("tx file body: {e}")))
    }

    /// Refuses a file whose id, chain or summary disagrees with its body.
    pub fn check(&self) -> Result<(), ClientError> {
        let bytes = self.body_bytes()?;
        let body = self.body()?;
        let refuse = |what: &str| {
            Err(ClientError::local(format!(
                "the file's {what} does not match its body (was it edited?); nothing was signed or sent"
            )))
        };
        if self.tx_id != hex::encode(carbon_proto::signing::tx_id(&bytes)) {
            return refuse("tx id");
        }
        if body.chain_id != self.chain_id {
            return refuse("chain id");
        }
        let derived = serde_json::to_value(&body).map_err(|e| ClientError::local(e.to_string()))?;
        if derived != self.summary {
            return refuse("summary");
        }
        Ok(())
    }

    /// Adds a signature by `key` over the file's exact body bytes (once per key).
    pub fn sign(&mut self, key: &Key) -> Result<(), ClientError> {
        self.check()?;
        let bytes = self.body_bytes()?;
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
        f.check()
            .map_err(|e| ClientError::local(format!("{}: {e}", path.display())))?;
        Ok(f)
    }

    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| ClientError::local(e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| ClientError::local(format!("{}: {e}", path.display())))
    }
}

/// What a body does, for people: one `field: value` line per field of the operation, decoded from
/// the body (ids and keys in hex, dates as written in the body).
pub fn describe(body: &TxBody) -> Vec<(String, String)> {
    let mut out = vec![
        ("chain".to_string(), body.chain_id.clone()),
        ("signers".to_string(), body.signers.join(", ")),
        (
            "valid until".to_string(),
            format!("{} ms (Unix time)", body.valid_until_ms),
        ),
        ("nonce".to_string(), body.nonce.to_string()),
    ];
    if !body.memo.is_empty() {
        out.push(("memo".to_string(), body.memo.clone()));
    }
    let Some(op) = &body.operation else {
        out.push(("operation".to_string(), "(none)".to_string()));
        return out;
    };
    out.push((
        "operation".to_string(),
        carbon_proto::names::operation(op).to_string(),
    ));
    // The oneof serialises as one more field of the body: {"chainId": .., "trade": {...}}.
    let fields = serde_json::to_value(body).unwrap_or_default();
    let inner = fields
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| !BODY_FIELDS.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default();
    flatten("", &inner, &mut out);
    out
}

const BODY_FIELDS: [&str; 5] = ["chainId", "signers", "validUntilMs", "nonce", "memo"];

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            if let (Some(kind), true) = (m.get("kind"), m.contains_key("vintage")) {
                // A unit class: one readable label.
                let class = carbon_proto::v1::UnitClass {
                    kind: carbon_proto::v1::UnitKind::from_str_name(kind.as_str().unwrap_or(""))
                        .map_or(0, |k| k as i32),
                    vintage: m
                        .get("vintage")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0) as u32,
                    project_id: m
                        .get("projectId")
                        .and_then(|p| p.as_str())
                        .unwrap_or("")
                        .to_string(),
                };
                out.push((prefix.to_string(), crate::ops::class_label(&class)));
                return;
            }
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| plain(prefix, x)).collect();
            out.push((prefix.to_string(), items.join(", ")));
        }
        other => out.push((prefix.to_string(), plain(prefix, other))),
    }
}

/// A scalar as text; bytes (keys) as hex.
fn plain(key: &str, v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) if key.ends_with("Keys") || key.ends_with("Key") => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(hex::encode)
                .unwrap_or_else(|_| s.clone())
        }
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
