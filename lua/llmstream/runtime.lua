--- The loop every request shares: one curl multi, the running requests,
--- retry timers, and the way the loop is driven:
---   * poll mode (default): the host calls llm.poll(timeout_ms) or req:wait();
---   * libuv mode (llm.use_loop(uv)): curl's sockets and timer are watched
---     by uv handles (llmstream.luv) and nothing polls on a clock.
--- Running requests are pinned in `active` until they end; nothing else
--- holds them, so an ended request is collected with its transfer.
local core = require("llmstream.core")

local R = {
  active = {},  -- request -> true while it runs or waits for a retry
  timers = {},  -- poll mode: timer -> true
  buf = {},     -- drain buffer reused by every pump (flat name/data pairs)
  depth = 0,    -- > 0 while user callbacks run inside poll()
}

function R.multi()
  if not R.m then
    R.m = core.multi()
    if R.uv then R.driver = require("llmstream.luv").new(R.m, R.uv, R.pump_all) end
  end
  return R.m
end

function R.add(req) R.active[req] = true end
function R.remove(req) R.active[req] = nil end

--- Run fn after `seconds`, on the host's loop. Returns a handle with cancel().
function R.after(seconds, fn)
  if R.uv then
    local uv, t = R.uv, R.uv.new_timer()
    local h = {}
    function h.cancel()
      if not t:is_closing() then t:stop(); t:close() end
    end
    t:start(math.max(0, math.floor(seconds * 1000)), 0, function()
      h.cancel()
      fn()
    end)
    return h
  end
  local h = { due = core.now() + seconds, fn = fn }
  function h.cancel() R.timers[h] = nil end
  R.timers[h] = true
  return h
end

--- A transfer was started: in libuv mode arm curl's timer now.
function R.kick()
  if R.driver then R.driver:kick() end
end

local function run_due_timers()
  local now, due = core.now(), {}
  for h in pairs(R.timers) do
    if h.due <= now then due[#due + 1] = h end
  end
  table.sort(due, function(a, b) return a.due < b.due end)
  for _, h in ipairs(due) do
    R.timers[h] = nil
    h.fn()
  end
end

-- Call a method on every running request (a snapshot: the method may
-- end requests and so change R.active).
local function each_active(method)
  local list = {}
  for req in pairs(R.active) do list[#list + 1] = req end
  for _, req in ipairs(list) do req[method](req) end
end

--- Let every running request take what arrived.
function R.pump_all() each_active("_pump") end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

--- Drive every request once: wait at most timeout_ms for network activity
--- (or the next retry timer), then deliver what arrived. Returns how many
--- requests are still running.
function R.poll(timeout_ms)
  if R.depth > 0 then
    error("(llmstream) llm.poll() or req:wait() called from inside an llmstream callback", 2)
  end
  if R.uv then
    error("(llmstream) the loop is driven by libuv (llm.use_loop); llm.poll() is not used then", 2)
  end
  run_due_timers()
  local wait = timeout_ms or 0
  if next(R.timers) then
    local now = core.now()
    for h in pairs(R.timers) do
      wait = math.min(wait, math.max(0, (h.due - now) * 1000))
    end
  end
  if next(R.active) == nil and next(R.timers) == nil then return 0 end
  local m = R.multi()
  if m:running() == 0 and wait > 0 then
    core.sleep(wait / 1000) -- only retry timers pending: nothing to watch
  end
  m:poll(math.floor(wait))
  R.pump_all()
  run_due_timers()
  return count(R.active)
end

--- Drive the loop from libuv (luv, vim.loop). Idempotent.
function R.use_loop(uv)
  if R.uv == uv then return end
  assert(next(R.active) == nil, "(llmstream) switch loops only while no request runs")
  R.close_idle()
  R.uv = uv
end

--- Close the shared multi and the idle connections it keeps for reuse,
--- if no request runs. Returns true if it closed them.
function R.close_idle()
  if next(R.active) or next(R.timers) then return false end
  if R.driver then R.driver:close(); R.driver = nil end
  if R.m then R.m:close(); R.m = nil end
  return true
end

--- Cancel every running request (host shutdown).
function R.cancel_all() each_active("cancel") end

return R
