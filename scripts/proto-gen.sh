#!/usr/bin/env bash
# Regenerates libs/proto/src/gen from proto/ with buf and the local ts-proto plugin.
set -euo pipefail
cd "$(dirname "$0")/../proto"
rm -rf ../libs/proto/src/gen
../node_modules/.bin/buf generate
