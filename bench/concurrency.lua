-- N simultaneous streams in one process through the public API.
-- Prints: cpu_s wall_s rss_growth_kb peak_fds ok_count
local core = require("llmstream.core")
local llm = require("llmstream")
local url, N, want, mode = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local uv
if mode == "luv" then uv = require("luv"); llm.use_loop(uv) end
local function status(field)
  local f = io.open("/proc/self/status")
  local v = tonumber(f:read("*a"):match(field .. ":%s+(%d+)"))
  f:close()
  return v
end
local function fds()
  local p = io.popen("ls /proc/" .. status("Pid") .. "/fd | wc -l")
  local n = tonumber(p:read("*l"))
  p:close()
  return n
end
local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "bench", base_url = url,
  max_retries = 0, connect_timeout = 30, idle_timeout = 60 })
collectgarbage()
local rss0 = status("VmRSS")
local c0, t0 = os.clock(), core.now()
local counts, reqs = {}, {}
for i = 1, N do
  counts[i] = 0
  reqs[i] = llm.chat({ client = c }):send("bench", { on_delta = function() counts[i] = counts[i] + 1 end })
end
local peak_fds, iter = 0, 0
if uv then
  local t = uv.new_timer() -- samples fds; the transfers are socket-driven
  t:start(200, 200, function() peak_fds = math.max(peak_fds, fds()) end)
  while llm.running() > 0 do uv.run("once") end
  t:close()
  llm.close_idle()
  uv.run("nowait") -- let the closes finish before lua_close (luv crashes otherwise)
else
  while llm.poll(100) > 0 do
    iter = iter + 1
    if iter % 50 == 1 then peak_fds = math.max(peak_fds, fds()) end
  end
end
local ok = 0
for i = 1, N do if reqs[i].state == "done" and counts[i] == want then ok = ok + 1 end end
print(("%.3f %.3f %d %d %d"):format(os.clock() - c0, core.now() - t0, status("VmHWM") - rss0, peak_fds, ok))
