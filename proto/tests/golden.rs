//! Golden test vectors for the signing rules, published in `proto/testdata/golden.json` so that
//! clients in other languages can check their encoding, tx id, signing hash and signature
//! (`transactions`), and their read credentials (`read_auth`).
//!
//! Regenerate (only when the rule deliberately changes):
//! `GOLDEN_UPDATE=1 cargo test -p carbon-proto --test golden`.

use carbon_proto::read_auth::{self, PrivateRead};
use carbon_proto::signing::{self, sign_body};
use carbon_proto::v1::{
    tx_body::Operation, GetHistoryRequest, GetHoldingsRequest, Transfer, TxBody, UnitClass,
    UnitKind,
};
use ed25519_dalek::SigningKey;
use prost::Message;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Vector {
    description: String,
    secret_key_seed_hex: String,
    public_key_hex: String,
    chain_id: String,
    body_hex: String,
    tx_id_hex: String,
    signing_hash_hex: String,
    signature_hex: String,
}

/// One read credential: the request as signed (auth unset) and as sent (auth set).
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ReadVector {
    description: String,
    secret_key_seed_hex: String,
    chain_id: String,
    method: String,
    account_id: String,
    valid_until_ms: u64,
    unsigned_request_hex: String,
    request_hash_hex: String,
    signing_hash_hex: String,
    signature_hex: String,
    signed_request_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Golden {
    transactions: Vec<Vector>,
    read_auth: Vec<ReadVector>,
}

fn read_vector<R: PrivateRead>(description: &str, mut req: R, account: &str) -> ReadVector {
    let seed = [0x42u8; 32];
    let key = SigningKey::from_bytes(&seed);
    let chain = "zj-carbon-demo";
    let valid_until_ms = 1_767_225_600_000;
    req.set_auth(None);
    let unsigned = req.encode_to_vec();
    let request_hash = read_auth::request_hash(&req);
    let signing_hash =
        read_auth::read_signing_hash(chain, R::METHOD, &request_hash, account, valid_until_ms);
    read_auth::sign(&mut req, chain, account, &key, valid_until_ms);
    let auth = req.auth().cloned().unwrap_or_default();
    ReadVector {
        description: description.into(),
        secret_key_seed_hex: hex::encode(seed),
        chain_id: chain.into(),
        method: R::METHOD.into(),
        account_id: account.into(),
        valid_until_ms,
        unsigned_request_hex: hex::encode(unsigned),
        request_hash_hex: hex::encode(request_hash),
        signing_hash_hex: hex::encode(signing_hash),
        signature_hex: hex::encode(&auth.signature),
        signed_request_hex: hex::encode(req.encode_to_vec()),
    }
}

fn read_vectors() -> Vec<ReadVector> {
    vec![
        read_vector(
            "an enterprise reads its own holdings; seed is 32 bytes of 0x42",
            GetHoldingsRequest {
                account_id: "ZJ-ENT-0001".into(),
                ..Default::default()
            },
            "ZJ-ENT-0001",
        ),
        read_vector(
            "the regulator reads a page of an enterprise's history; seed is 32 bytes of 0x42",
            GetHistoryRequest {
                account_id: "ZJ-ENT-0001".into(),
                from_sequence: 17,
                limit: 50,
                ..Default::default()
            },
            "ZJ-REG",
        ),
    ]
}

fn vectors() -> Vec<Vector> {
    let seed = [0x42u8; 32];
    let key = SigningKey::from_bytes(&seed);
    let body = TxBody {
        chain_id: "zj-carbon-demo".into(),
        signers: vec!["ZJ-ENT-0001".into()],
        valid_until_ms: 1_767_225_600_000,
        nonce: 1,
        memo: "golden vector".into(),
        operation: Some(Operation::Transfer(Transfer {
            from_account: "ZJ-ENT-0001".into(),
            to_account: "ZJ-ENT-0002".into(),
            unit_class: Some(UnitClass {
                kind: UnitKind::Cea as i32,
                vintage: 2025,
                project_id: String::new(),
            }),
            quantity: 1_000,
        })),
    };
    let signed = sign_body(&body, &[&key]);
    let bytes = body.encode_to_vec();
    assert_eq!(signed.body, bytes);
    vec![Vector {
        description: "transfer of 1,000 CEA 2025, one signature; seed is 32 bytes of 0x42".into(),
        secret_key_seed_hex: hex::encode(seed),
        public_key_hex: hex::encode(key.verifying_key().to_bytes()),
        chain_id: body.chain_id.clone(),
        body_hex: hex::encode(&bytes),
        tx_id_hex: hex::encode(signing::tx_id(&bytes)),
        signing_hash_hex: hex::encode(signing::signing_hash(&body.chain_id, &bytes)),
        signature_hex: hex::encode(&signed.signatures[0].signature),
    }]
}

#[test]
fn golden_vectors_match_the_published_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/golden.json");
    let computed = Golden {
        transactions: vectors(),
        read_auth: read_vectors(),
    };
    if std::env::var("GOLDEN_UPDATE").is_ok() {
        let text = serde_json::to_string_pretty(&computed).expect("serialises") + "\n";
        std::fs::write(path, text).expect("writes the vectors");
    }
    let text = std::fs::read_to_string(path).expect("golden.json exists");
    let published: Golden = serde_json::from_str(&text).expect("golden.json parses");
    assert_eq!(published, computed);
    // Every published read signature verifies over the published signing hash.
    for v in &published.read_auth {
        let key = SigningKey::from_bytes(
            &hex::decode(&v.secret_key_seed_hex)
                .expect("hex")
                .try_into()
                .expect("32 bytes"),
        );
        let sig: [u8; 64] = hex::decode(&v.signature_hex)
            .expect("hex")
            .try_into()
            .expect("64 bytes");
        let hash: [u8; 32] = hex::decode(&v.signing_hash_hex)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        key.verifying_key()
            .verify_strict(&hash, &ed25519_dalek::Signature::from_bytes(&sig))
            .expect("the read signature verifies");
    }
    // The published signature verifies under the rule, and gives the published tx id.
    for v in &published.transactions {
        let signed = carbon_proto::v1::SignedTx {
            body: hex::decode(&v.body_hex).expect("hex"),
            signatures: vec![carbon_proto::v1::Signature {
                public_key: hex::decode(&v.public_key_hex).expect("hex"),
                signature: hex::decode(&v.signature_hex).expect("hex"),
            }],
        };
        let verified = signing::verify(&v.chain_id, signed).expect("verifies");
        assert_eq!(hex::encode(verified.tx_id), v.tx_id_hex);
    }
}
