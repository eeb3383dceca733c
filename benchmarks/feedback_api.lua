-- wrk's side of benchmarks/feedback_api.py (--client wrk): the same calls as its Python client.
-- Settings come from the environment the script sets; what each wrk thread saw is written, one
-- line each, to BENCH_WRK_OUT at the end: "created <id>", "replayed <id>", "read", "error <what>".
local slug = os.getenv("BENCH_SLUG")
local token = os.getenv("BENCH_TOKEN")
local reads = tonumber(os.getenv("BENCH_READS"))
local ids = {}
for id in string.gmatch(os.getenv("BENCH_REQUEST_IDS"), "[^,]+") do
  ids[#ids + 1] = id
end
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  threads[#threads + 1] = thread
end

-- Bodies become replayable once their 201 is in, as in the Python client (never while in flight).
local sent, pending = {}, {}
local n = 0

local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%012x", math.random(0, 0xffffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff), math.random(0, 0xffffffffffff))
end

local function body_for(request_id)
  -- As body_for() in feedback_api.py: a fresh comment makes each call a real change.
  local note = string.format("Note %d-%d-%f", seed, n, math.random())
  local kind = math.random(0, 3)
  local extra
  if kind == 0 then
    extra = string.format('"rating": "%s"', math.random(0, 1) == 0 and "positive" or "negative")
  elseif kind == 1 then
    extra = '"rating": "negative", "reasons": ["inaccurate", "incomplete"]'
  elseif kind == 2 then
    extra = string.format('"retrieval_assessments": [{"position": %d, "rating": "relevant"}]', math.random(0, 2))
  else
    extra = string.format('"corrected_response": "Corrected %f", "missing_sources": [{"doc_uri": "docs://x"}]',
      math.random())
  end
  return string.format('{"request_id": "%s", "assessment_id": "%s", "comment": "%s", %s}',
    request_id, uuid4(), note, extra)
end

function init(args)
  math.randomseed(seed * 7919 + os.time())
  lines = {}
end

function request()
  n = n + 1
  local id = ids[math.random(#ids)]
  if reads > 0 and math.random() < reads then
    return wrk.format("GET", "/api/v1/apps/" .. slug .. "/requests/" .. id, headers)
  end
  local body
  if #sent > 0 and math.random() < 0.1 then
    body = sent[math.random(#sent)]  -- a replay: must answer 200 with the row stored before
  else
    body = body_for(id)
    pending[string.match(body, '"assessment_id": "([^"]+)"')] = body
  end
  return wrk.format("POST", "/api/v1/apps/" .. slug .. "/feedback", headers, body)
end

function response(status, headers, body)
  -- wrk does not say which request an answer is for: the body does (a read names its messages).
  local assessment = string.match(body, '"assessment_id"%s*:%s*"([^"]+)"')
  if status == 200 and string.find(body, '"messages"', 1, true) then
    lines[#lines + 1] = "read"
  elseif status == 201 and assessment then
    lines[#lines + 1] = "created " .. assessment
    sent[#sent + 1] = pending[assessment]
    pending[assessment] = nil
  elseif status == 200 and assessment then
    lines[#lines + 1] = "replayed " .. assessment
  else
    lines[#lines + 1] = "error HTTP " .. status
  end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  for _, thread in ipairs(threads) do
    for _, line in ipairs(thread:get("lines")) do
      out:write(line, "\n")
    end
  end
  out:close()
end
