-- wrk script for bench/bench_simulator.py: GETs cycling through pre-computed API paths.
-- MMQ_BENCH_PATHS names a file of paths, one per line; MMQ_BENCH_API_KEY is the key to send.
local paths = {}
local counter = 0
local key = os.getenv("MMQ_BENCH_API_KEY")

function init(args)
  for line in io.lines(os.getenv("MMQ_BENCH_PATHS")) do
    paths[#paths + 1] = line
  end
  counter = math.random(#paths) -- each thread starts elsewhere in the list
end

function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter], { ["X-API-Key"] = key })
end

-- One JSON line for the benchmark: totals over all threads (404s of failed assets are
-- expected; they are counted as non-2xx and reported separately).
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\nMMQ_WRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx_3xx":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
