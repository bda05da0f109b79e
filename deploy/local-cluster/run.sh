#!/usr/bin/env bash
# Starts a local three-node cluster (client API on 127.0.0.1:50051-50053) and stops all three on
# Ctrl-C. Data goes to data/cluster/n{1,2,3}; logs to data/cluster/n{1,2,3}.log. On first run it
# makes a local CA and node certificates in data/cluster/certs (peers: mutual TLS; clients: TLS,
# trust data/cluster/certs/ca.pem: `carbonctl --ca data/cluster/certs/ca.pem ...`).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p carbon-node
mkdir -p data/cluster
./target/release/carbon-node certs --dir data/cluster/certs --nodes 1,2,3 --client ops >/dev/null
pids=()
trap 'kill ${pids[@]} 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
  ./target/release/carbon-node run --config deploy/local-cluster/n$i.toml >"data/cluster/n$i.log" 2>&1 &
  pids+=($!)
done
echo "cluster up: client API (TLS) on 127.0.0.1:50051, :50052, :50053 (logs in data/cluster/)."
echo "  export CARBON_CA=data/cluster/certs/ca.pem   # then carbonctl -e 127.0.0.1:50051 ...; Ctrl-C stops it."
wait
