#!/usr/bin/env bash
# Starts a local three-node cluster (client API on 127.0.0.1:50051-50053, metrics on
# http://127.0.0.1:9464-9466/metrics) and stops all three on Ctrl-C. Data goes to
# data/cluster/n{1,2,3} (or $CARBON_CLUSTER_DATA/n{1,2,3}); logs next to it, n{1,2,3}.log. On
# first run it makes a local CA and node certificates in <data>/certs (peers: mutual TLS;
# clients: TLS, trust <data>/certs/ca.pem: `carbonctl --ca data/cluster/certs/ca.pem ...`).
# If one member exits, the script stops the others and exits non-zero: a broken member is
# never hidden. CARBON_BIN_DIR=dir uses the binaries there instead of building them.
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${CARBON_CLUSTER_DATA:-data/cluster}"
bin="${CARBON_BIN_DIR:-}"
if [ -z "$bin" ]; then
  cargo build --release -p carbon-node -p carbon-client
  bin=target/release
fi
mkdir -p "$data"
"$bin/carbon-node" certs --dir "$data/certs" --nodes 1,2,3 --client ops >/dev/null
pids=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap cleanup EXIT
trap 'cleanup; echo "stopped" >&2; exit 0' INT TERM
for i in 1 2 3; do
  # The environment overrides the file's data_dir and certificate paths (docs/CONFIG.md: file <
  # environment < flags).
  CARBON_DATA_DIR="$data/n$i" CARBON_TLS__CA="$data/certs/ca.pem" \
    CARBON_TLS__CERT="$data/certs/node-$i.pem" CARBON_TLS__KEY="$data/certs/node-$i.key" \
    "$bin/carbon-node" run --config "deploy/local-cluster/n$i.toml" >"$data/n$i.log" 2>&1 &
  pids+=("$!")
done
echo "cluster up: client API (TLS) on 127.0.0.1:50051, :50052, :50053 (logs in $data/). Ctrl-C stops it."
echo "  export CARBON_CA=$data/certs/ca.pem; $bin/carbonctl -e 127.0.0.1:50051 --key seeds/keys/cluster-admin.json cluster health --cluster"
status=0
wait -n "${pids[@]}" || status=$?
if [ "$status" -eq 0 ]; then
  status=1
fi
echo "a member exited (status $status); stopping the others (see $data/n*.log)" >&2
exit "$status"
