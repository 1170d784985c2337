#!/usr/bin/env bash
# Installs the npm packages of the real-client tests (the AWS SDK for JavaScript
# v3 and aws-kinesis-agg) into tests/server/node/node_modules. Test-only: the
# library never uses them. Without them, the test skips with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v npm >/dev/null 2>&1 || { echo "npm not found: the Node real-client test will skip" >&2; exit 0; }
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
