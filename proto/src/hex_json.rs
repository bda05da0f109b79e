//! carbonctl's JSON: protobuf JSON (pbjson) with every bytes field in hex instead of base64, and
//! the exported history (`carbonctl chain export`): one committed transaction per line in that
//! JSON. Shared by carbonctl (which writes and verifies exports) and `carbon-node check` (which
//! replays them through the ledger).

use crate::v1::CommittedTx;
use base64::Engine;
use serde_json::Value;

/// Fields that hold bytes (ids, keys, hashes, signatures, signed bodies): protobuf JSON writes
/// them in base64, carbonctl in hex.
const BYTES_FIELDS: [&str; 10] = [
    "txId",
    "chainHead",
    "head",
    "publicKey",
    "publicKeys",
    "signature",
    "body",
    "nextPageToken",
    "pageToken",
    "clusterAdminKey",
];

/// Rewrites every string of a bytes field (or of an array in one) with `f`.
fn rewrite(v: Value, f: &dyn Fn(&str) -> String) -> Value {
    let bytes = |x: Value| match x {
        Value::String(s) => Value::String(f(&s)),
        other => other,
    };
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(_) if BYTES_FIELDS.contains(&k.as_str()) => bytes(v),
                        Value::Array(a) if BYTES_FIELDS.contains(&k.as_str()) => {
                            Value::Array(a.into_iter().map(bytes).collect())
                        }
                        other => rewrite(other, f),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| rewrite(x, f)).collect()),
        other => other,
    }
}

/// Rewrites the bytes fields of a protobuf-JSON value from base64 to hex.
pub fn hexify(v: Value) -> Value {
    rewrite(v, &|s| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(hex::encode)
            .unwrap_or_else(|_| s.to_string())
    })
}

/// The inverse of [`hexify`], to read carbonctl's JSON back into protobuf types.
pub fn unhexify(v: Value) -> Value {
    rewrite(v, &|s| {
        hex::decode(s)
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
            .unwrap_or_else(|_| s.to_string())
    })
}

/// A line of an export file that is not a committed transaction.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExportError {
    pub line: usize,
    pub message: String,
}

/// One line of an export file (without its newline).
pub fn export_line(t: &CommittedTx) -> Result<String, serde_json::Error> {
    serde_json::to_value(t).map(|v| hexify(v).to_string())
}

/// Reads an export file's text: one committed transaction per non-empty line.
pub fn read_export(text: &str) -> Result<Vec<CommittedTx>, ExportError> {
    let mut txs = Vec::new();
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |e: serde_json::Error| ExportError {
            line: i + 1,
            message: e.to_string(),
        };
        let v: Value = serde_json::from_str(l).map_err(bad)?;
        txs.push(serde_json::from_value::<CommittedTx>(unhexify(v)).map_err(bad)?);
    }
    Ok(txs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_line_reads_back_the_same_transaction() {
        let t = CommittedTx {
            tx: Some(crate::v1::SignedTx {
                body: vec![1, 2, 3],
                signatures: vec![crate::v1::Signature {
                    public_key: vec![7; 32],
                    signature: vec![9; 64],
                }],
            }),
            outcome: Some(crate::v1::Outcome {
                tx_id: vec![5; 32],
                chain_head: vec![6; 32],
                sequence: 4,
                ..Default::default()
            }),
        };
        let line = export_line(&t).expect("line");
        assert!(line.contains(&"05".repeat(32)), "ids in hex: {line}");
        assert_eq!(
            read_export(&format!("{line}\n\n{line}\n")).expect("read"),
            vec![t.clone(), t]
        );
        let e = read_export("{}\nnot json\n").expect_err("bad line");
        assert_eq!(e.line, 2);
    }
}
