#!/usr/bin/env bash
# Builds the container image, starts the three-member compose file (host networking, loopback
# ports only), waits until every member is healthy (grpc.health.v1, through Docker's health
# check and carbonctl), writes through carbonctl, kills one member's process and checks that
# Docker restarts it and that it serves again, then removes the containers and volumes.
#
# Needs a running Docker engine (DOCKER_HOST if not the default socket) and docker-compose or
# `docker compose`; no image registry: the image is FROM scratch (deploy/Dockerfile).
#   deploy/container-test.sh                      # builds the binaries (cargo build --release)
#   CARBON_BIN_DIR=target/debug deploy/container-test.sh   # or uses binaries already built
# Exits non-zero, saying why, at the first step that fails; the containers are removed either way
# (KEEP=1 keeps them for a look).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { say "FAILED: $*"; exit 1; }

if docker compose version >/dev/null 2>&1; then
  compose() { docker compose -p carbon -f deploy/compose.yaml "$@"; }
elif command -v docker-compose >/dev/null 2>&1; then
  compose() { docker-compose -p carbon -f deploy/compose.yaml "$@"; }
else
  fail "neither 'docker compose' nor docker-compose is installed"
fi
docker info >/dev/null 2>&1 || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-default})"

# 1. Binaries.
bin=${CARBON_BIN_DIR:-}
if [ -z "$bin" ]; then
  say "building carbon-node and carbonctl (cargo build --release)"
  cargo build --release --locked -p carbon-node -p carbon-client --bin carbon-node --bin carbonctl
  bin=target/release
fi
for b in carbon-node carbonctl; do
  [ -x "$bin/$b" ] || fail "$bin/$b is missing"
done

# 2. The image's root file system: the binaries, the shared libraries they load, user 10001.
stage=target/image
rm -rf "$stage"
rootfs=$stage/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/carbon-registry" "$rootfs/tmp" "$stage/data"
cp "$bin/carbon-node" "$bin/carbonctl" "$rootfs/usr/local/bin/"
strip "$rootfs/usr/local/bin/"* 2>/dev/null || true
for lib in $(ldd "$bin/carbon-node" "$bin/carbonctl" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}' | sort -u); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\ncarbon:x:10001:10001:carbon registry:/var/lib/carbon-registry:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\ncarbon:x:10001:\n' >"$rootfs/etc/group"
chmod 0700 "$stage/data" # becomes /var/lib/carbon-registry, owned by 10001 (deploy/Dockerfile)
chmod 1777 "$rootfs/tmp"
say "root file system: $(du -sh "$rootfs" | cut -f1) ($(find "$rootfs" -type f | wc -l) files)"

# 3. The image.
say "docker build -f deploy/Dockerfile -t carbon-node $stage"
docker build -q -f deploy/Dockerfile -t carbon-node "$stage" >/dev/null
docker image inspect carbon-node --format 'image {{.Id}}, {{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}}'

# 4. Certificates (never overwritten: `carbon-node certs` reuses what exists).
"$bin/carbon-node" certs --dir deploy/compose/certs --nodes 1,2,3 --host localhost,127.0.0.1 >/dev/null
# The members run as user 10001 and read them from a read-only mount.
if [ "$(id -u)" = 0 ]; then
  chown 10001:10001 deploy/compose/certs/*.pem deploy/compose/certs/*.key
else
  chmod 0644 deploy/compose/certs/*.pem deploy/compose/certs/*.key
fi

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: containers left running (docker-compose -p carbon -f deploy/compose.yaml down -v)"
    return
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
compose down -v --remove-orphans >/dev/null 2>&1 || true

# 5. Up, and healthy.
say "compose up: n1, n2, n3 (network_mode host)"
compose up -d
endpoints=127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053
ctl() {
  "$bin/carbonctl" --ca deploy/compose/certs/ca.pem -e "$endpoints" --keys-dir seeds/keys "$@"
}
container_of() { compose ps -q "$1"; }
wait_healthy() { # service, seconds
  local c deadline=$((SECONDS + $2))
  c=$(container_of "$1")
  while [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" != healthy ]; do
    [ $SECONDS -lt "$deadline" ] || fail "$1 not healthy after $2 s: $(docker logs --tail 5 "$c" 2>&1)"
    sleep 1
  done
}
for s in n1 n2 n3; do
  wait_healthy "$s" 120
  say "$s healthy (Docker's health check: carbonctl cluster health in the container)"
done
ctl cluster health

# 6. A write through carbonctl, and the read back from each member.
say "carbonctl: the regulator opens an account"
ctl --as ZJ-REG account open ZJ-ENT-01 --role enterprise --name "嘉兴港区燃煤发电有限公司（示例）" \
  --region 嘉兴市 --pubkey-file seeds/keys/ZJ-ENT-01.json
for e in 127.0.0.1:50051 127.0.0.1:50052 127.0.0.1:50053; do
  "$bin/carbonctl" --ca deploy/compose/certs/ca.pem -e "$e" --local account show ZJ-ENT-01 >/dev/null \
    || fail "ZJ-ENT-01 not readable on $e"
done
say "ZJ-ENT-01 readable on every member"

# 7. Kill one member's process: Docker's restart policy starts it again, and it serves.
victim=n2
c=$(container_of $victim)
pid=$(docker inspect -f '{{.State.Pid}}' "$c")
restarts=$(docker inspect -f '{{.RestartCount}}' "$c")
say "kill -9 $pid (carbon-node of $victim); restart count $restarts"
kill -9 "$pid"
deadline=$((SECONDS + 60))
while [ "$(docker inspect -f '{{.RestartCount}}' "$c")" = "$restarts" ] \
  || [ "$(docker inspect -f '{{.State.Pid}}' "$c")" = 0 ]; do
  [ $SECONDS -lt "$deadline" ] || fail "$victim was not restarted within 60 s"
  sleep 1
done
say "$victim restarted by Docker (restart count $(docker inspect -f '{{.RestartCount}}' "$c"), pid $(docker inspect -f '{{.State.Pid}}' "$c"))"
sleep 6 # the health check's status still says healthy from before the kill
wait_healthy $victim 120
say "$victim healthy again"
ctl --as ZJ-REG vintage declare 2025 --cap 60000000
"$bin/carbonctl" --ca deploy/compose/certs/ca.pem -e 127.0.0.1:50052 --keys-dir seeds/keys --as ZJ-REG \
  vintage list
ctl --as ZJ-REG cluster status
say "container test passed"
