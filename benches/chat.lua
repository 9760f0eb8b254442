-- wrk script for benches/load.sh: every request is one customer turn
-- (POST /v1/conversations/{id}/messages) with a message from the benchmark set, on conversations
-- created beforehand. Thread t takes its own conversations, round robin, with four times as many
-- conversations as it has connections, so two requests never share a conversation at once.
-- THINK_MS (environment): mean pause before a customer's next message (exponential; 0 = none).
local data = dofile(os.getenv("LOAD_DATA"))
local think_ms = tonumber(os.getenv("THINK_MS") or "0")
local thread_count = tonumber(os.getenv("LOAD_THREADS") or "1")
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  conversations = {}
  for i, c in ipairs(data.conversations) do
    if (i - 1) % thread_count == thread_index then
      table.insert(conversations, c)
    end
  end
  next_conversation = 1
  next_message = 1 + thread_index * 37
  math.randomseed(1234 + thread_index)
  statuses = {}
end

function request()
  local c = conversations[next_conversation]
  next_conversation = next_conversation % #conversations + 1
  local body = data.messages[next_message]
  next_message = next_message % #data.messages + 1
  return wrk.format("POST", "/v1/conversations/" .. c.id .. "/messages",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. c.token }, body)
end

function delay()
  if think_ms <= 0 then return 0 end
  return math.floor(-think_ms * math.log(1 - math.random()))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  -- wrk prints the totals; the exact percentiles a table needs are printed here.
  io.write(string.format("LOAD p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d " ..
    "duration_s=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    summary.duration / 1e6))
  -- Which answers were not 2xx, by status (wrk counts them only as "non-2xx or 3xx").
  local others = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses") or {}) do
      if status < 200 or status > 299 then others[status] = (others[status] or 0) + n end
    end
  end
  local parts = {}
  for status, n in pairs(others) do table.insert(parts, status .. "=" .. n) end
  table.sort(parts)
  io.write("STATUSES " .. table.concat(parts, " ") .. "\n")
end
