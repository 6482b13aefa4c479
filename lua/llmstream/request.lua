--- One reply being streamed: starts the transfer, feeds drained events to
--- the provider, classifies how it ended, retries what may be retried and
--- tells the chat to commit or roll back.
local core = require("llmstream.core")
local R = require("llmstream.runtime")
local C = require("llmstream.providers.common")
local usage = require("llmstream.usage")

local M = {}

---@class llmstream.Request
---@field state "running"|"done"|"failed"|"cancelled"
---@field reply table?   the reply once done
---@field err table?     the error once failed or cancelled
local Request = {}
Request.__index = Request

local RETRY_STATUS = { [408] = true, [409] = true, [429] = true, [500] = true, [502] = true,
  [503] = true, [504] = true, [529] = true }
local MAX_SERVER_WAIT = 60

--- Seconds the server asks us to wait: retry-after-ms, then retry-after
--- (seconds or an HTTP date). nil if it said nothing usable.
function M.retry_after(h)
  local ms = tonumber(h["retry-after-ms"] or "")
  if ms then return ms / 1000 end
  local ra = h["retry-after"]
  if not ra then return nil end
  local s = tonumber(ra)
  if s then return s end
  local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
    Oct = 10, Nov = 11, Dec = 12 }
  local d, mon, y, hh, mm, ss = ra:match("%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT")
  if not d or not months[mon] then return nil end
  local t = os.time({ year = tonumber(y), month = months[mon], day = tonumber(d), hour = tonumber(hh),
    min = tonumber(mm), sec = tonumber(ss) })
  local now = os.time(os.date("!*t")) -- both read as local time: the offset cancels
  return math.max(0, t - now)
end

function M.new(chat, handlers)
  local self = setmetatable({
    chat = chat,
    client = chat.client,
    provider = chat.client.provider_impl,
    on_delta = handlers.on_delta,
    on_done = handlers.on_done,
    on_error = handlers.on_error,
    on_retry = handlers.on_retry,
    state = "running",
    attempt = 0,
    delivered = false, -- a delta reached the user: never retried after that
    started_at = core.now(),
  }, Request)
  local on_delta = self.on_delta
  self.emit = function(text)
    if self.state ~= "running" then return end
    self.delivered = true
    if not self.first_delta_at then self.first_delta_at = core.now() end
    if on_delta then on_delta(text) end
  end
  return self
end

function Request:_start()
  local client, provider = self.client, self.provider
  self.st = provider.new_state()
  if R.uv and client:_needs_key() then -- run api_key_cmd without blocking the host's loop
    R.add(self)
    return client:_fetch_key(R.uv, function(key, err)
      if self.state ~= "running" then return end -- cancelled meanwhile
      if not key then return self:_fail(C.err("config", err, { type = "api_key_cmd" })) end
      R.remove(self)
      self:_start()
    end)
  end
  local url, headers, body = provider.request(client, self.chat.messages, self.chat.system, client:_api_key())
  self.t = R.multi():start({
    url = url, headers = headers, body = body,
    connect_timeout = client.connect_timeout,
    idle_timeout = client.idle_timeout,
    total_timeout = client.timeout,
    proxy = client.proxy, cainfo = client.cainfo, insecure = client.insecure,
    follow_redirects = client.follow_redirects,
  })
  self.attempt = self.attempt + 1
  R.add(self)
  R.kick()
end

-- Call a user callback; an error in it is reported, never propagated into
-- the loop that drives every other request.
local function call_user(name, fn, ...)
  if not fn then return end
  R.depth = R.depth + 1
  local ok, e = pcall(fn, ...)
  R.depth = R.depth - 1
  if not ok then
    io.stderr:write(("(llmstream) error in %s callback: %s\n"):format(name, tostring(e)))
  end
end

function Request:_partial()
  if self.provider.partial then self.provider.partial(self.st) end
  return self:_reply()
end

function Request:_reply()
  local reply = C.reply(self.st)
  local u = reply.usage
  if u then
    u.cost_usd = usage.cost(u, reply.model or self.client.model, self.client.price,
      self.provider.input_includes_cache)
  end
  reply.time_to_first_token = self.first_delta_at and (self.first_delta_at - self.started_at) or nil
  reply.duration = core.now() - self.started_at
  return reply
end

function Request:_close_transfer()
  if self.t then
    self.t:close()
    self.t = nil
  end
end

function Request:_fail(err)
  if self.state ~= "running" then return end
  self:_close_transfer()
  self.state = err.kind == "cancelled" and "cancelled" or "failed"
  if self.retry_timer then self.retry_timer.cancel(); self.retry_timer = nil end
  R.remove(self)
  local partial = self:_partial()
  self.err, self.partial = err, partial
  self.chat:_rolled_back(self, partial)
  call_user("on_error", self.on_error, err, partial)
end

function Request:_succeed()
  self:_close_transfer()
  self.state = "done"
  R.remove(self)
  local reply = self:_reply()
  self.reply = reply
  self.chat:_committed(self, reply)
  call_user("on_done", self.on_done, reply)
end

--- Retry if the policy allows; returns true when a retry was scheduled.
function Request:_maybe_retry(err)
  if self.delivered then return false end
  local client = self.client
  if err.status == 401 and client.api_key_cmd and not self.key_refreshed then
    self.key_refreshed = true -- one fresh key from the command, at once
    client:_forget_key()
    self:_close_transfer()
    R.remove(self)
    self:_start()
    return true
  end
  if self.attempt > client.max_retries then return false end
  local retryable = (err.kind == "http" and RETRY_STATUS[err.status]) or
    (err.kind == "network" and not self.got_status)
  if not retryable then return false end
  local wait = err.retry_after
  if wait and wait > MAX_SERVER_WAIT then return false end
  if not wait then -- exponential backoff with jitter: 0.5 s, 1 s, 2 s ... (x 0.5-1.0)
    wait = math.min(8, 0.5 * 2 ^ (self.attempt - 1)) * (0.5 + math.random() / 2)
  end
  self:_close_transfer()
  call_user("on_retry", self.on_retry, err, wait, self.attempt)
  if self.state ~= "running" then return true end -- cancelled from on_retry
  self.retry_timer = R.after(wait, function()
    self.retry_timer = nil
    if self.state == "running" then self:_start() end
  end)
  return true
end

-- The transfer ended: turn its result into success or an error.
function Request:_ended(kind, msg)
  local t, err = self.t, nil
  if kind == "ok" and t:info().sse then
    err = self.provider.finish(self.st)
    if not err then return self:_succeed() end
  elseif kind == "ok" or kind == "http" then
    local status, body = t:status(), t:body()
    local h = t:headers()
    if kind == "ok" then
      local e = C.http_error(status, body)
      if e.from_provider then -- a JSON error body with 200
        err = C.err("api", e.message, { type = e.type, code = e.code, status = status })
      else
        err = C.err("protocol", ("the server answered HTTP %d with %s, not an event stream")
          :format(status, h["content-type"] or "no content type"), { type = "not_event_stream", status = status })
      end
    else
      err = self.provider.http_error(status, body)
      err.retry_after = M.retry_after(h)
    end
  elseif kind == "network" then
    local status = t:status()
    self.got_status = status > 0
    err = C.err("network", status > 0 and ("connection lost mid-stream: " .. msg) or msg)
  elseif kind == "stalled" then
    err = C.err("timeout", ("no data from the server for %g s (idle_timeout)"):format(self.client.idle_timeout),
      { type = "idle_timeout" })
  elseif kind == "timeout" then
    err = C.err("timeout", msg)
  else -- protocol (bounds), or anything new
    err = C.err("protocol", msg or kind)
  end
  if self:_maybe_retry(err) then return end
  self:_fail(err)
end

--- Take what the transfer queued; called by the loop after every poll or
--- socket action.
function Request:_pump()
  local t = self.t
  if not t or self.state ~= "running" then return end
  local buf, n = t:drain(R.buf, self.provider.hot)
  if n > 0 then
    R.depth = R.depth + 1
    local ok, err = pcall(self.provider.on_events, self.st, buf, n, self.emit)
    R.depth = R.depth - 1
    if self.state ~= "running" then return end -- cancelled from on_delta
    if not ok then
      return self:_fail(C.err("callback", "(llmstream) error in on_delta callback: " .. tostring(err)))
    end
    if err then return self:_fail(err) end
  end
  local kind, msg = t:result()
  if kind then return self:_ended(kind, msg) end
end

--- Stop now: the connection is closed in this call, the partial reply is
--- dropped (or kept, with keep_partial) and on_error gets kind "cancelled".
--- Returns true if the request was running.
function Request:cancel()
  if self.state ~= "running" then return false end
  self:_fail(C.err("cancelled", "cancelled"))
  return true
end

--- Drive the loop until this request ends. Returns reply, or nil, err.
function Request:wait(timeout_s)
  local deadline = timeout_s and core.now() + timeout_s
  while self.state == "running" do
    if deadline and core.now() > deadline then return nil, { kind = "timeout", message = "wait() timed out" } end
    if R.uv then R.uv.run("once") else R.poll(100) end
  end
  if self.state == "done" then return self.reply end
  return nil, self.err
end

function Request:done() return self.state ~= "running" end

return M
