#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/FuzzParsers.swift (swiftc -sanitize=fuzzer,address) over
# the request path's parsers and runs it. A crash, a failed property or a hang is reported
# by libFuzzer with the input that caused it (saved as fuzz/findings/crash-*).
# Usage: scripts/fuzz.sh [SECONDS]   (default 600; the test suite runs it for 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
out=.build/fuzz
mkdir -p "$out" fuzz/findings
sources=(
    fuzz/FuzzParsers.swift
    Sources/Host/Config/JSONValue.swift
    Plugins/TwilioSMS/Core/FormEncoding.swift
    Plugins/TwilioSMS/Core/TwiML.swift
    Plugins/TwilioSMS/Core/MessageSplitter.swift
    Plugins/TwilioSMS/Core/TwilioWebhook.swift
    Plugins/TwilioSMS/Core/TwilioSignature.swift
    Plugins/TwilioSMS/Core/JSONText.swift
    Plugins/TwilioSMS/Core/PhoneNumber.swift
)
# TwilioSignature imports Digests (libcrypto through COpenSSL): a module of its own.
digests=Sources/Digests/Digest.swift
newest=$(ls -t "${sources[@]}" "$digests" | head -1)
if [[ ! -x "$out/fuzz-parsers" || "$newest" -nt "$out/fuzz-parsers" || "$0" -nt "$out/fuzz-parsers" ]]; then
    echo "building $out/fuzz-parsers…"
    root="$(pwd)"
    ssl=(-Xcc "-fmodule-map-file=$root/Sources/COpenSSL/module.modulemap")
    (cd "$out" && swiftc -sanitize=fuzzer,address -parse-as-library -Onone -g -module-name Digests \
        -emit-module -emit-library -static "${ssl[@]}" "$root/$digests")
    swiftc -sanitize=fuzzer,address -parse-as-library -Onone -g -module-name FuzzParsers \
        -I "$out" -L "$out" -lDigests -lcrypto "${ssl[@]}" \
        "${sources[@]}" -o "$out/fuzz-parsers.tmp"
    mv -f "$out/fuzz-parsers.tmp" "$out/fuzz-parsers"
fi
# A working copy of the seed corpus (what the run learns stays out of the repository).
mkdir -p "$out/corpus"
cp -n fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
exec "$out/fuzz-parsers" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix=fuzz/findings/ -print_final_stats=1 "$out/corpus"
