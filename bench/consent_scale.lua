-- Banners of the five demo tenants, against a store of any size
-- (bench/consent_scale.sh):
-- MODE=post: a consent of a new visitor of a random tenant, its choices a
--   random pick of the tenant's purposes (TENANTS file: "slug p1,p2,…");
-- MODE=get: the current consent of a visitor drawn from SUBJECTS ("slug
--   subject_id" lines, sampled from the store over its whole period);
-- MODE=history: that visitor's history;
-- PACE: see below.
-- Counts the answers by kind: 201, 200, 404 (none in force: expired or
-- withdrawn), and any other.
local mode = os.getenv("MODE") or "post"
-- PACE (ms): each connection waits that long after an answer before it
-- asks again, so that the reads come at a steady rate rather than as fast
-- as they are answered.
local pace = tonumber(os.getenv("PACE") or "")
if pace then
  delay = function() return pace end
end
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  if not path then return out end
  for line in io.lines(path) do
    local a, b = line:match("^(%S+)%s+(%S*)$")
    if a then table.insert(out, { a, b }) end
  end
  return out
end

local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

function init(args)
  math.randomseed(os.time() * 1000 + id * 7919)
  tenants = lines(os.getenv("TENANTS"))
  for _, t in ipairs(tenants) do
    local purposes = {}
    for p in t[2]:gmatch("[^,]+") do table.insert(purposes, p) end
    t[2] = purposes
  end
  subjects = lines(os.getenv("SUBJECTS"))
  created, found, missing, failed = 0, 0, 0, 0
end

local function hex(n)
  local out = {}
  for i = 1, n do out[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(out)
end

request = function()
  if mode == "post" then
    local t = tenants[math.random(1, #tenants)]
    local choices = {}
    for _, p in ipairs(t[2]) do
      table.insert(choices, '"' .. p .. '":' .. (math.random(0, 1) == 1 and "true" or "false"))
    end
    local subject = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-8" .. hex(3) .. "-" .. hex(12)
    local body = '{"subject_id":"' .. subject .. '","policy_version":"2026-01","choices":{'
      .. table.concat(choices, ",") .. '},"page_url":"https://' .. t[1] .. '.example.fr/"}'
    return wrk.format("POST", "/v1/tenants/" .. t[1] .. "/consents",
      { ["Content-Type"] = "application/json", ["User-Agent"] = agents[math.random(1, #agents)] }, body)
  end
  local s = subjects[math.random(1, #subjects)]
  local path = "/v1/tenants/" .. s[1] .. "/consents/" .. s[2]
  if mode == "history" then path = path .. "/history" end
  return wrk.format("GET", path)
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    found = found + 1
  elseif status == 404 then
    missing = missing + 1
  else
    failed = failed + 1
  end
end

done = function(summary, latency, requests)
  local c, f, m, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    f = f + t:get("found")
    m = m + t:get("missing")
    x = x + t:get("failed")
  end
  io.write(string.format("CREATED %d\nFOUND %d\nMISSING %d\nFAILED %d\n", c, f, m, x))
end
