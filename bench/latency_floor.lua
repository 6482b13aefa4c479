-- The floor of this machine: a raw TCP socket watched by luv, no HTTP or
-- SSE parsing, the stamp found by a pattern. What is left is the kernel's
-- loopback and the wake-up of a sleeping process; no client can beat it.
-- Prints the latencies in microseconds.
local uv = require("luv")
local core = require("llmstream.core") -- only for the clock
local host, port, path = arg[1]:match("^http://([^:/]+):(%d+)(/.*)$")
local lat, carry = {}, ""
local tcp = uv.new_tcp()
tcp:connect(host, tonumber(port), function(err)
  assert(not err, err)
  tcp:write(("POST %s/v1/messages HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n{}")
    :format(path, host))
  tcp:read_start(function(e, data)
    local now = core.now() * 1e6
    assert(not e, e)
    if not data then tcp:close() return end
    carry = carry .. data
    local cut = carry:match(".*\n\n()") -- complete events end with a blank line
    if not cut then return end
    for stamp in carry:sub(1, cut - 1):gmatch('"text":"(%d+)"') do lat[#lat + 1] = now - tonumber(stamp) end
    carry = carry:sub(cut)
    if #lat == 300 then tcp:read_stop(); tcp:close() end -- the server keeps the connection open
  end)
end)
uv.run()
assert(#lat == 300, "latency floor run failed: " .. #lat)
print(table.concat(lat, " "))
