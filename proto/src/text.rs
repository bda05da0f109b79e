//! Where a message holds text with a NUL character: a walk over the fields of the encoded
//! message, guided by the descriptors of our own `.proto` files, so every string field of every
//! operation is covered, new ones too, without decoding into a second form.
//!
//! Ingress refuses a transaction body with a NUL in any text (identifiers are NUL-terminated in
//! the state's keys).

use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What a field holds, as far as the walk cares.
#[derive(Debug, Clone)]
enum Kind {
    Text,
    Message(String),
    Other,
}

/// Fields of every message of our packages, by full name (`.carbon.registry.v1.TxBody`), then
/// by field number: (name, kind).
type Schema = BTreeMap<String, BTreeMap<u32, (String, Kind)>>;

/// Deepest nesting walked (TxBody -> operation -> unit class -> ...: a handful).
const DEPTH_MAX: usize = 16;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        use prost_types::field_descriptor_proto::Type;
        let mut out = Schema::new();
        let set =
            prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
        for file in &set.file {
            let package = file.package();
            for m in &file.message_type {
                let fields = m
                    .field
                    .iter()
                    .map(|f| {
                        let kind = match f.r#type() {
                            Type::String => Kind::Text,
                            Type::Message => Kind::Message(f.type_name().to_string()),
                            _ => Kind::Other,
                        };
                        (f.number() as u32, (f.name().to_string(), kind))
                    })
                    .collect();
                out.insert(format!(".{package}.{}", m.name()), fields);
            }
        }
        out
    })
}

/// The path (`body.transfer.from_account`) of the first text field of an encoded `TxBody`
/// that contains a NUL, if any. `bytes` must decode as a `TxBody` (ingress decodes it first).
pub fn body_text_with_nul(bytes: &[u8]) -> Option<String> {
    let mut path = String::from("body");
    walk(".carbon.registry.v1.TxBody", bytes, &mut path, 0).then_some(path)
}

/// Whether the encoded message of type `message` holds a NUL in some text; `path` is left
/// naming that field.
fn walk(message: &str, mut buf: &[u8], path: &mut String, depth: usize) -> bool {
    let Some(fields) = schema().get(message) else {
        return false;
    };
    if depth > DEPTH_MAX {
        return false;
    }
    while !buf.is_empty() {
        let Ok((number, wire)) = decode_key(&mut buf) else {
            return false;
        };
        let Some(value) = field_bytes(wire, &mut buf) else {
            return false;
        };
        let Some((name, kind)) = fields.get(&number) else {
            continue;
        };
        let before = path.len();
        path.push('.');
        path.push_str(name);
        let found = match kind {
            Kind::Text => value.contains(&0),
            Kind::Message(m) => walk(m, value, path, depth.saturating_add(1)),
            Kind::Other => false,
        };
        if found {
            return true;
        }
        path.truncate(before);
    }
    false
}

/// The bytes of a length-delimited field (empty for other wire types), advancing past the
/// field; `None` when the encoding is cut short.
fn field_bytes<'a>(wire: WireType, buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let skip = match wire {
        WireType::Varint => {
            decode_varint(buf).ok()?;
            return Some(&[]);
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => usize::try_from(decode_varint(buf).ok()?).ok()?,
        WireType::StartGroup | WireType::EndGroup => return None,
    };
    let (value, rest) = (buf.get(..skip)?, buf.get(skip..)?);
    *buf = rest;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{tx_body::Operation, Transfer, TxBody, UnitClass};

    fn body(from: &str, memo: &str, project: &str) -> Vec<u8> {
        TxBody {
            chain_id: "c".into(),
            signers: vec!["A".into()],
            memo: memo.into(),
            operation: Some(Operation::Transfer(Transfer {
                from_account: from.into(),
                to_account: "B".into(),
                unit_class: Some(UnitClass {
                    kind: 2,
                    vintage: 2025,
                    project_id: project.into(),
                }),
                quantity: 7,
            })),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn finds_a_nul_in_any_text_and_names_the_field() {
        assert_eq!(body_text_with_nul(&body("A", "hi", "P")), None);
        assert_eq!(
            body_text_with_nul(&body("A\0", "", "")).as_deref(),
            Some("body.transfer.from_account")
        );
        assert_eq!(
            body_text_with_nul(&body("A", "x\0y", "")).as_deref(),
            Some("body.memo")
        );
        assert_eq!(
            body_text_with_nul(&body("A", "", "P\0")).as_deref(),
            Some("body.transfer.unit_class.project_id")
        );
    }
}
