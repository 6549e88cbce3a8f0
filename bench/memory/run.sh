#!/usr/bin/env bash
# Resident memory of the gateway with every bundled plugin loaded and idle.
# Usage: bench/memory/run.sh   (after `swift build -c release`)
set -euo pipefail
cd "$(dirname "$0")/../.."
export DARKSPERE_PLUGIN_DIR="$PWD/.build/release"
rm -rf /tmp/ds-mem && mkdir -p /tmp/ds-mem
.build/release/darkspere run --config bench/memory/all-plugins.yaml --log-level error &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null 127.0.0.1:18123/readyz && break; sleep 0.1; done
curl -sf 127.0.0.1:18123/readyz >/dev/null || { echo "gateway did not become ready"; exit 1; }
for _ in $(seq 1 200); do curl -s -o /dev/null 127.0.0.1:18123/livez; done
sleep 2
echo "plugins loaded: $(grep -c 'libds-' /proc/$pid/maps | xargs -I{} echo {} mappings) ($(grep -o 'libds-[a-z0-9-]*\.so' /proc/$pid/maps | sort -u | tr '\n' ' '))"
grep -E 'VmRSS|VmHWM|Threads' /proc/$pid/status
