-- wrk script: POSTs pre-signed Twilio webhooks (make_requests.py's file, one
-- "signature<TAB>body" per line) to /twilio/sms (or BENCH_PATH, e.g. /bench/fixed for
-- the ceiling). Each run takes its own range of the file (BENCH_FIRST, BENCH_COUNT) and
-- each thread its own part of that range, so no MessageSid is sent twice across the
-- runs of one benchmark: every request is a new message, none is answered from dedupe
-- (a thread that exhausts its part wraps, and reports it). Counts non-200 answers and
-- answers without the echo agent's <Message> so a broken run cannot pass as fast.
local data_file = os.getenv("BENCH_REQUESTS") or "requests.tsv"
local path = os.getenv("BENCH_PATH") or "/twilio/sms"
local first = tonumber(os.getenv("BENCH_FIRST") or "0")
local count = tonumber(os.getenv("BENCH_COUNT") or "50000")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
-- RATE (requests/s in total, default 0 = as fast as possible): each thread sends on a
-- fixed schedule (RATE / BENCH_THREADS per thread, wall clock through LuaJIT's FFI); a
-- late answer does not build a backlog (the open-loop "half rate" run).
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local pace = dofile(here .. "/../pace.lua")(tonumber(os.getenv("RATE") or "0"), nthreads)
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local per = math.floor(count / nthreads)
  local lo, hi = first + id * per, first + (id + 1) * per
  requests = {}
  local n = 0
  for line in io.lines(data_file) do
    if n >= hi then break end
    if n >= lo then
      local tab = string.find(line, "\t", 1, true)
      table.insert(requests, { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) })
    end
    n = n + 1
  end
  index = 0
  wrapped = 0
  bad = 0
  noreply = 0
end

function request()
  if index == #requests then wrapped = 1 end
  index = index % #requests + 1
  local r = requests[index]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = r[1],
    ["I-Twilio-Idempotency-Token"] = r[1],
  }, r[2])
end

function delay()
  return pace()
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1
  elseif not string.find(body, "<Message>echo: ", 1, true) then noreply = noreply + 1 end
end

function done(summary, latency, requests)
  local b, n, w = 0, 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); n = n + t:get("noreply"); w = w + t:get("wrapped") end
  io.write(string.format("non-200 answers: %d, 200 without the echo reply: %d\n", b, n))
  if w > 0 then io.write("WARNING: requests repeated (the range was too small): later ones hit dedupe\n") end
  io.write(string.format("messages/s: %.0f  p50: %.2f ms  p90: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
