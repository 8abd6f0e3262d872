-- Citizens submitting an access request with a 1 MiB PDF, each with an
-- address of their own (the per-address limit is not what is measured).
local boundary = "----guichetbench7f3a"
local pdf = "%PDF-1.4\n" .. string.rep("A", 1024 * 1024 - 9)
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function part(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\"\r\n\r\n" .. value .. "\r\n"
end

request = function()
  counter = counter + 1
  local body = part("kind", "access") .. part("first_name", "Bench") .. part("last_name", "Load")
    .. part("email", "bench" .. id .. "-" .. counter .. "@example.org")
    .. part("details", "Copie de mes données.")
    .. "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"id_document\"; filename=\"cni.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    .. pdf .. "\r\n--" .. boundary .. "--\r\n"
  return wrk.format("POST", "/v1/tenants/sevres/requests",
    { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, body)
end
