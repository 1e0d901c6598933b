#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine and runs every check:
# proto drift, lint, format, types, then all jest projects (unit + e2e). Ends with the plain line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pmap >/dev/null 2>&1 || need_apt+=(procps)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing system packages: ${need_apt[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi

set -e
# npm ci would refuse this lock: the registry mirror lacks some other-platform optional binaries
# (buf, unrs-resolver), which npm leaves out of the lock; npm install honours the lock otherwise.
npm install --no-audit --no-fund --loglevel=error
npm run -s build
npm run -s lint
npm run -s format:check
npm run -s typecheck
set +e

results=$(mktemp)
npx jest --json --outputFile="$results" "$@"
jest_rc=$?
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" || { echo "0 passed, 1 failed"; exit 1; }
rm -f "$results"
exit $jest_rc
