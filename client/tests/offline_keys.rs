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
