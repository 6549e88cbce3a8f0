# Sourced by run.sh and probe-tail.sh: the router benchmark's gateway configuration.
# bench_config OUT PORT STORE_URL PLUGIN_PATH — the fixture channel on /test/sms and the
# in-process C echo agent, 64 turns at once, history depth 20.
bench_config() {
  cat > "$1" <<YAML
server:
  listen: 127.0.0.1:$2
store:
  url: $3
routing:
  session_timeout: 30m
  history_depth: 20
  max_concurrent: 64
plugin_path: [$4]
plugins:
  - id: test
    library: fixture-test-channel
    config: { route: /test/sms }
  - id: echo
    library: c-echo-agent
agents:
  - name: echo
    transport: echo
    max_sessions: 1000000
    config: { prefix: echo }
YAML
}
