//! `carbonctl` key commands, which need no registry. Besides testing them, this integration test
//! makes `cargo nextest run --workspace` build the `carbonctl` binary (cargo builds a package's
//! binaries only for its integration tests), which the cluster tests in `tests/` run.

use std::process::Command;

fn carbonctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_carbonctl"))
        .args(args)
        .output()
        .expect("carbonctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keygen_writes_a_key_once_and_pubkey_reads_it_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ops.json");
    let path = path.to_str().expect("utf-8 path");

    let (code, public, err) = carbonctl(&["keygen", "--out", path, "--label", "ops"]);
    assert_eq!(code, 0, "keygen failed: {err}");
    assert_eq!(public.len(), 64, "a hex ed25519 public key: {public}");

    let (code, again, err) = carbonctl(&["pubkey", path]);
    assert_eq!(code, 0, "pubkey failed: {err}");
    assert_eq!(again, public);

    let before = std::fs::read(path).expect("key file");
    let (code, _, _) = carbonctl(&["keygen", "--out", path]);
    assert_ne!(code, 0, "keygen must refuse to overwrite a key file");
    assert_eq!(std::fs::read(path).expect("key file"), before);
}

/// A registry that cannot be reached before anything was sent is a plain failure (exit 1, "nothing
/// was sent"), for reads and for writes alike: exit 4 ("fate unknown") is only for a transaction
/// that was sent and got no definite answer.
#[test]
fn an_unreachable_registry_before_sending_is_exit_1_not_an_unknown_fate() {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds/keys");
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["chain", "head"][..],
        &[
            "--as", "ZJ-REG", "vintage", "declare", "2031", "--cap", "10",
        ][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_carbonctl"))
            .args(["-e", "127.0.0.1:1", "--timeout", "1", "--keys-dir", keys])
            .args(args)
            .env_remove("CARBON_ENDPOINTS")
            .env_remove("CARBON_CA")
            .current_dir(dir.path())
            .output()
            .expect("carbonctl runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("nothing was sent"), "{args:?}: {err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "nothing to resend, so no pending file"
        );
    }
}

/// A sent transaction saved for resending keeps its exact signed bytes.
#[test]
fn a_pending_transaction_file_keeps_the_exact_signed_bytes() {
    use carbon_client::txfile::TxFile;
    use carbon_proto::v1::{Signature, SignedTx};
    let body = carbon_proto::v1::TxBody {
        chain_id: "zj-carbon-demo".into(),
        signers: vec!["ZJ-REG".into()],
        valid_until_ms: 1_800_000_000_000,
        ..Default::default()
    };
    let tx = SignedTx {
        body: prost::Message::encode_to_vec(&body),
        signatures: vec![Signature {
            public_key: vec![7; 32],
            signature: vec![9; 64],
        }],
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pending.tx.json");
    TxFile::from_signed(&tx)
        .expect("file")
        .save(&path)
        .expect("save");
    let back = TxFile::load(&path).expect("load").signed().expect("signed");
    assert_eq!(back, tx);
}

/// `carbonctl … | head` whose reader has gone: a quiet end (status 141, as after SIGPIPE), not
/// a panic with a backtrace.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds/keys/ZJ-REG.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_carbonctl"))
        .args(["pubkey", key])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("carbonctl runs");
    drop(child.stdout.take()); // the reader goes away before anything is printed
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
