#!/usr/bin/env bash
# Installs what the tests need, builds every product (plugins included) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
swift build
swift test
