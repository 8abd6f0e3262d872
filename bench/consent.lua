-- Cookie banners recording consents (MODE=post) or reading them back
-- (MODE=get: the current consent; MODE=state: the consent-state a banner
-- reads on a page's load), over a space of SUBJECTS visitors. Counts the 201s, so that
-- the script can check every one of them is in the database.
local mode = os.getenv("MODE") or "post"
local tenant = os.getenv("TENANT") or "sevres"
local subjects = tonumber(os.getenv("SUBJECTS") or "50000")
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id * 7919)
  created = 0
  failed = 0
end

local function subject(i)
  return string.format("00000000-0000-4000-8000-%012x", i)
end

local choices = {
  '{"audience":true,"twitter":false}',
  '{"audience":false}',
  '{"audience":true,"twitter":true,"facebook":true,"linkedin":true}',
  '{}',
}

request = function()
  local s = subject(math.random(0, subjects - 1))
  if mode == "post" then
    local body = '{"subject_id":"' .. s .. '","policy_version":"2026-01","choices":'
      .. choices[math.random(1, #choices)]
      .. ',"page_url":"https://sevres-seineouest.opendatasoft.com/explore/"}'
    return wrk.format("POST", "/v1/tenants/" .. tenant .. "/consents",
      { ["Content-Type"] = "application/json", ["User-Agent"] = "bench/1.0" }, body)
  end
  if mode == "state" then
    return wrk.format("GET", "/v1/tenants/" .. tenant .. "/consent-state?subject_id=" .. s)
  end
  return wrk.format("GET", "/v1/tenants/" .. tenant .. "/consents/" .. s)
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status ~= 200 and status ~= 404 then
    failed = failed + 1
  end
end

done = function(summary, latency, requests)
  local c, f = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    f = f + t:get("failed")
  end
  io.write(string.format("CREATED %d\nFAILED %d\n", c, f))
end
