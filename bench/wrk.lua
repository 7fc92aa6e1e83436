-- wrk script for bench/load.py: hands out one pre-formatted request per call, cycling through the
-- file given as the first script argument (one request per line: "<Authorization>\t<DPoP or empty>"),
-- so each DPoP request carries its own fresh proof. With "stream" as the second argument the file
-- is a pipe that bench/load.py keeps writing fresh proofs to: each request reads the next line
-- (wrk waits when the writer is behind), so a run of any length never reuses a proof.
-- Prints a JSON summary line when done.
local reqs, n, i = {}, 0, 0
local stream, last

local function build(line)
  local auth, dpop = line:match("^([^\t]*)\t?(.*)$")
  local headers = {}
  if auth ~= "" then headers["Authorization"] = auth end
  if dpop ~= "" then headers["DPoP"] = dpop end
  return wrk.format("GET", nil, headers)
end

function init(args)
  if args[2] == "stream" then
    stream = assert(io.open(args[1], "r"))
    return
  end
  for line in io.lines(args[1]) do
    n = n + 1
    reqs[n] = build(line)
  end
end

function request()
  if stream then
    -- Should the writer ever stop first, the last request is sent again: a replay, refused, and
    -- counted as non-2xx.
    local line = stream:read("*l")
    if line then last = build(line) end
    return last
  end
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
