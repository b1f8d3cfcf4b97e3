-- wrk script for the stird HTTP API. Every request POSTs the JSON body of the
-- file named by WRK_BODY. A response is bad when its status is not 200, or
-- when WRK_EXPECT is set and the body does not contain that text.
--
-- At the end it writes one line that scripts/bench-api.sh reads:
--   RESULT requests bad socket_errors p50_us p99_us max_us

local body_file = assert(os.getenv("WRK_BODY"), "WRK_BODY is not set")
local file = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local expect = os.getenv("WRK_EXPECT")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or (expect and not string.find(body, expect, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format("RESULT %d %d %d %d %d %d\n",
    summary.requests, total_bad, socket_errors,
    latency:percentile(50), latency:percentile(99), latency.max))
end
