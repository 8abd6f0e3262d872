-- Mixed traffic for bench/soak.sh: cookie banners recording consents and
-- reading them back, citizens submitting requests with an identity
-- document, a DPO reading the queue and requests. Each connection waits
-- DELAY_MS between two requests, so that the rate stays modest. Statuses
-- are counted per class; done() prints them for the script.
local tenant = os.getenv("TENANT") or "sevres"
local token = os.getenv("TOKEN") or ""
local delay_ms = tonumber(os.getenv("DELAY_MS") or "5")
local doc_bytes = tonumber(os.getenv("DOC_BYTES") or "32768")
local boundary = "----guichetsoak5d1e"
local pdf = "%PDF-1.4\n" .. string.rep("S", doc_bytes - 9)
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id * 7919)
  ok, created, bad, s4xx, s5xx, s429, last_bad = 0, 0, 0, 0, 0, 0, 0
  counter = 0
  subjects = {}
  requests_seen = {}
  references = {}
end

local choices = {
  '{"audience":true,"twitter":false}',
  '{"audience":false}',
  '{"audience":true,"twitter":true,"facebook":true,"linkedin":true}',
  '{}',
}

local function part(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\"\r\n\r\n" .. value .. "\r\n"
end

local function bearer(path)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

request = function()
  counter = counter + 1
  local r = math.random(1, 100)
  if r <= 50 or #subjects == 0 then
    local body = '{"policy_version":"2026-01","choices":' .. choices[math.random(1, #choices)]
      .. ',"page_url":"https://sevres-seineouest.opendatasoft.com/explore/"}'
    return wrk.format("POST", "/v1/tenants/" .. tenant .. "/consents",
      { ["Content-Type"] = "application/json", ["User-Agent"] = "soak/1.0" }, body)
  elseif r <= 75 then
    return wrk.format("GET", "/v1/tenants/" .. tenant .. "/consents/" .. subjects[math.random(1, #subjects)])
  elseif r <= 77 then
    local body = part("kind", "access") .. part("first_name", "Soak") .. part("last_name", "Load")
      .. part("email", "soak" .. id .. "-" .. counter .. "@example.org")
      .. part("details", "Copie de mes données.")
      .. "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"id_document\"; filename=\"cni.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
      .. pdf .. "\r\n--" .. boundary .. "--\r\n"
    return wrk.format("POST", "/v1/tenants/" .. tenant .. "/requests",
      { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, body)
  elseif r <= 90 or #requests_seen == 0 then
    local queries = { "", "?status=received", "?overdue=true", "?sort=-received_at&per_page=100" }
    if #references > 0 then
      -- A DPO looking a request up by its reference.
      table.insert(queries, "?q=" .. references[math.random(1, #references)])
    end
    return bearer("/v1/dpo/requests" .. queries[math.random(1, #queries)])
  elseif r <= 97 then
    return bearer("/v1/dpo/requests/" .. requests_seen[math.random(1, #requests_seen)])
  else
    return bearer("/v1/dpo/consents/stats")
  end
end

response = function(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    if status == 201 then
      created = created + 1
      local subject = body:match('"subject_id":"([^"]+)"')
      if subject and #subjects < 5000 then
        table.insert(subjects, subject)
      end
      local rid, reference = body:match('"id":"([^"]+)","reference":"([^"]+)"')
      if rid and #requests_seen < 5000 then
        table.insert(requests_seen, rid)
        table.insert(references, reference)
      end
    end
    return
  end
  bad = bad + 1
  last_bad = status
  if status == 429 then s429 = s429 + 1 end
  if status >= 500 then s5xx = s5xx + 1 elseif status >= 400 then s4xx = s4xx + 1 end
end

delay = function()
  return delay_ms
end

done = function(summary, latency, requests)
  local t = { ok = 0, created = 0, bad = 0, s4xx = 0, s5xx = 0, s429 = 0, last_bad = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do
      local v = thread:get(k) or 0
      if k == "last_bad" then
        if v ~= 0 then t[k] = v end
      else
        t[k] = t[k] + v
      end
    end
  end
  io.write(string.format("SOAK ok=%d created=%d bad=%d 4xx=%d 5xx=%d 429=%d last_bad=%d\n",
    t.ok, t.created, t.bad, t.s4xx, t.s5xx, t.s429, t.last_bad))
end
