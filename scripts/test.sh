#!/usr/bin/env bash
# The README's test command: set up (Node, npm packages, QEMU and the guest kernel),
# then type check, lint and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/node-env.sh
npm run --silent typecheck
npm run --silent lint
node --test --test-concurrency=1 --test-timeout=300000 "test/**/*.test.ts"
