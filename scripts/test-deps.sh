#!/bin/sh
# Installs what the test suite and benchmarks need (Debian). Idempotent: safe to re-run.
set -e
need=""
add() { dpkg -s "$1" >/dev/null 2>&1 || need="$need $1"; }
# Router (issue 3): PostgreSQL server for the store tests, libpq for the postgres backend, wrk for bench/router.
add postgresql; add libpq-dev; add libsqlite3-dev; add wrk
if [ -n "$need" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
