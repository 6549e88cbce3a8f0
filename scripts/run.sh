#!/usr/bin/env bash
# Builds everything (release) and starts the gateway. Default config: ./plugins.yaml.
# Usage: scripts/run.sh [--config FILE] [--log-level debug]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release
exec .build/release/darkspere run "$@"
