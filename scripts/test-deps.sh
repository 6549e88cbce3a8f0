#!/usr/bin/env bash
# Installs what the test suites and benchmarks need beyond the Swift toolchain.
# Idempotent: safe to run again. Called by scripts/install-deps.sh --test.
set -euo pipefail

apt_install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
    fi
}

# Host: SQLite and libcurl headers; PostgreSQL server + client for the store and sink tests.
apt_install libsqlite3-dev libcurl4-openssl-dev libpq-dev python3 python3-pip postgresql postgresql-client sqlite3

# Twilio channel tests: signatures made by the official library (RequestValidator);
# the fake Twilio REST server is plain python3. Benchmark: wrk.
python3 -c 'import twilio' 2>/dev/null || python3 -m pip install --quiet twilio
apt_install wrk curl

# The official MCP Python SDK: the MCP transport tests run against its servers (2.x: mcp.server.mcpserver).
python3 -c 'import mcp.server.mcpserver' 2>/dev/null || python3 -m pip install --quiet 'mcp>=2'
# Stripe billing tests: webhook signatures made and checked by the official library
# (stripe.WebhookSignature / stripe.Webhook.construct_event); the fake Stripe API is plain python3.
python3 -c 'import stripe' 2>/dev/null || python3 -m pip install --quiet stripe
# Admin API tests: the OpenAPI document is checked against the running server by schemathesis.
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install --quiet schemathesis
# Web chat tests: the demo page in real headless Chromium driven by Selenium (WebChatBrowserTests).
apt_install chromium chromium-driver
python3 -c 'import selenium' 2>/dev/null || python3 -m pip install --quiet selenium
