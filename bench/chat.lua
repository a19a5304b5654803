-- wrk script: POST a small OpenAI chat request, print one machine-readable line.
--
--   wrk -t2 -c64 -d10s -s bench/chat.lua http://127.0.0.1:18000/v1/chat/completions -- stream
--
-- Script argument (after `--`): "stream" adds "stream": true to the body; "unique"
-- gives every request its own message (cache MISSes); anything else (or nothing)
-- sends the same non-streaming request each time, built once per thread.
--
-- done() prints one line starting with "BENCH_JSON " followed by a JSON object.
-- Latencies are in microseconds (wrk's unit). "non2xx" is wrk's status error
-- count (responses with status > 399); "socket_errors" is connect + read +
-- write + timeout errors.

local json_body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'
local stream_body =
  '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"stream":true}'

wrk.method = "POST"
wrk.body = json_body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench-key"

local unique = false
local counter = 0

function init(args)
  if args[1] == "stream" then
    wrk.body = stream_body
  elseif args[1] == "unique" then
    -- Every request its own question: with the response cache on, each is a MISS
    -- that is then stored (what a cache costs when it does not help).
    unique = true
    counter = math.random(1, 1e9) * 1000
  end
end

function request()
  if not unique then
    return wrk.format()
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil,
    '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello ' .. counter .. '"}]}')
end

function done(summary, latency, requests)
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"rps":%.2f,'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d},'
      .. '"non2xx":%d,"socket_errors":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},'
      .. '"bytes":%d}\n',
    summary.requests, summary.duration, summary.requests / seconds,
    latency.mean, latency.stdev, latency.min,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, socket_errors,
    e.connect, e.read, e.write, e.timeout, e.status,
    summary.bytes
  ))
end
