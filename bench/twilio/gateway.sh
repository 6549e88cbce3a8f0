# Sourced by the benchmark scripts that start the release gateway on bench/twilio's set-up
# (ab.sh, switches.sh, bench/seed/run.sh). Needs BENCH_PORT; run from the repository root.
#
# start_gateway DIR WORK LOG [CONFIG]: DIR's darkspere with DIR's plugins on CONFIG
# (bench/twilio/bench.yaml) with its store moved to a fresh SQLite file in WORK, output to
# LOG; sets GW to its pid once /readyz answers, fails (printing LOG) if it does not in 10 s.
start_gateway() {
  local dir=$1 work=$2 log=$3 cfg=${4:-bench/twilio/bench.yaml}
  rm -f "$work"/gw.sqlite*
  sed "s#\"sqlite:[^\"]*\"#\"sqlite:$work/gw.sqlite\"#" "$cfg" > "$work/gw.yaml"
  BENCH_PLUGIN_PATH=$dir "$dir/darkspere" run --config "$work/gw.yaml" --log-level warning > "$log" 2>&1 &
  GW=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$log" >&2
  echo "FAILED: the gateway in $dir did not start" >&2
  return 1
}
