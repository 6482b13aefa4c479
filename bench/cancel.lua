-- Cancel latency: req:cancel() until the server sees the connection
-- closed, over TRIES tries. mode "llmstream" or "curl" (kill the curl
-- process, the plugin way). Prints the latencies in microseconds.
local core = require("llmstream.core")
local cjson = require("cjson")
local base, mode, tries = arg[1], arg[2], tonumber(arg[3] or 100)
local function stats()
  local m = core.multi()
  local t = m:start({ url = base .. "/stats" })
  while m:poll(50) > 0 do end
  local o = cjson.decode((t:body()))
  t:close(); m:close()
  return o
end
local out = {}
local url = base .. "/f=anthropic_10000,rate=200/v1/messages"
if mode == "curl" then
  local uv = require("luv")
  for _ = 1, tries do
    local before = stats().closed_early
    local stdout = uv.new_pipe(false)
    local got = 0
    local handle
    handle = uv.spawn("curl", { args = { "-sN", "-X", "POST", "-d", "{}", url }, stdio = { nil, stdout, nil } },
      function() handle:close() end)
    stdout:read_start(function(_, data) if data then got = got + 1 end end)
    while got < 3 do uv.run("once") end
    local t0 = core.now()
    uv.process_kill(handle, "sigterm")
    local s
    repeat s = stats() until s.closed_early > before
    out[#out + 1] = s.last_close_us - t0 * 1e6
    stdout:read_stop(); stdout:close()
    uv.run("nowait")
  end
  uv.run() -- every handle closed: let their close callbacks run before lua_close
else
  local llm = require("llmstream")
  local c = llm.client({ provider = "anthropic", model = "m", api_key = "bench", base_url = base .. "/f=anthropic_10000,rate=200",
    max_retries = 0 })
  local chat = llm.chat({ client = c })
  for _ = 1, tries do
    local before = stats().closed_early
    local got = 0
    local req = chat:send("bench", { on_delta = function() got = got + 1 end })
    while got < 3 do llm.poll(50) end
    local t0 = core.now()
    req:cancel()
    local s
    repeat s = stats() until s.closed_early > before
    out[#out + 1] = s.last_close_us - t0 * 1e6
  end
end
print(table.concat(out, " "))
