#!/bin/sh
# Installs what the test suites need beyond the Swift toolchain. Idempotent: safe to
# run again; each line only installs what is missing. Add your own apt/pip lines.
set -eu

# Python 3 for the fixture servers (Tests/TransportTests/Fixtures).
if ! command -v python3 >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip
fi

# The official MCP Python SDK: the MCP transport tests run against its servers.
python3 -c 'import mcp.server.mcpserver' 2>/dev/null || python3 -m pip install --quiet 'mcp>=2'   # 2.x: mcp.server.mcpserver
