-- One stream through the public API; prints: cpu_s wall_s peak_rss_kb deltas bytes
local core = require("llmstream.core")
local llm = require("llmstream")
local url, want_deltas, want_bytes = arg[1], tonumber(arg[2]), tonumber(arg[3])
local function cpu()
  local f = io.open("/proc/self/stat")
  local fields = {}
  for x in f:read("*l"):gmatch("%S+") do fields[#fields + 1] = x end
  f:close()
  return (tonumber(fields[14]) + tonumber(fields[15])) / 100 -- clock ticks
end
local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "bench", base_url = url,
  max_retries = 0 })
local chat = llm.chat({ client = c })
local n, bytes = 0, 0
local c0, t0 = os.clock(), core.now()
local reply, err = chat:send("bench", { on_delta = function(t) n = n + 1; bytes = bytes + #t end }):wait()
local wall = core.now() - t0
local cpu_s = os.clock() - c0
assert(reply, err and err.message)
assert(n == want_deltas and bytes == want_bytes, ("got %d deltas %d bytes"):format(n, bytes))
local f = io.open("/proc/self/status")
local hwm = f:read("*a"):match("VmHWM:%s+(%d+)")
f:close()
local _ = cpu
print(("%.3f %.3f %s %d %d"):format(cpu_s, wall, hwm, n, bytes))
