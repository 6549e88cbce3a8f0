-- wrk script: POSTs the pre-signed Twilio webhooks of requests.lua to /twilio/sms
-- (or BENCH_PATH, e.g. /bench/fixed for the ceiling),
-- each thread walking the list from its own offset. Counts non-200 answers and
-- answers without the echo agent's <Message> so a broken run cannot pass as fast.
local data_file = os.getenv("BENCH_REQUESTS") or "requests.lua"
local path = os.getenv("BENCH_PATH") or "/twilio/sms"
local requests = dofile(data_file)
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  index = (id * 7919) % #requests
  bad = 0
  noreply = 0
end

function request()
  index = index % #requests + 1
  local r = requests[index]
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = r[1],
    ["I-Twilio-Idempotency-Token"] = r[1],
  }, r[2])
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1
  elseif not string.find(body, "<Message>echo: ", 1, true) then noreply = noreply + 1 end
end

function done(summary, latency, requests)
  local b, n = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); n = n + t:get("noreply") end
  io.write(string.format("non-200 answers: %d, 200 without the echo reply: %d\n", b, n))
  io.write(string.format("messages/s: %.0f  p50: %.2f ms  p90: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
