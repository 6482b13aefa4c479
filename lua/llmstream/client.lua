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

--- Run api_key_cmd once; the key is cached until a 401 asks for a new one.
local function run_key_cmd(cmd)
  local p = io.popen(cmd, "r")
  local out = p and p:read("*a") or ""
  if p then p:close() end
  out = out:gsub("%s+$", "")
  if out == "" then error("(llmstream) api_key_cmd printed no key", 0) end
  check_header_value("the key from api_key_cmd", out)
  return out
end

function Client:_api_key()
  local k = keys[self]
  if k == nil and self.api_key_cmd then
    k = run_key_cmd(self.api_key_cmd)
    keys[self] = k
  end
  return k or nil
end

function Client:_forget_key()
  if self.api_key_cmd then keys[self] = nil end
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
