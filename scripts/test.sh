#!/usr/bin/env bash
# The README's test command: set up (Node, npm packages, QEMU and the guest kernel),
# then type check, lint and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/node-env.sh
# The root-free tier (unit, API, CLI; what `npm test` runs), then the tier that boots
# real microVMs, one file at a time (VM tests must not run concurrently).
npm test --silent
# Clusters on PostgreSQL: API replicas and host agents as separate processes.
npm run --silent test:cluster
npm run --silent test:e2e
