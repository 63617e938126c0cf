#!/usr/bin/env bash
# Installs the Debian 12 packages osModa-C needs to build, test and fuzz. As root it runs
# apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail

# Build (meson fails without Criterion: no unit test would be built), fuzz (clang), style
# (clang-format, git ls-files), and what the test suites run: bwrap for every sandboxed job,
# python3 and curl inside the sandbox, pgrep, sqlite3; ca-certificates for npm over https;
# chromium for the dashboard's browser test (driven by playwright-core).
packages=(
  gcc make pkg-config meson ninja-build clang libclang-rt-14-dev clang-format git
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libssl-dev libsodium-dev
  libsqlite3-dev libcriterion-dev libseccomp-dev bubblewrap
  libsystemd-dev libsecp256k1-dev libbotan-2-dev libwslay-dev
  python3 sqlite3 tar gzip procps curl ca-certificates
  systemd-container debootstrap nix-bin monit busybox-static
  tinyproxy squid nftables iproute2 wrk openssl nginx-light chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node and npm run the pinned npm test tools (scripts/node-deps.sh). Checked by command, not by
# package: a Node from elsewhere (e.g. nodesource, which bundles npm) must not be replaced.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing build dependencies. Run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
