-- wrk script for the ceiling: GET /livez (a fixed reply from the same server), reporting
-- the same summary line as msg.lua.
function done(summary, latency, requests)
  io.write(string.format("p50=%.2fms p99=%.2fms rate=%.0f/s\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
