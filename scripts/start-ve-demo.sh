#!/usr/bin/env bash
# A demo Vector Engine host on any Linux machine (no SX-Aurora card needed):
#   npm run up:ve-demo
# Builds the libveosinfo stand-in (test/fixtures/libveosinfo.c) and the ve_exec stand-in, starts
# two real host "pseudo processes" (ve_exec ... -- ./p and -- ./dgemm), writes a VE fixture tree
# (VE node 0 online with those two VE processes, the seed's maps from test/fixtures/ve/records;
# VE node 1 offline), then starts an agent wired to the stand-in and a gateway, both on loopback,
# and prints curl commands to try. Ctrl-C stops everything and removes the tree.
#
# Environment: VE_DEMO_GATEWAY (default 127.0.0.1:8080; port 0 = any free port),
#              VE_DEMO_AGENT   (default 127.0.0.1:0).
set -euo pipefail
cd "$(dirname "$0")/.."

GATEWAY_LISTEN=${VE_DEMO_GATEWAY:-127.0.0.1:8080}
AGENT_LISTEN=${VE_DEMO_AGENT:-127.0.0.1:0}
NODE=ve-demo

command -v gcc >/dev/null || { echo "start-ve-demo: gcc is needed to build the stand-in" >&2; exit 1; }
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run -s build # incremental: only what changed since the last build

BUILD="$PWD/test/.build/ve-demo"
mkdir -p "$BUILD"
gcc -O2 -Wall -shared -fPIC -o "$BUILD/libveosinfo.so" test/fixtures/libveosinfo.c
gcc -O2 -Wall -o "$BUILD/ve_exec" test/fixtures/ve/ve_exec.c

DIR=$(mktemp -d /tmp/pmapd-ve-demo.XXXXXX)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup INT TERM EXIT

# Host pseudo processes: argv[0] is ve_exec, the VE program follows "--" (as VEOS starts them).
pseudo() {
  (exec -a /opt/nec/ve/libexec/ve_exec "$BUILD/ve_exec" -d /dev/veslot0 \
    -s /var/opt/nec/ve/veos/veos0.sock -c -1 -- "$1") </dev/null >/dev/null 2>&1 &
  pids+=($!)
}
pseudo ./p
P=$!
pseudo ./dgemm
DGEMM=$!

# The stand-in's tree (see docs/ve.md): sysfs, VEOS sockets, one .maps file per VE process.
mkdir -p "$DIR/sysfs/ve0" "$DIR/sysfs/ve1" "$DIR/veos" "$DIR/node0" "$DIR/node1"
echo 0 >"$DIR/sysfs/ve0/os_state"
echo 1 >"$DIR/sysfs/ve0/ve_state"
echo "$P $DGEMM" >"$DIR/sysfs/ve0/task_id_all"
echo 1 >"$DIR/sysfs/ve1/os_state"
echo 1 >"$DIR/sysfs/ve1/ve_state"
echo >"$DIR/sysfs/ve1/task_id_all"
: >"$DIR/veos/veos0.sock"
cp test/fixtures/ve/records/p.maps "$DIR/node0/pid$P.maps"
cp test/fixtures/ve/records/dgemm.maps "$DIR/node0/pid$DGEMM.maps"

# Agent: its startup log line (stderr) carries the bound address.
VEOSINFO_STUB_DIR="$DIR" node dist/apps/agent/src/main.js --listen "$AGENT_LISTEN" \
  --node-name "$NODE" --insecure --ve-library "$BUILD/libveosinfo.so" \
  --ve-sysfs "$DIR/sysfs" --ve-socket-dir "$DIR/veos" 2>"$DIR/agent.log" &
agent_pid=$!
pids+=($agent_pid)
agent=""
for _ in $(seq 100); do
  kill -0 "$agent_pid" 2>/dev/null || break
  agent=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$DIR/agent.log" | head -1)
  [ -n "$agent" ] && break
  sleep 0.1
done
[ -n "$agent" ] || { cat "$DIR/agent.log" >&2; echo "start-ve-demo: agent did not start" >&2; exit 1; }

# Gateway: its one stdout line {"listening":"HOST:PORT"}.
node dist/apps/gateway/src/main.js --listen "$GATEWAY_LISTEN" --agent "$agent" \
  --node-name "$NODE" >"$DIR/gateway.out" 2>"$DIR/gateway.log" &
pids+=($!)
gw=""
for _ in $(seq 200); do
  gw=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$DIR/gateway.out" | head -1)
  [ -n "$gw" ] && break
  sleep 0.1
done
[ -n "$gw" ] || { cat "$DIR/gateway.log" >&2; echo "start-ve-demo: gateway did not start" >&2; exit 1; }

U="http://$gw/v1/nodes/$NODE"
cat <<EOF
pmapd VE demo: agent $agent (libveosinfo stand-in, tree $DIR), gateway http://$gw
VE node 0: ./p (pid $P) and ./dgemm (pid $DGEMM); VE node 1 offline. Try:

  # the node: veLibrary, features "ve", veNodes
  curl -s http://$gw/v1/nodes/$NODE
  # the VE processes of VE node 0
  curl -s '$U/processes?ve=0'
  # VE pmap and VE pmap -XX (text), the same as JSON (fields, notProvided)
  curl -s -H 'Accept: text/plain' '$U/processes/$P/maps?ve=0'
  curl -s '$U/processes/$DGEMM/maps?ve=0&view=XX&format=text'
  curl -s '$U/processes/$DGEMM/maps?ve=0&view=XX'
  # the host pseudo process (VE memory as kind ve_memory, links), both sides together
  curl -s '$U/processes/$P/maps'
  curl -s '$U/processes/$P/maps?side=both'
  # 2M vs 64M VE pages
  curl -s '$U/processes/$DGEMM/histogram?ve=0&kind=pagesize'

Ctrl-C stops the demo.
EOF
wait -n "${pids[@]}"
