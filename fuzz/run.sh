#!/usr/bin/env bash
# Builds and runs every fuzz target for RUNS executions each (default 10 million), one after the
# other, and prints libFuzzer's closing figures. Needs cargo-fuzz (`cargo install cargo-fuzz`);
# on a stable toolchain it sets RUSTC_BOOTSTRAP=1 for the nightly flags cargo-fuzz passes.
# A crash leaves its input in artifacts/<target>/: copy it to regressions/<target>/ and fix the
# code; node/tests/fuzz_regressions.rs replays every file there.
#
#   fuzz/run.sh                      # all targets, 10M runs each
#   fuzz/run.sh 100000 ledger_apply  # one target, 100k runs
set -euo pipefail
cd "$(dirname "$0")"
runs="${1:-10000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(signed_tx_ingress ledger_apply peer_message)
fi
export RUSTC_BOOTSTRAP=1
# The sanitizer adds little to safe Rust (unsafe code is forbidden in the workspace); overflow
# checks and debug assertions stay on (see Cargo.toml's release profile).
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  echo "== $t: $runs runs"
  # corpus/<t> collects what the fuzzer finds; seeds/<t> (in git) starts it off.
  cargo fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
    -runs="$runs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::|==|INFO: Seed|.*(panicked|ERROR|SUMMARY|crash|deadly))' || true
done
