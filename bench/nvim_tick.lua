-- Inside headless Neovim: stream 2,000 deltas at 200/s into a chat buffer
-- and time, per loop tick, what llmstream's code costs the main loop: the
-- socket/timer actions with pumping (libuv callbacks) and the scheduled
-- buffer flushes. Prints "@@ p99_us updates_per_s max_updates_per_tick".
local nv = require("llmstream.nvim")
local R = require("llmstream.runtime")
local uv = vim.loop
nv.setup({ provider = "anthropic", model = "m", base_url = os.getenv("LLMSTREAM_BASE"), client = { api_key = "bench" } })
vim.cmd("LLMChat")
local buf = vim.api.nvim_get_current_buf()
local S
-- per-tick accounting: time spent in our callbacks, keyed by loop iteration
local tick_cost, flushes_in_tick = {}, {}
-- a check handle runs once per loop iteration: count iterations as ticks
local iteration = 0
local counter = uv.new_check()
counter:start(function() iteration = iteration + 1 end)
local function tick() return iteration end
local orig_pump = R.pump_all
R.pump_all = function()
  local t0 = uv.hrtime()
  orig_pump()
  local k = tick()
  tick_cost[k] = (tick_cost[k] or 0) + (uv.hrtime() - t0)
end
local H = nv._H
local orig_flush = H.flush
H.flush = function(s)
  local had = #s.pending > 0
  local t0 = uv.hrtime()
  orig_flush(s)
  local k = tick()
  tick_cost[k] = (tick_cost[k] or 0) + (uv.hrtime() - t0)
  if had then flushes_in_tick[k] = (flushes_in_tick[k] or 0) + 1 end
end
vim.api.nvim_buf_set_lines(buf, -2, -1, false, { "go" })
local t0 = uv.hrtime()
nv.send(buf)
S = nv.state(buf)
vim.wait(60000, function() return S.req and S.req:done() end, 20)
local secs = (uv.hrtime() - t0) / 1e9
local costs, maxper = {}, 0
for _, v in pairs(tick_cost) do costs[#costs + 1] = v / 1000 end
for _, v in pairs(flushes_in_tick) do if v > maxper then maxper = v end end
table.sort(costs)
counter:stop()
counter:close()
print(("@@ %.1f %.1f %d"):format(costs[math.max(1, math.ceil(#costs * 0.99))], S.updates / secs, maxper))
vim.cmd("qa!")
