-- POST /api/checkins for wrk, each request a new check-in of the next patient in turn.
--   wrk -t2 -c64 -d20s --latency -s bench/wrk_checkins.lua http://127.0.0.1:8000 -- TOKENS_FILE
-- TOKENS_FILE holds one device token a line (bench/wrk_ingest.py writes it). Ids are unique:
-- a random prefix per run, the thread's number and a counter (LuaJIT's math.random is exact
-- only below 2^31, so no random id of 128 bits). done() prints one line of figures as JSON.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(os.time() * 1000 + number)
  run = math.random(0, 2147483646)
end

function request()
  counter = counter + 1
  local id = string.format("%08x-%04x-4000-8000-%012x", run, number, counter)
  -- Each thread walks the patients in turn from its own offset, an eighth of the list apart
  -- (up to 8 threads never meet; each thread runs this script in a Lua state of its own, so the
  -- setup's list of threads is not visible here, only the number it gave this one). A patient
  -- sent two check-ins at once has them stored one after the other, as it should.
  local token = tokens[((number * math.floor(#tokens / 8) + counter) % #tokens) + 1]
  local body = string.format(
    '{"id":"%s","answered_at":"%s","answers":{"pain_now":%d,"pain_avg_24h":%d,'
      .. '"fatigue":%d,"sleep_quality":%d}}',
    id, os.date("!%Y-%m-%dT%H:%M:%SZ"), counter % 11, (counter + 3) % 11,
    (counter + 5) % 11, (counter + 7) % 11)
  return wrk.format("POST", "/api/checkins", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
