-- wrk script: requests from a file, one per line: METHOD<TAB>PATH<TAB>BODY.
-- Each thread takes every Nth line (fresh objects per request for actions);
-- when its lines run out it repeats its last one (counted as errors).
-- done() prints one JSON line with throughput and latency percentiles.
-- usage: wrk ... -s bench/wrk.lua URL -- FILE THREADS
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  reqs, i, n = {}, 0, 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then
      local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
      -- wrk.format uses the given table instead of wrk.headers (the -H ones): copy them.
      local headers = {}
      for name, value in pairs(wrk.headers) do headers[name] = value end
      if method == "POST" then
        headers["Content-Type"] = "application/x-www-form-urlencoded"
      else
        body = nil
      end
      table.insert(reqs, wrk.format(method, path, headers, body))
    end
    i = i + 1
  end
  if #reqs == 0 then  -- fewer lines than threads: every thread sends all of them
    for line in io.lines(args[1]) do
      local method, path = line:match("^([^\t]*)\t([^\t]*)")
      table.insert(reqs, wrk.format(method, path, nil, nil))
    end
  end
  n, s2, s3, other = 0, 0, 0, 0
end

function response(status, headers, body)
  local class = math.floor(status / 100)
  if class == 2 then s2 = s2 + 1 elseif class == 3 then s3 = s3 + 1 else other = other + 1 end
end

function request()
  n = n + 1
  if n > #reqs then
    return reqs[#reqs]
  end
  return reqs[n]
end

function done(summary, latency, requests)
  local c2, c3, cx = 0, 0, 0
  for _, thread in ipairs(threads) do
    c2, c3, cx = c2 + thread:get("s2"), c3 + thread:get("s3"), cx + thread:get("other")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.2f, "p50_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "non_2xx_3xx": %d, "socket_errors": %d, ' ..
    '"timeouts": %d, "status_2xx": %d, "status_3xx": %d, "status_other": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.timeout, c2, c3, cx))
end
