//! Every input that ever crashed a fuzz target becomes a regression test: the files of
//! `fuzz/regressions/<target>/` are replayed through the same functions the fuzz targets call
//! (`fuzz/src/lib.rs`, included here), together with the targets' seed bodies.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzzed;

use prost::Message;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).expect("regression input");
            run(&bytes);
            n += 1;
        }
    }
    n
}

#[test]
fn signed_tx_ingress_never_panics_on_past_crashes() {
    replay("signed_tx_ingress", fuzzed::signed_tx_ingress);
    for b in fuzzed::setup_bodies() {
        fuzzed::signed_tx_ingress(&b.encode_to_vec());
    }
}

#[test]
fn ledger_apply_keeps_its_invariants_on_past_crashes() {
    replay("ledger_apply", fuzzed::ledger_apply);
    let bodies: Vec<Vec<u8>> = fuzzed::setup_bodies()
        .iter()
        .map(|b| b.encode_to_vec())
        .collect();
    fuzzed::ledger_apply(&fuzzed::frame(&bodies));
}

#[test]
fn peer_message_decoding_never_panics_on_past_crashes() {
    replay("peer_message", fuzzed::peer_message);
    fuzzed::peer_message(&[]);
}

#[test]
fn every_seed_runs_through_its_target() {
    let write = std::env::var_os("FUZZ_SEEDS_WRITE").is_some();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for (target, name, bytes) in fuzzed::seeds() {
        match target {
            "signed_tx_ingress" => fuzzed::signed_tx_ingress(&bytes),
            "ledger_apply" => fuzzed::ledger_apply(&bytes),
            _ => fuzzed::peer_message(&bytes),
        }
        if write {
            std::fs::create_dir_all(dir.join(target)).expect("seed dir");
            std::fs::write(dir.join(target).join(name), &bytes).expect("seed");
        }
    }
}
