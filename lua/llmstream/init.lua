--- llmstream: streaming LLM chat for any Lua host.
---
---   local llm = require("llmstream")
---   local chat = llm.chat{ client = llm.client{ provider = "anthropic", model = "claude-haiku-4-5" } }
---   local req = chat:send("Write a haiku", { on_delta = io.write })
---   local reply, err = req:wait()
local M = {}

local client = require("llmstream.client")
local chat = require("llmstream.chat")
local R = require("llmstream.runtime")

M.usage = require("llmstream.usage")

--- A client: provider, model, key and transport options.
---@return llmstream.Client
function M.client(opts) return client.new(opts) end

--- A conversation. opts: client (or client options inline), system, keep_partial.
---@return llmstream.Chat
function M.chat(opts)
  return chat.new(opts, client.new)
end

--- Load a chat saved with chat:save(path).
function M.chat_load(path, opts) return chat.load(path, opts, client.new) end

--- Drive every running request once, waiting at most timeout_ms for
--- network activity. Returns how many requests are still running.
function M.poll(timeout_ms) return R.poll(timeout_ms) end

--- Drive the loop until no request runs (scripts).
function M.run()
  while R.poll(100) > 0 or next(R.timers) do end
end

--- Let a libuv loop (luv, vim.loop) drive the transfers through curl's
--- sockets and timer instead of llm.poll().
function M.use_loop(uv) R.use_loop(uv) end

--- Close the connections kept open for reuse, if no request runs.
function M.close_idle() return R.close_idle() end

--- Cancel every running request (host shutdown).
function M.cancel_all() R.cancel_all() end

--- How many requests run (including those waiting for a retry).
function M.running()
  local n = 0
  for _ in pairs(R.active) do n = n + 1 end
  return n
end

return M
