--- Client: provider, model, key and transport options, checked up front.
local M = {}

local anthropic = require("llmstream.providers.anthropic")
local openai = require("llmstream.providers.openai")

local PROVIDERS = { anthropic = anthropic, openai = openai }
for name, v in pairs(openai.variants) do
  PROVIDERS[name] = setmetatable(v, { __index = openai })
end
M.providers = PROVIDERS

-- option -> expected Lua type (all times in seconds)
local OPTIONS = {
  provider = "string", model = "string", api_key = "string", api_key_cmd = "string",
  base_url = "string", max_tokens = "number", temperature = "number", stop_sequences = "table",
  thinking = "table", connect_timeout = "number", idle_timeout = "number", timeout = "number",
  max_retries = "number", include_usage = "boolean", proxy = "string", cainfo = "string",
  insecure = "boolean", price = "table", follow_redirects = "boolean",
}

-- The API key lives here, keyed weakly by client, never in the client
-- table itself: printing or saving a client cannot show it.
local keys = setmetatable({}, { __mode = "k" })

---@class llmstream.Client
---@field provider string
---@field model string
---@field base_url string
local Client = {}
Client.__index = Client
Client.__tostring = function(c) return ("llmstream.client(%s, %s)"):format(c.provider, c.model) end

local function fail(msg) error("(llmstream) " .. msg, 4) end

local function check_header_value(name, v)
  if v:find("[\r\n%z]") then fail(name .. " contains CR, LF or NUL") end
end

-- What api_key_cmd printed, checked: the key, or nil and why not (with
-- the start of what it wrote to stderr, when it failed and that is known).
local function accept_key(out, status, errout)
  out = out:gsub("%s+$", "")
  if status and status ~= 0 then
    local why = (errout or ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""):sub(1, 200)
    return nil, ("api_key_cmd failed (exit status %d)%s"):format(status, why ~= "" and ": " .. why or "")
  end
  if out == "" then return nil, "api_key_cmd printed no key" end
  if out:find("[\r\n%z]") then return nil, "the key from api_key_cmd contains CR, LF or NUL" end
  return out
end

--- The key, running api_key_cmd once if needed (blocking: scripts). The
--- key is cached until a 401 asks for a new one.
function Client:_api_key()
  local k = keys[self]
  if k == nil and self.api_key_cmd then
    local p = io.popen(self.api_key_cmd, "r")
    local out = p and p:read("*a") or ""
    local status, err
    if p then status = select(3, p:close()) end -- Lua 5.4 gives the exit status; LuaJIT may not
    k, err = accept_key(out, status)
    if not k then error("(llmstream) " .. err, 0) end
    keys[self] = k
  end
  return k or nil
end

function Client:_forget_key()
  if self.api_key_cmd then keys[self] = nil end
end

--- True when a request must run api_key_cmd before it can start.
function Client:_needs_key() return keys[self] == nil and self.api_key_cmd ~= nil end

-- client -> callbacks waiting for the command that is running for it
local fetching = setmetatable({}, { __mode = "k" })

--- Run api_key_cmd on a libuv loop without blocking it (Neovim), then
--- cb(key) or cb(nil, message). Requests that ask meanwhile share one run.
function Client:_fetch_key(uv, cb)
  if fetching[self] then table.insert(fetching[self], cb) return end
  local waiting = { cb }
  fetching[self] = waiting
  local pipes, out, status, open = { uv.new_pipe(false), uv.new_pipe(false) }, { {}, {} }, nil, 2
  local function finish()
    if status == nil or open > 0 then return end
    fetching[self] = nil
    local key, err = accept_key(table.concat(out[1]), status, table.concat(out[2]))
    keys[self] = key
    for _, f in ipairs(waiting) do f(key, err) end
  end
  local proc, perr
  proc, perr = uv.spawn("/bin/sh", { args = { "-c", self.api_key_cmd }, stdio = { nil, pipes[1], pipes[2] } },
    function(code)
      proc:close()
      status = code
      finish()
    end)
  if not proc then
    pipes[1]:close(); pipes[2]:close()
    fetching[self] = nil
    for _, f in ipairs(waiting) do f(nil, "api_key_cmd could not start: " .. tostring(perr)) end
    return
  end
  for i, pipe in ipairs(pipes) do
    pipe:read_start(function(_, data)
      if data then table.insert(out[i], data) return end
      pipe:close()
      open = open - 1
      finish()
    end)
  end
end

function M.new(opts)
  if type(opts) ~= "table" then fail("client{} expects a table of options") end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then fail(("unknown client option '%s'"):format(tostring(k))) end
    if type(v) ~= want then fail(("client option '%s' must be a %s, got %s"):format(k, want, type(v))) end
  end
  local pname = opts.provider or "anthropic"
  local impl = PROVIDERS[pname]
  if not impl then
    fail(("unknown provider '%s' (anthropic, openai, groq or openai-compatible)"):format(pname))
  end
  if not opts.model or opts.model == "" then fail("client{}: 'model' is required") end
  local c = setmetatable({
    provider = pname,
    provider_impl = impl,
    model = opts.model,
    base_url = (opts.base_url or impl.base_url):gsub("/+$", ""),
    max_tokens = opts.max_tokens or 1024,
    temperature = opts.temperature,
    stop_sequences = opts.stop_sequences,
    thinking = opts.thinking,
    connect_timeout = opts.connect_timeout or 10,
    idle_timeout = opts.idle_timeout or 60,
    timeout = opts.timeout,
    max_retries = opts.max_retries or 2,
    include_usage = opts.include_usage ~= false,
    proxy = opts.proxy,
    cainfo = opts.cainfo,
    insecure = opts.insecure or false,
    follow_redirects = opts.follow_redirects or false,
    price = opts.price,
    api_key_cmd = opts.api_key_cmd,
  }, Client)
  check_header_value("base_url", c.base_url)
  check_header_value("model", c.model)
  if not c.base_url:match("^https?://") then fail("base_url must start with http:// or https://") end
  local key = opts.api_key or (impl.key_env and os.getenv(impl.key_env))
  if key == "" then key = nil end
  if key then check_header_value("api_key", key) end
  if not key and not c.api_key_cmd and not impl.key_optional then
    fail(("no API key for %s: set %s, or pass api_key or api_key_cmd"):format(pname, impl.key_env))
  end
  keys[c] = key
  if c.insecure then
    io.stderr:write("(llmstream) WARNING: TLS certificate verification is OFF for " .. c.base_url
      .. " (insecure = true). Anyone on the network path can read and change this traffic.\n")
  end
  return c
end

return M
