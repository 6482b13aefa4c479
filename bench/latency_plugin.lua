-- The plugin way: a `curl -sN` child read line by line, each data: line
-- decoded with cjson. Prints the latencies in microseconds.
local cjson = require("cjson")
local core = require("llmstream.core") -- only for the clock
local p = io.popen(("curl -sN -X POST -d '{}' %q"):format(arg[1] .. "/v1/messages"))
local lat = {}
for line in p:lines() do
  if line:sub(1, 6) == "data: " then
    local o = cjson.decode(line:sub(7))
    if o.type == "content_block_delta" then lat[#lat + 1] = core.now() * 1e6 - tonumber(o.delta.text) end
  end
end
p:close()
assert(#lat == 300)
print(table.concat(lat, " "))
