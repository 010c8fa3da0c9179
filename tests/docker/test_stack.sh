#!/usr/bin/env bash
# test_stack: the docker/ images built and run for real (`bash scripts/test docker`).
#
# Starts a private dockerd (Debian's docker.io; its own data and exec roots,
# no bridge, no iptables: ../shared/container-notes.md), imports a
# debian:bookworm base made by debootstrap when the daemon has none (no
# registry is reachable), builds docker/Dockerfile's three targets and the
# PostgreSQL image with docker-compose (v1), and brings up
# docker/compose.yml on free loopback ports this script picks. Then: every
# service becomes healthy, a provider, model and route added through the
# control plane's CLI inside its container reach both data planes, a chat
# request is served by each data plane over HTTP and gRPC, a second provider
# added later reaches both too, processes run as the unprivileged user, and
# a restarted data plane serves from its state volume while the control plane
# is stopped. Ends with "N passed, N failed".
#
# Env: LLMGW_DOCKER_DIR (default /var/tmp/llmgw-docker: daemon state and the
# base rootfs, kept between runs so images are cached).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DIR=${LLMGW_DOCKER_DIR:-/var/tmp/llmgw-docker}
PROJECT=llmgw-test-$$
T=$(mktemp -d /tmp/llmgw-docker-test.XXXXXX)
passed=0
failed=0
pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
die() { echo "test_stack: $1" >&2; finish 1; }

LLMGW_DOCKER=1 LLMGW_NO_NODE=1 bash scripts/bootstrap || { echo "test_stack: bootstrap failed" >&2; exit 1; }
# Debian's client and compose first (a machine may have newer ones on PATH
# that expect plugins Debian 12 does not ship).
export PATH=/usr/bin:/usr/sbin:$PATH
export DOCKER_HOST=unix://$DIR/docker.sock
COMPOSE=(docker-compose -p "$PROJECT" -f "$ROOT/docker/compose.yml")
DOCKERD_PID=

finish() {
  local rc=$1
  if [ -n "$DOCKERD_PID" ]; then
    "${COMPOSE[@]}" logs --no-color >"$T/compose.log" 2>&1 || true
    [ "$failed" = 0 ] || tail -60 "$T/compose.log" >&2
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  echo
  echo "$passed passed, $failed failed"
  [ "$rc" = 0 ] && [ "$failed" = 0 ] && rm -rf "$T"
  exit $(( rc != 0 || failed != 0 ))
}
trap 'finish 1' INT TERM

# --- the daemon ---------------------------------------------------------------
mkdir -p "$DIR/data" "$DIR/exec"
dockerd --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
  -H "$DOCKER_HOST" --storage-driver=overlay2 --iptables=false --bridge=none --mtu 1400 \
  >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || { cat "$T/dockerd.log" >&2; die "dockerd did not start"; }
pass "a private dockerd is up"

# --- the base image -------------------------------------------------------------
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  mirror=${mirror:-http://deb.debian.org/debian}
  if [ ! -s "$DIR/rootfs.tar" ]; then
    rm -rf "$DIR/rootfs"
    debootstrap --variant=minbase bookworm "$DIR/rootfs" "$mirror" >"$T/debootstrap.log" 2>&1 ||
      { tail -20 "$T/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$DIR"/rootfs/var/cache/apt/archives/*.deb "$DIR"/rootfs/var/lib/apt/lists/*
    tar -C "$DIR/rootfs" -cf "$DIR/rootfs.tar" . && rm -rf "$DIR/rootfs"
  fi
  docker import - debian:bookworm <"$DIR/rootfs.tar" >/dev/null || die "docker import failed"
fi
pass "debian:bookworm is available without a registry"

# --- ports, secrets ---------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
export LLMGW_BIND=127.0.0.1
export LLMGW_PG_PORT=$(free_port) LLMGW_CP_PORT=$(free_port) LLMGW_SIM_PORT=$(free_port)
export LLMGW_DP1_PORT=$(free_port) LLMGW_DP1_HTTP_PORT=$(free_port)
export LLMGW_DP2_PORT=$(free_port) LLMGW_DP2_HTTP_PORT=$(free_port)
export POSTGRES_PASSWORD=pg-$RANDOM$RANDOM
export LLMGW_ADMIN_TOKEN=admin-$(openssl rand -hex 16)
export LLMGW_NODE_TOKEN=$LLMGW_ADMIN_TOKEN
export LLMGW_MASTER_KEY=$(openssl rand -hex 32)

# --- build and start ---------------------------------------------------------------
t0=$(date +%s)
if "${COMPOSE[@]}" build >"$T/build.log" 2>&1; then
  pass "images built in $(( $(date +%s) - t0 )) s"
else
  tail -40 "$T/build.log" >&2
  fail "images built"
  finish 1
fi
for img in llmgw-dataplane llmgw-controlplane llmgw-sim llmgw-postgres; do
  mb=$(docker image inspect "$img" --format '{{.Size}}' | awk '{printf "%.0f", $1/1e6}')
  echo "# $img: $mb MB"
done
if "${COMPOSE[@]}" up -d >"$T/up.log" 2>&1; then pass "compose up"; else cat "$T/up.log" >&2; fail "compose up"; finish 1; fi

health() { docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
  "$("${COMPOSE[@]}" ps -q "$1")" 2>/dev/null; }
wait_healthy() { # SERVICE SECONDS
  local i
  for i in $(seq 1 $(( $2 * 2 ))); do [ "$(health "$1")" = healthy ] && return 0; sleep 0.5; done
  return 1
}
for s in postgres controlplane sim; do
  wait_healthy "$s" 60 && pass "$s is healthy" || fail "$s is healthy (status: $(health "$s"))"
done
cp_exec() { docker exec "$("${COMPOSE[@]}" ps -q controlplane)" llmgw "$@"; }
[ "$(docker exec "$("${COMPOSE[@]}" ps -q controlplane)" id -un)" = llmgw ] &&
  pass "the control plane runs as the unprivileged user llmgw" || fail "the control plane runs as llmgw"

# --- a provider through the control plane reaches both data planes ------------------
SIM=http://127.0.0.1:$LLMGW_SIM_PORT/v1
cp_exec provider add sim --base-url "$SIM" >"$T/out" 2>&1 &&
  cp_exec model add sim/gpt-4o-mini --input-cost 0.15 --output-cost 0.6 >>"$T/out" 2>&1 &&
  cp_exec route add chat --deployment sim/gpt-4o-mini >>"$T/out" 2>&1 &&
  pass "provider, model and route added with the image's CLI" || { cat "$T/out" >&2; fail "registry changes"; }
for s in dataplane-1 dataplane-2; do
  wait_healthy "$s" 60 && pass "$s is healthy (serving the pushed table)" || fail "$s is healthy (status: $(health "$s"))"
done
chat_http() { # PORT MODEL: prints the answer's content
  curl -sS -m 20 "http://127.0.0.1:$1/v1/chat/completions" -H 'content-type: application/json' \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hello from docker\"}]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])' 2>/dev/null
}
for n in 1 2; do
  port_var=LLMGW_DP${n}_HTTP_PORT
  chat_http "${!port_var}" chat | grep -q "hello from docker" &&
    pass "dataplane-$n serves a chat request over HTTP" || fail "dataplane-$n serves a chat request over HTTP"
  grpc_var=LLMGW_DP${n}_PORT
  docker exec "$("${COMPOSE[@]}" ps -q dataplane-$n)" llmgw chat --target "127.0.0.1:${!grpc_var}" \
    --model chat "hello grpc" >"$T/grpc.$n" 2>&1 && grep -q "hello grpc" "$T/grpc.$n" &&
    pass "dataplane-$n serves a chat request over gRPC" || { cat "$T/grpc.$n" >&2; fail "dataplane-$n over gRPC"; }
done
cp_exec provider add sim2 --base-url "$SIM" >"$T/out" 2>&1 &&
  cp_exec model add sim2/llama3-8b --input-cost 0.05 --output-cost 0.1 >>"$T/out" 2>&1 &&
  cp_exec route add llama --deployment sim2/llama3-8b >>"$T/out" 2>&1 || { cat "$T/out" >&2; fail "second provider"; }
ok=0
for _ in $(seq 1 50); do
  a=$(chat_http "$LLMGW_DP1_HTTP_PORT" llama) b=$(chat_http "$LLMGW_DP2_HTTP_PORT" llama)
  case "$a$b" in *"hello from docker"*"hello from docker"*) ok=1; break ;; esac
  sleep 0.2
done
[ "$ok" = 1 ] && pass "a provider added later reaches both data planes" || fail "a provider added later reaches both data planes"
cp_exec nodes >"$T/nodes" 2>&1 && grep -q dataplane-1 "$T/nodes" && grep -q dataplane-2 "$T/nodes" &&
  pass "llmgw nodes lists both data planes" || { cat "$T/nodes" >&2; fail "llmgw nodes lists both data planes"; }

# --- the last good table survives a control plane outage ---------------------------
"${COMPOSE[@]}" stop controlplane >/dev/null 2>&1
"${COMPOSE[@]}" restart dataplane-2 >/dev/null 2>&1
wait_healthy dataplane-2 60 && chat_http "$LLMGW_DP2_HTTP_PORT" llama | grep -q "hello from docker" &&
  pass "with the control plane stopped, a restarted data plane serves from its state volume" ||
  fail "a restarted data plane serves from its state volume (status: $(health dataplane-2))"
echo "# stack up and checked in $(( $(date +%s) - t0 )) s (build included)"
finish 0
