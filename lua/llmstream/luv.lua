--- Socket-driven loop for any libuv host (luv, Neovim's vim.loop, luvit):
--- curl's multi_socket pattern. A uv poll handle watches each socket curl
--- asks for, one uv timer stands for curl's timeout (and the core's idle
--- deadlines); nothing runs on a fixed clock. Once no transfer is running
--- and curl wants no socket, every handle is closed.
---
---   local driver = require("llmstream.luv").new(multi, uv, on_progress)
---   driver:kick()     -- after starting a transfer
---   driver:close()    -- stop watching (transfers are not cancelled)
---
--- Standalone luv hosts: before the process exits, call llm.close_idle()
--- and run the loop once more (uv.run("nowait")) so every close callback
--- has run; luv's own finalizer crashes at lua_close on handles still
--- closing. Neovim never closes its loop, so this does not arise there.
local M = {}

---@class llmstream.LuvDriver
---@field handles integer  uv handles currently open (polls + timer)
local Driver = {}
Driver.__index = Driver

--- multi: a core multi; uv: the luv module (vim.loop in Neovim);
--- on_progress(): called after every socket or timer action, inside the
--- uv callback (in Neovim a fast event: schedule buffer work from it).
function M.new(multi, uv, on_progress)
  return setmetatable({
    multi = multi,
    uv = uv,
    on_progress = on_progress or function() end,
    polls = {},
    timer = nil,
    handles = 0,
    closed = false,
  }, Driver)
end

local function uv_events(what)
  if what == "in" then return "r" elseif what == "out" then return "w" end
  return "rw"
end

function Driver:_close_handle(h)
  h:stop()
  if not h:is_closing() then h:close() end
  self.handles = self.handles - 1
end

function Driver:_action(fd, flags)
  if self.closed then return end
  if fd then self.multi:socket_action(fd, flags) else self.multi:timeout_action() end
  self.on_progress()
  -- after the drain: it may have resumed a paused transfer (curl then asks
  -- for a timeout of 0) or ended some (curl drops their sockets)
  self:sync()
end

--- Apply the socket and timer changes curl asked for since the last call.
function Driver:sync()
  if self.closed then return end
  local uv, ch = self.uv, self.multi:sockets()
  for i = 1, #ch, 2 do
    local fd, what = ch[i], ch[i + 1]
    local h = self.polls[fd]
    if what == "remove" then
      if h then self:_close_handle(h); self.polls[fd] = nil end
    else
      if not h then
        h = uv.new_poll(fd)
        self.polls[fd] = h
        self.handles = self.handles + 1
      end
      h:start(uv_events(what), function(err, events)
        local flags = err and "err" or ((events:find("r") and "in" or "") .. (events:find("w") and "out" or ""))
        self:_action(fd, flags)
      end)
    end
  end
  local ms = self.multi:timeout()
  if ms then
    if not self.timer then
      self.timer = uv.new_timer()
      self.handles = self.handles + 1
    end
    self.timer:stop()
    self.timer:start(ms, 0, function() self:_action(nil) end)
  elseif self.timer and self.multi:running() == 0 then
    self:_close_handle(self.timer)
    self.timer = nil
  end
  if self.timer and self.multi:running() == 0 and next(self.polls) == nil then
    -- nothing left to drive: leave no handle open
    self:_close_handle(self.timer)
    self.timer = nil
  end
end

--- Call after starting a transfer: curl asks for an immediate timeout.
function Driver:kick() self:sync() end

function Driver:close()
  if self.closed then return end
  for fd, h in pairs(self.polls) do self:_close_handle(h); self.polls[fd] = nil end
  if self.timer then self:_close_handle(self.timer); self.timer = nil end
  self.closed = true
end

return M
