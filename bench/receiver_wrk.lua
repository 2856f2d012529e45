-- Cycles through pre-signed raw requests written by bench/receiver_load.py (length-prefixed).
-- Each wrk thread takes every n-th request, so threads never send the same delivery at once.
local path = os.getenv("MMQ_BENCH_REQUESTS")
local requests = {}
local counter = 1
local threads_total = tonumber(os.getenv("MMQ_BENCH_THREADS") or "1")
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local file = assert(io.open(path, "rb"))
  local index = 0
  local mine = thread_id or 0
  while true do
    local line = file:read("*l")
    if not line then break end
    local raw = file:read(tonumber(line))
    if index % threads_total == mine then
      requests[#requests + 1] = raw
    end
    index = index + 1
  end
  file:close()
end

function request()
  local raw = requests[counter]
  counter = counter + 1
  if counter > #requests then counter = 1 end
  return raw
end

-- One JSON line for bench/bench_receiver.py: totals over all threads.
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\nMMQ_WRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99)))
end
