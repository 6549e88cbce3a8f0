-- wrk script for the ceiling: GET /livez (a fixed reply from the same server), reporting
-- the same summary line as msg.lua. RATE (requests/s in total, THREADS wrk threads) paces
-- requests on the same fixed schedule as msg.lua: the server's own tail at that rate.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } ds_timeval;
int gettimeofday(ds_timeval *tv, void *tz);
]]
local tv = ffi.new("ds_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

function init(args)
  local rate = tonumber(os.getenv("RATE") or "0")
  local nthr = tonumber(os.getenv("THREADS") or "2")
  interval = rate > 0 and (1000 * nthr / rate) or 0
  nextslot = 0
end

function delay()
  if interval > 0 then
    local now = now_ms()
    if nextslot < now then nextslot = now end
    local wait = nextslot - now
    nextslot = nextslot + interval
    return math.floor(wait)
  end
  return 0
end

function done(summary, latency, requests)
  io.write(string.format("p50=%.2fms p99=%.2fms rate=%.0f/s\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
