#!/usr/bin/env bash
# Installs the Debian packages DarkSpere builds against, if missing. Idempotent.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

packages=(libpq-dev libssl-dev libcurl4-openssl-dev libyaml-dev libsqlite3-dev libjemalloc-dev)   # jemalloc: see Package.swift, `allocator`
if [[ "${1:-}" == "--test" ]]; then
    packages+=(postgresql binutils gcc g++ python3 python3-pip sqlite3)
    packages+=(prometheus)   # promtool: RouterMetricsTests checks /metrics with it
    packages+=(systemd)      # systemd-analyze: InstallTests verifies the unit
    packages+=(nginx openssl curl)   # ReverseProxyTests: TLS through nginx, self-signed cert, curl
    packages+=(cargo)        # RustAgentExampleTests: builds Examples/rust-agent (Debian's rustc 1.63 does) and plugin-checks it
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" && -f "$(dirname "$0")/test-deps.sh" ]]; then
    bash "$(dirname "$0")/test-deps.sh"
fi
