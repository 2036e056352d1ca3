-- wrk script for one request, sent over and over:
--   wrk ... -s bench/wrk.lua URL -- METHOD BODY [HEADER: value]...
-- (the path comes from URL; BODY may be empty).
local request_bytes

function init(args)
   local headers = {}
   for i = 3, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      headers[name] = value
   end
   local body = args[2]
   if body == "" then
      body = nil
   end
   request_bytes = wrk.format(args[1], nil, headers, body)
end

function request()
   return request_bytes
end
