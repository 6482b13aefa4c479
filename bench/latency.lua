-- Latency from the server's send to on_delta, for 300 stamped deltas.
-- mode "poll": the host calls llm.poll(100) in a loop; "luv": the
-- socket-driven libuv loop. Prints the latencies in microseconds.
local core = require("llmstream.core")
local llm = require("llmstream")
local url, mode = arg[1], arg[2]
if mode == "luv" then llm.use_loop(require("luv")) end
local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "bench", base_url = url,
  max_retries = 0 })
local lat = {}
local req = llm.chat({ client = c }):send("bench", { on_delta = function(t)
  lat[#lat + 1] = core.now() * 1e6 - tonumber(t)
end })
if mode == "luv" then
  local uv = require("luv")
  local check = uv.new_check()
  check:start(function() if req:done() then uv.stop() end end)
  uv.run()
  check:close()
  llm.close_idle()
  uv.run("nowait") -- let the closes finish before lua_close (luv crashes otherwise)
else
  while llm.poll(100) > 0 do end
end
assert(req.state == "done" and #lat == 300, "latency run failed")
print(table.concat(lat, " "))
