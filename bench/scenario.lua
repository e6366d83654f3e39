-- wrk script for bench/run.py: one scenario per run, chosen by the script arguments
--   wrk ... -s scenario.lua -- <scenario> <data file> <threads> [password]
--
-- Scenarios (floor: bench/floor_app.py on its own gunicorn; the rest: the project's gunicorn):
--   json         GET  /json             floor    bare Flask JSON
--   bcrypt       POST /bcrypt/check     floor    {"password": ...}
--   bcrypt_hash  POST /bcrypt/hash      floor    {"password": ...}
--   user         GET  /user                      Authorization: Bearer <line>, cycling
--   password     POST /token?grant_type=password        {"email": <line>, "password": ...}, cycling
--   refresh      POST /token?grant_type=refresh_token   {"refresh_token": <line>}, each line ONCE
--   signup       POST /signup                    {"email": <line>, "password": ...}, each line ONCE
--   verify       POST /verify                    {"type": "email", "email": .., "token": ..} from
--                                                a line "email<TAB>code", each line ONCE
--
-- Lines of the data file are dealt out to wrk's threads (line i goes to thread i mod threads),
-- so no two connections ever present the same line. When a thread runs out of lines of a
-- once-only scenario it says so in the summary and sends an empty refresh token, which the
-- project refuses: the run then fails loudly instead of reporting reused-token errors (or
-- repeated signups) as throughput.
--
-- Every response that is not 2xx is counted; done() prints one line "BENCH_RESULT {json}".

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function json_string(value)
  local escaped = value:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('%c', ' ')
  return '"' .. escaped .. '"'
end

local scenario, pending, position, cycle

function init(args)
  scenario = args[1]
  local data_file, thread_count, password = args[2], tonumber(args[3]), args[4] or ""
  local id = wrk.thread:get("id")
  non2xx, exhausted, first_bad = 0, 0, ""

  local lines = {}
  if data_file ~= "-" then
    local index = 0
    for line in io.lines(data_file) do
      if index % thread_count == id then
        table.insert(lines, line)
      end
      index = index + 1
    end
  end

  local json_headers = { ["Content-Type"] = "application/json" }
  -- Each line is its own client for the rate limiter (GOTRUE_RATE_LIMIT_HEADER, see run.py),
  -- as under real traffic from many clients: the limiter's cost is measured, not its refusals.
  local function client_headers(i)
    return { ["Content-Type"] = "application/json",
             ["X-Bench-Client"] = "bench-" .. scenario .. "-" .. id .. "-" .. i }
  end
  pending = {}
  local password_body = '{"password":' .. json_string(password) .. '}'
  if scenario == "json" then
    pending[1] = wrk.format("GET", "/json")
  elseif scenario == "bcrypt" then
    pending[1] = wrk.format("POST", "/bcrypt/check", json_headers, password_body)
  elseif scenario == "bcrypt_hash" then
    pending[1] = wrk.format("POST", "/bcrypt/hash", json_headers, password_body)
  elseif scenario == "user" then
    for i, token in ipairs(lines) do
      pending[i] = wrk.format("GET", "/user", { ["Authorization"] = "Bearer " .. token })
    end
  elseif scenario == "password" then
    for i, email in ipairs(lines) do
      pending[i] = wrk.format("POST", "/token?grant_type=password", client_headers(i),
        '{"email":' .. json_string(email) .. ',"password":' .. json_string(password) .. '}')
    end
  elseif scenario == "refresh" then
    for i, token in ipairs(lines) do
      pending[i] = wrk.format("POST", "/token?grant_type=refresh_token", client_headers(i),
        '{"refresh_token":' .. json_string(token) .. '}')
    end
  elseif scenario == "signup" then
    for i, email in ipairs(lines) do
      pending[i] = wrk.format("POST", "/signup", client_headers(i),
        '{"email":' .. json_string(email) .. ',"password":' .. json_string(password) .. '}')
    end
  elseif scenario == "verify" then
    for i, line in ipairs(lines) do
      local email, code = line:match("^([^\t]+)\t(%S+)$")
      pending[i] = wrk.format("POST", "/verify", client_headers(i),
        '{"type":"email","email":' .. json_string(email) .. ',"token":' .. json_string(code)
        .. '}')
    end
  else
    error("unknown scenario " .. tostring(scenario))
  end
  if #pending == 0 then
    error("no data for scenario " .. scenario .. " in thread " .. id)
  end
  cycle = scenario ~= "refresh" and scenario ~= "signup" and scenario ~= "verify"
  position = 0
end

function request()
  position = position + 1
  if position > #pending then
    if not cycle then
      exhausted = exhausted + 1
      return wrk.format("POST", "/token?grant_type=refresh_token",
        { ["Content-Type"] = "application/json" }, '{"refresh_token":""}')
    end
    position = 1
  end
  return pending[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local bad, used_up, sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    used_up = used_up + thread:get("exhausted")
    if sample == "" then
      sample = thread:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"exhausted":%d,' ..
    '"socket_errors":%d,"timeouts":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"first_bad":%s}\n',
    summary.requests, summary.duration, bad, used_up,
    e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    json_string(sample)))
end
