--- A conversation: history, cumulative usage, one reply streaming at a time.
--- History changes only when a reply completes: a cancelled or failed turn
--- takes the user's message back out (keep_partial commits the partial
--- reply instead, marked partial = true).
local cjson = require("cjson")
local request = require("llmstream.request")
local usage = require("llmstream.usage")

local M = {}

---@class llmstream.Message
---@field role "user"|"assistant"
---@field content string|table   text, or content blocks (tool_use, thinking)
---@field partial boolean?       a kept partial reply (keep_partial)

---@class llmstream.Chat
---@field client llmstream.Client
---@field system string?
---@field messages llmstream.Message[]
---@field usage table  cumulative input/output/cache tokens and cost_usd
---@field keep_partial boolean
local Chat = {}
Chat.__index = Chat

function M.new(opts, client_from_opts)
  if type(opts) ~= "table" then error("(llmstream) chat{} expects a table of options", 3) end
  local client = opts.client
  if client == nil then client = client_from_opts(opts) end
  if getmetatable(client) == nil or not client.provider_impl then
    error("(llmstream) chat{}: 'client' must be made by llmstream.client{}", 3)
  end
  if opts.system ~= nil and type(opts.system) ~= "string" then
    error("(llmstream) chat{}: 'system' must be a string", 3)
  end
  return setmetatable({
    client = client,
    system = opts.system,
    messages = opts.messages or {},
    usage = opts.usage or usage.new_total(),
    keep_partial = opts.keep_partial and true or false,
  }, Chat)
end

--- Send a user message and stream the reply.
---@param text string
---@param handlers {on_delta:fun(text:string)?, on_done:fun(reply:table)?, on_error:fun(err:table, partial:table)?, on_retry:fun(err:table, wait:number, attempt:integer)?}?
---@return llmstream.Request
function Chat:send(text, handlers)
  if type(text) ~= "string" or not text:find("%S") then
    error("(llmstream) send() needs a non-empty message", 2)
  end
  if self.pending then
    error("(llmstream) this chat is already streaming a reply: cancel it or wait for it first", 2)
  end
  handlers = handlers or {}
  local msg = { role = "user", content = text }
  self.messages[#self.messages + 1] = msg
  local req = request.new(self, handlers)
  req.user_message = msg
  self.pending = req
  self.last_text = text
  local ok, err = pcall(req._start, req)
  if not ok then -- nothing was sent: leave the history as it was
    self.pending = nil
    table.remove(self.messages)
    error(err, 2)
  end
  return req
end

--- Resend the message of the last turn that failed or was cancelled.
function Chat:retry(handlers)
  if not self.failed_text then error("(llmstream) nothing to retry", 2) end
  return self:send(self.failed_text, handlers)
end

--- The assistant message stored in history for a reply.
local function history_content(reply)
  for _, b in ipairs(reply.content) do
    if b.type ~= "text" then
      local blocks = {}
      for i, blk in ipairs(reply.content) do
        local c = { type = blk.type }
        for k, v in pairs(blk) do c[k] = v end
        blocks[i] = c
      end
      return blocks
    end
  end
  return reply.text
end

function Chat:_committed(req, reply)
  if self.pending == req then self.pending = nil end
  self.failed_text = nil
  self.messages[#self.messages + 1] = { role = "assistant", content = history_content(reply) }
  usage.add(self.usage, reply.usage)
end

function Chat:_rolled_back(req, partial)
  if self.pending == req then self.pending = nil end
  self.failed_text = req.user_message.content
  usage.add(self.usage, partial.usage) -- billed even if the reply failed
  if self.keep_partial and partial.text ~= "" then
    self.messages[#self.messages + 1] = { role = "assistant", content = partial.text, partial = true }
    return
  end
  for i = #self.messages, 1, -1 do
    if self.messages[i] == req.user_message then
      table.remove(self.messages, i)
      break
    end
  end
end

--- Cancel the reply streaming now, if any.
function Chat:cancel()
  return self.pending ~= nil and self.pending:cancel()
end

--- Forget the history (and the cumulative usage with `reset_usage`).
function Chat:clear(reset_usage)
  if self.pending then self.pending:cancel() end
  self.messages = {}
  self.failed_text = nil
  if reset_usage then self.usage = usage.new_total() end
end

--- Save history, system prompt, provider, model and usage as JSON. The
--- API key is never written.
function Chat:save(path)
  local data = cjson.encode({
    format = "llmstream-chat", version = 1,
    provider = self.client.provider, model = self.client.model, base_url = self.client.base_url,
    system = self.system, messages = self.messages, usage = self.usage,
  })
  local f, err = io.open(path, "wb")
  if not f then return nil, "(llmstream) cannot save the chat: " .. tostring(err) end
  f:write(data)
  f:close()
  return true
end

--- Load a saved chat. opts.client (or client options) overrides the saved
--- provider and model.
function M.load(path, opts, client_from_opts)
  local f, err = io.open(path, "rb")
  if not f then return nil, "(llmstream) cannot load the chat: " .. tostring(err) end
  local ok, data = pcall(cjson.decode, f:read("*a"))
  f:close()
  if not ok or type(data) ~= "table" or data.format ~= "llmstream-chat" then
    return nil, "(llmstream) " .. path .. " is not a saved llmstream chat"
  end
  opts = opts or {}
  local client = opts.client or client_from_opts({ provider = opts.provider or data.provider,
    model = opts.model or data.model, base_url = opts.base_url or data.base_url, api_key = opts.api_key })
  local u = usage.new_total()
  for k, v in pairs(type(data.usage) == "table" and data.usage or {}) do
    if v ~= cjson.null then u[k] = v end
  end
  return M.new({ client = client, system = data.system ~= cjson.null and data.system or nil,
    messages = type(data.messages) == "table" and data.messages or {}, usage = u,
    keep_partial = opts.keep_partial })
end

return M
