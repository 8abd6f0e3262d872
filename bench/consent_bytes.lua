-- Visitors of the five demo tenants giving their consent as banners do,
-- for bench/consent_bytes.sh: random subjects (a visitor rarely comes back
-- within a run), real browsers' user agents, a few dozen pages per site,
-- varied choices.
local tenants = {"sevres", "dunkerque", "guadeloupe", "nimes", "valparisis"}
local purposes = {
  sevres = {"audience", "twitter", "facebook", "linkedin"},
  dunkerque = {"audience", "twitter", "facebook", "linkedin"},
  guadeloupe = {"audience", "twitter", "facebook", "linkedin"},
  nimes = {"audience", "twitter", "facebook", "linkedin"},
  valparisis = {"matomo", "facebook", "instagram", "twitter"},
}
local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
}
local sections = {"actualites", "demarches", "agenda", "culture", "sport", "solidarite",
  "urbanisme", "environnement", "education", "jeunesse", "seniors", "mairie"}

function init(args)
  math.randomseed(os.time() * 1000 + math.random(1, 1000000))
end

local function uuid4()
  local r = math.random
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x", r(0, 0xffffffff), r(0, 0xffff),
    r(0, 0xfff), 0x8000 + r(0, 0x3fff), r(0, 0xffff), r(0, 0xffffffff))
end

request = function()
  local tenant = tenants[math.random(1, #tenants)]
  local choices = {}
  for _, p in ipairs(purposes[tenant]) do
    table.insert(choices, '"' .. p .. '":' .. (math.random() < 0.45 and "true" or "false"))
  end
  local page = string.format("https://www.%s.fr/%s/page-%d", tenant,
    sections[math.random(1, #sections)], math.random(1, 5))
  local body = '{"subject_id":"' .. uuid4() .. '","policy_version":"2026-01","choices":{'
    .. table.concat(choices, ",") .. '},"page_url":"' .. page .. '"}'
  return wrk.format("POST", "/v1/tenants/" .. tenant .. "/consents",
    { ["Content-Type"] = "application/json", ["User-Agent"] = agents[math.random(1, #agents)] },
    body)
end
