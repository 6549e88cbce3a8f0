-- wrk script for the ceiling: GET /livez (a fixed reply from the same server), reporting
-- the same summary line as msg.lua. RATE (requests/s in total, THREADS wrk threads) paces
-- requests on the same fixed schedule as msg.lua (bench/pace.lua): the server's own tail
-- at that rate.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local new_pacer = dofile(here .. "/../pace.lua")

function init(args)
  pace = new_pacer(tonumber(os.getenv("RATE") or "0"), tonumber(os.getenv("THREADS") or "2"))
end

function delay()
  return pace()
end

function done(summary, latency, requests)
  io.write(string.format("p50=%.2fms p99=%.2fms rate=%.0f/s\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
