-- wrk script for bench/load.py: hands out one pre-formatted request per call, cycling through the
-- file given as the first script argument (one request per line: "<Authorization>\t<DPoP or empty>"),
-- so each DPoP request carries its own fresh proof. Prints a JSON summary line when done.
local reqs, n, i = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do
    local auth, dpop = line:match("^([^\t]*)\t?(.*)$")
    local headers = {}
    if auth ~= "" then headers["Authorization"] = auth end
    if dpop ~= "" then headers["DPoP"] = dpop end
    n = n + 1
    reqs[n] = wrk.format("GET", nil, headers)
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
