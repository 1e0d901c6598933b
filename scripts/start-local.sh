#!/usr/bin/env bash
# Installs, builds and starts a single-node pmapd cluster on loopback:
#   agent   127.0.0.1:50051 (gRPC, plaintext: loopback only)
#   gateway 127.0.0.1:8080  (REST)
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pmap >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq procps >/dev/null
fi
# exactly the locked dependencies (a lock out of step with package.json fails here)
npm ci --no-audit --no-fund --loglevel=error
npm run -s build

AGENT_LISTEN=${PMAPD_AGENT_LISTEN:-127.0.0.1:50051}
GATEWAY_LISTEN=${PMAPD_GATEWAY_LISTEN:-127.0.0.1:8080}
NODE_NAME=${PMAPD_NODE_NAME:-$(hostname)}

node dist/apps/agent/src/main.js --listen "$AGENT_LISTEN" --node-name "$NODE_NAME" --insecure &
agent=$!
node dist/apps/gateway/src/main.js --listen "$GATEWAY_LISTEN" --agent "$AGENT_LISTEN" &
gateway=$!
trap 'kill $agent $gateway 2>/dev/null; wait' INT TERM EXIT
echo "pmapd: agent on $AGENT_LISTEN, gateway on http://$GATEWAY_LISTEN (try: curl http://$GATEWAY_LISTEN/v1/nodes)" >&2
wait -n $agent $gateway
