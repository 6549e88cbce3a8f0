-- wrk script: POSTs make_requests.py's lines ("<header value>\t<JSON body>") to BENCH_PATH
-- with the value in header BENCH_HEADER (X-Telegram-Bot-Api-Secret-Token or Authorization).
-- Each run takes its own range of the file (BENCH_FIRST, BENCH_COUNT), each thread its own
-- part, so every request is a new message (a thread that exhausts its part wraps and says
-- so). Counts non-2xx answers and answers without the echo agent's reply (BENCH_EXPECT).
local data_file = os.getenv("BENCH_REQUESTS") or "requests.tsv"
local path = os.getenv("BENCH_PATH") or "/telegram/webhook"
local header = os.getenv("BENCH_HEADER") or "X-Telegram-Bot-Api-Secret-Token"
local expect = os.getenv("BENCH_EXPECT") or "echo: "
local first = tonumber(os.getenv("BENCH_FIRST") or "0")
local count = tonumber(os.getenv("BENCH_COUNT") or "50000")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
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
  return wrk.format("POST", path, { ["Content-Type"] = "application/json", [header] = r[1] }, r[2])
end

function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1
  elseif not string.find(body, expect, 1, true) then noreply = noreply + 1 end
end

function done(summary, latency, requests)
  local b, n, w = 0, 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); n = n + t:get("noreply"); w = w + t:get("wrapped") end
  io.write(string.format("non-2xx answers: %d, 2xx without the echo reply: %d\n", b, n))
  if w > 0 then io.write("WARNING: requests repeated (the range was too small): later ones hit dedupe\n") end
  io.write(string.format("messages/s: %.0f  p50: %.2f ms  p90: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
