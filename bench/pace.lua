-- Fixed-schedule pacing for wrk scripts (the open-loop "half rate" runs):
--   local pace = dofile(<this file>)(rate, nthreads)   -- then: function delay() return pace() end
-- Each wrk thread sends rate / nthreads requests a second on a fixed schedule, read from the
-- wall clock through LuaJIT's FFI; a late answer does not build a backlog (the next request
-- goes at the next free slot). rate 0: no pacing (delay 0).
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

return function(rate, nthreads)
  local interval = rate > 0 and (1000 * nthreads / rate) or 0   -- ms between one thread's requests
  local nextslot = 0
  return function()
    if interval == 0 then return 0 end
    local now = now_ms()
    if nextslot < now then nextslot = now end
    local wait = nextslot - now
    nextslot = nextslot + interval
    return math.floor(wait)
  end
end
