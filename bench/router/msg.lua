-- wrk script: POSTs one SMS per request to the fixture channel route /test/sms.
-- Each request comes from one of NUMBERS senders (random) with a unique message id, so
-- every request is a real turn: dedupe miss, session lookup (or creation), history,
-- durable inbound + reply, c-echo agent call, inline reply.
-- Env: NUMBERS (default 10000); RATE (requests/s offered in total, paced per wrk thread on
-- a fixed schedule: the open-loop "half rate" run; default 0 = as fast as possible);
-- DELAY_MS (old fixed pause per connection, default 0).
-- bench/pace.lua, found next to this script's folder.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local new_pacer = dofile(here .. "/../pace.lua")
local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  numbers = tonumber(os.getenv("NUMBERS") or "10000")
  pause = tonumber(os.getenv("DELAY_MS") or "0")
  pace = new_pacer(tonumber(os.getenv("RATE") or "0"), tonumber(os.getenv("THREADS") or "2"))
  math.randomseed(os.time() * 1000 + tid)
  prefix = tostring(os.time()) .. "-" .. tid .. "-"
  counter = 0
  ok = 0
  deferred = 0
  bad = 0
end

function request()
  counter = counter + 1
  local n = math.random(0, numbers - 1)
  local body = string.format("from=%%2B1%010d&to=%%2B15550000001&id=%s%d&text=hello+%d", n, prefix, counter, counter)
  return wrk.format("POST", "/test/sms", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function delay()
  local wait = pace()
  if wait > 0 then return wait end
  return pause
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 202 then deferred = deferred + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, d, b = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); d = d + t:get("deferred"); b = b + t:get("bad")
  end
  io.write(string.format("replies: inline=%d deferred=%d errors=%d\n", o, d, b))
  io.write(string.format("p50=%.2fms p99=%.2fms rate=%.0f/s\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
