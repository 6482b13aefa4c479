--- Neovim adapter: chat buffers that fill token by token.
---
--- Loop: transfers are driven by vim.loop watching curl's sockets and
--- timer (llmstream.luv); no timer polls on a clock. Deltas arrive inside
--- libuv callbacks (a fast event), so they are queued and written by one
--- vim.schedule'd flush per loop tick: one nvim_buf_set_text per tick.
--- Replies are written at an extmark (right gravity) at the end of the
--- assistant section, so the user can move, scroll and type elsewhere.
local M, H = {}, {}

local uv = vim.loop
local api = vim.api

---@class llmstream.NvimConfig
---@field provider string?
---@field model string?
---@field base_url string?
---@field system string?
---@field client table?       extra llm.client{} options
---@field keymaps table       send_normal, send_insert, cancel (false disables one)
---@field ui table            split: "vertical"|"horizontal"|"current"
M.config = {
  provider = nil, model = nil, base_url = nil, system = nil, client = {},
  keymaps = { send_normal = "<CR>", send_insert = "<C-s>", cancel = "<C-c>" },
  ui = { split = "vertical", width = nil },
}

H.ns = api.nvim_create_namespace("llmstream")
H.chats = {} -- bufnr -> chat state
H.count = 0
H.SPINNER = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }
H.DEFAULT_MODELS = { anthropic = "claude-sonnet-4-5", openai = "gpt-4o", groq = "llama-3.3-70b-versatile",
  ["openai-compatible"] = "default" }
H.KEY_ENV = { { "anthropic", "ANTHROPIC_API_KEY" }, { "openai", "OPENAI_API_KEY" }, { "groq", "GROQ_API_KEY" } }

local function notify(msg, level) vim.notify("llmstream: " .. msg, level or vim.log.levels.INFO) end

--- Configure (optional: everything has a default).
function M.setup(opts)
  opts = opts or {}
  vim.validate({ opts = { opts, "table" } })
  for _, k in ipairs({ "provider", "model", "base_url", "system" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then error("(llmstream) setup: '" .. k .. "' must be a string") end
  end
  M.config = vim.tbl_deep_extend("force", M.config, opts)
end

-- ------------------------------------------------------------------ loop

function H.llm()
  local llm = require("llmstream")
  if not H.loop_ready then
    llm.use_loop(uv)
    H.loop_ready = true
  end
  return llm
end

--- Handles of ours that are open now (the socket driver's polls and timer).
function M.open_handles()
  local R = require("llmstream.runtime")
  return R.driver and R.driver.handles or 0
end

-- ------------------------------------------------------------------ client

function H.root()
  local src = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(src, ":p:h:h:h")
end

function H.start_demo()
  if H.demo_url then return H.demo_url end
  local bin = os.getenv("LLMSTREAM_DEMO_SERVER") or (H.root() .. "/build/llmstream-testserver")
  if vim.fn.executable(bin) ~= 1 then return nil end
  local pipe = io.popen(("%q --max-seconds 86400"):format(bin), "r")
  local line = pipe and pipe:read("*l") or ""
  local port, pid = line:match("^PORT (%d+) PID (%d+)")
  if not port then return nil end
  H.demo_pid, H.demo_pipe = tonumber(pid), pipe
  H.demo_url = "http://127.0.0.1:" .. port
  return H.demo_url
end

function H.stop_demo()
  if H.demo_pid then
    uv.kill(H.demo_pid, "sigterm")
    H.demo_pipe:close()
    H.demo_pid, H.demo_pipe, H.demo_url = nil, nil, nil
  end
end

--- A client from the config; the demo server when no key is set.
function H.make_client()
  local cfg, llm = M.config, H.llm()
  local provider = cfg.provider
  if not provider then
    for _, pk in ipairs(H.KEY_ENV) do
      if (os.getenv(pk[2]) or "") ~= "" then provider = pk[1] break end
    end
  end
  local opts = vim.tbl_extend("force", {}, cfg.client or {})
  opts.provider = provider or "anthropic"
  opts.model = cfg.model or opts.model
  opts.base_url = cfg.base_url or opts.base_url
  local demo = false
  if not provider and not opts.base_url and not opts.api_key and not opts.api_key_cmd then
    local url = H.start_demo()
    if not url then
      error("(llmstream) no API key is set (ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY) "
        .. "and the demo server is not built: run `make nvim` in the plugin directory", 0)
    end
    opts.base_url, opts.api_key, opts.model, demo = url, "demo", "demo", true
  end
  opts.model = opts.model or H.DEFAULT_MODELS[opts.provider]
  return llm.client(opts), demo
end

-- ------------------------------------------------------------------ buffers

function H.lines(buf) return api.nvim_buf_get_lines(buf, 0, -1, false) end

--- A buffer argument: nil or 0 is the current buffer.
function H.bufnr(buf) return (buf == nil or buf == 0) and api.nvim_get_current_buf() or buf end

--- Append text (may hold newlines) at the end of the buffer.
function H.append(buf, text)
  local n = api.nvim_buf_line_count(buf)
  local last = api.nvim_buf_get_lines(buf, n - 1, n, false)[1] or ""
  api.nvim_buf_set_text(buf, n - 1, #last, n - 1, #last, vim.split(text, "\n", { plain = true }))
end

function H.header_line(buf, header)
  local lines = H.lines(buf)
  for i = #lines, 1, -1 do
    if lines[i] == header then return i - 1, lines end
  end
  return nil, lines
end

function H.new_buffer()
  H.count = H.count + 1
  local buf = api.nvim_create_buf(true, true)
  api.nvim_buf_set_name(buf, "llmstream://chat/" .. H.count)
  api.nvim_buf_set_option(buf, "filetype", "markdown")
  api.nvim_buf_set_option(buf, "bufhidden", "hide")
  api.nvim_buf_set_option(buf, "swapfile", false)
  return buf
end

function H.show(buf)
  for _, w in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(w) == buf then
      api.nvim_set_current_win(w)
      return w
    end
  end
  local split = M.config.ui.split
  if split == "vertical" then vim.cmd("vsplit") elseif split == "horizontal" then vim.cmd("split") end
  local w = api.nvim_get_current_win()
  api.nvim_win_set_buf(w, buf)
  api.nvim_win_set_option(w, "wrap", true)
  api.nvim_win_set_option(w, "linebreak", true)
  return w
end

function H.set_keymaps(buf)
  local km = M.config.keymaps
  local o = { buffer = buf, silent = true }
  if km.send_normal then vim.keymap.set("n", km.send_normal, function() M.send(buf) end, o) end
  if km.send_insert then
    vim.keymap.set("i", km.send_insert, function() vim.cmd("stopinsert"); M.send(buf) end, o)
  end
  if km.cancel then vim.keymap.set({ "n", "i" }, km.cancel, function() M.cancel(buf) end, o) end
end

--- Render a chat's history into its buffer (shown in a window: thinking
--- blocks are folded there).
function H.render(S)
  local out, folds = {}, {}
  for _, m in ipairs(S.chat.messages) do
    out[#out + 1] = m.role == "user" and "## You" or "## Assistant"
    out[#out + 1] = ""
    local lines, fl
    if type(m.content) == "string" then
      lines, fl = vim.split(m.content, "\n", { plain = true }), {}
    else
      lines, fl = H.blocks_lines(m.content)
    end
    for _, f in ipairs(fl) do folds[#folds + 1] = { #out + f[1], #out + f[2] } end
    vim.list_extend(out, lines)
    out[#out + 1] = ""
  end
  out[#out + 1] = "## You"
  out[#out + 1] = ""
  out[#out + 1] = ""
  api.nvim_buf_set_lines(S.buf, 0, -1, false, out)
  for _, f in ipairs(folds) do H.fold(S.buf, f[1], f[2]) end
end

--- Fold rows first..last (0-based) in every window showing buf.
function H.fold(buf, first, last)
  for _, w in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(w) == buf then
      api.nvim_win_call(w, function()
        vim.wo.foldmethod = "manual"
        vim.cmd(("%d,%dfold"):format(first + 1, last + 1))
      end)
    end
  end
end

--- A thinking block as quoted lines under "> thinking".
function H.thinking_lines(b)
  local lines = { "> thinking" }
  for _, l in ipairs(vim.split(b.thinking, "\n", { plain = true })) do lines[#lines + 1] = "> " .. l end
  return lines
end

--- Content blocks as buffer lines, a blank line between blocks, and the
--- rows (0-based, first..last) of each thinking block, to fold.
function H.blocks_lines(blocks)
  local lines, folds = {}, {}
  for _, b in ipairs(blocks) do
    local part
    if b.type == "text" then part = vim.split(b.text, "\n", { plain = true })
    elseif b.type == "thinking" and (b.thinking or "") ~= "" then part = H.thinking_lines(b)
    elseif b.type == "tool_use" then
      local json = require("cjson").encode({ tool = b.name, input = b.input })
      part = { "```json", json, "```" }
    end
    if part then
      if #lines > 0 then lines[#lines + 1] = "" end
      if b.type == "thinking" then folds[#folds + 1] = { #lines, #lines + #part - 1 } end
      vim.list_extend(lines, part)
    end
  end
  return lines, folds
end

--- Open (or focus) a chat buffer. opts.new: always a new one; opts.lines:
--- lines to put into the user section as a fenced block (opts.filetype).
function M.open(opts)
  opts = opts or {}
  local S
  if not opts.new then
    local cur = H.chats[api.nvim_get_current_buf()]
    S = cur
    if not S then
      for _, s in pairs(H.chats) do if api.nvim_buf_is_valid(s.buf) then S = s break end end
    end
  end
  if not S then
    local ok, client, demo = pcall(H.make_client)
    if not ok then notify(tostring(client), vim.log.levels.ERROR) return nil end
    local buf = H.new_buffer()
    S = { buf = buf, chat = H.llm().chat({ client = client, system = M.config.system }), demo = demo }
    H.chats[buf] = S
    H.set_keymaps(buf)
    api.nvim_create_autocmd("BufWipeout", { buffer = buf, callback = function()
      if S.req then S.req:cancel() end
      H.chats[buf] = nil
    end })
    local intro = {}
    if demo then
      intro = { "> llmstream offline demo: no API key is set, so replies come from a local demo server.",
        "> Set ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY for a real model.", "" }
    end
    vim.list_extend(intro, { "## You", "", "" })
    api.nvim_buf_set_lines(buf, 0, -1, false, intro)
  end
  local win = H.show(S.buf)
  if opts.lines and #opts.lines > 0 then
    local fence = { "```" .. (opts.filetype or "") }
    vim.list_extend(fence, opts.lines)
    fence[#fence + 1] = "```"
    fence[#fence + 1] = ""
    local n = api.nvim_buf_line_count(S.buf)
    local last = api.nvim_buf_get_lines(S.buf, n - 1, n, false)[1]
    api.nvim_buf_set_lines(S.buf, last == "" and n - 1 or n, n, false, fence)
  end
  api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(S.buf), 0 })
  return S.buf
end

-- ------------------------------------------------------------------ streaming

--- Windows whose cursor is on the last line follow the end.
function H.followers(buf)
  local n, out = api.nvim_buf_line_count(buf), {}
  for _, w in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(w) == buf and api.nvim_win_get_cursor(w)[1] >= n then out[#out + 1] = w end
  end
  return out
end

function H.follow(buf, wins)
  local n = api.nvim_buf_line_count(buf)
  for _, w in ipairs(wins) do
    if api.nvim_win_is_valid(w) then api.nvim_win_set_cursor(w, { n, 0 }) end
  end
end

--- Insert text at the reply mark.
function H.insert_at_mark(S, text)
  local pos = api.nvim_buf_get_extmark_by_id(S.buf, H.ns, S.mark, {})
  local row, col = pos[1], pos[2]
  api.nvim_buf_set_text(S.buf, row, col, row, col, vim.split(text, "\n", { plain = true }))
end

function H.status(S, chunks)
  if not api.nvim_buf_is_valid(S.buf) then return end
  local row = api.nvim_buf_get_extmark_by_id(S.buf, H.ns, S.header_mark, {})[1]
  S.header_mark = api.nvim_buf_set_extmark(S.buf, H.ns, row, 0, { id = S.header_mark, virt_text = chunks,
    virt_text_pos = "eol" })
end

--- Write what arrived since the last tick: one buffer update.
function H.flush(S)
  S.scheduled = false
  if not api.nvim_buf_is_valid(S.buf) or #S.pending == 0 then return end
  local text = table.concat(S.pending)
  S.pending = {}
  local wins = H.followers(S.buf)
  H.insert_at_mark(S, text)
  S.updates = S.updates + 1
  H.follow(S.buf, wins)
  S.spin = S.spin % #H.SPINNER + 1
  H.status(S, { { H.SPINNER[S.spin] .. " " .. S.deltas .. " tokens", "Comment" } })
end

--- Send the text under the last "## You" header.
function M.send(buf)
  buf = H.bufnr(buf)
  local S = H.chats[buf]
  if not S then return notify("not a chat buffer (open one with :LLMChat)", vim.log.levels.WARN) end
  if S.req and not S.req:done() then return notify("a reply is still streaming (:LLMCancel)", vim.log.levels.WARN) end
  local row, lines = H.header_line(buf, "## You")
  if not row then return notify("no '## You' section to send", vim.log.levels.WARN) end
  local text = vim.trim(table.concat(vim.list_slice(lines, row + 2), "\n"))
  if text == "" then return notify("write your message under '## You' first", vim.log.levels.WARN) end
  H.stream(S, text)
end

--- Resend the last message that failed or was cancelled.
function M.retry(buf)
  buf = H.bufnr(buf)
  local S = H.chats[buf]
  if not S or not S.chat.failed_text then return notify("nothing to retry", vim.log.levels.WARN) end
  -- drop the empty "## You" section left after the failure
  local row, lines = H.header_line(buf, "## You")
  if row and vim.trim(table.concat(vim.list_slice(lines, row + 2), "\n")) == "" then
    api.nvim_buf_set_lines(buf, row, -1, false, {})
  end
  H.stream(S, S.chat.failed_text, true)
end

function H.stream(S, text, is_retry)
  local buf = S.buf
  local wins = H.followers(buf)
  H.append(buf, (is_retry and "" or "\n") .. "\n## Assistant\n\n")
  local n = api.nvim_buf_line_count(buf)
  S.header_mark = api.nvim_buf_set_extmark(buf, H.ns, n - 3, 0, {})
  S.mark = api.nvim_buf_set_extmark(buf, H.ns, n - 1, 0, { right_gravity = true })
  S.pending, S.deltas, S.updates, S.spin, S.scheduled = {}, 0, 0, 0, false
  H.follow(buf, wins)
  H.status(S, { { H.SPINNER[1] .. " waiting for the model…", "Comment" } })
  local ok, req = pcall(S.chat.send, S.chat, text, {
    on_delta = function(t) -- fast event: queue, one flush per tick
      S.pending[#S.pending + 1] = t
      S.deltas = S.deltas + 1
      if not S.scheduled then
        S.scheduled = true
        vim.schedule(function() H.flush(S) end)
      end
    end,
    on_done = function(reply) vim.schedule(function() H.finish(S, reply, nil) end) end,
    on_error = function(err, partial) vim.schedule(function() H.finish(S, partial, err) end) end,
  })
  if not ok then
    H.finish(S, { text = "", content = {} }, { kind = "config", message = tostring(req) })
    return
  end
  S.req = req
end

function H.finish(S, reply, err)
  if not api.nvim_buf_is_valid(S.buf) then return end
  H.flush(S)
  local buf, wins = S.buf, H.followers(S.buf)
  local usage = require("llmstream.usage")
  if not err then
    for _, b in ipairs(reply.content or {}) do
      if b.type == "tool_use" then H.insert_at_mark(S, "\n\n" .. table.concat(H.blocks_lines({ b }), "\n")) end
    end
    H.render_thinking(S, reply)
    H.status(S, { { usage.format(reply.usage), "Comment" } })
  elseif err.kind == "cancelled" then
    H.insert_at_mark(S, (reply.text ~= "" and "\n" or "") .. "[cancelled]")
    H.status(S, { { "cancelled · :LLMRetry resends", "WarningMsg" } })
  else
    local row = api.nvim_buf_get_extmark_by_id(buf, H.ns, S.mark, {})[1]
    H.insert_at_mark(S, (reply.text ~= "" and "\n\n" or "") .. "Error: " .. err.message)
    local last = api.nvim_buf_get_extmark_by_id(buf, H.ns, S.mark, {})[1]
    for r = (reply.text ~= "" and row + 2 or row), last do
      api.nvim_buf_add_highlight(buf, H.ns, "ErrorMsg", r, 0, -1)
    end
    H.status(S, { { "failed · :LLMRetry resends", "ErrorMsg" } })
    notify(err.message, vim.log.levels.ERROR)
  end
  H.append(buf, "\n\n## You\n\n")
  H.follow(buf, wins)
  S.last_err = err
end

--- Thinking blocks go above the reply text, folded.
function H.render_thinking(S, reply)
  local lines = {}
  for _, b in ipairs(reply.content or {}) do
    if b.type == "thinking" and b.thinking ~= "" then vim.list_extend(lines, H.thinking_lines(b)) end
  end
  if #lines == 0 then return end
  local row = api.nvim_buf_get_extmark_by_id(S.buf, H.ns, S.header_mark, {})[1] + 2
  lines[#lines + 1] = ""
  api.nvim_buf_set_lines(S.buf, row, row, false, lines)
  H.fold(S.buf, row, row + #lines - 2)
end

--- Cancel the reply streaming in this buffer.
function M.cancel(buf)
  buf = H.bufnr(buf)
  local S = H.chats[buf]
  if S and S.req and S.req:cancel() then return true end
  return false
end

function M.save(file, buf)
  local S = H.chats[H.bufnr(buf)]
  if not S then return notify("not a chat buffer", vim.log.levels.WARN) end
  local ok, err = S.chat:save(vim.fn.expand(file))
  notify(ok and ("saved to " .. file) or err, ok and vim.log.levels.INFO or vim.log.levels.ERROR)
end

function M.load(file)
  local ok, client, demo = pcall(H.make_client)
  if not ok then return notify(tostring(client), vim.log.levels.ERROR) end
  local chat, err = H.llm().chat_load(vim.fn.expand(file), { client = client })
  if not chat then return notify(err, vim.log.levels.ERROR) end
  local buf = H.new_buffer()
  local S = { buf = buf, chat = chat, demo = demo }
  H.chats[buf] = S
  H.set_keymaps(buf)
  local win = H.show(buf)
  H.render(S)
  api.nvim_win_set_cursor(win, { api.nvim_buf_line_count(buf), 0 })
  return buf
end

--- The chat state of a buffer (for scripts and specs).
function M.state(buf) return H.chats[H.bufnr(buf)] end

--- :LLMChat [new] with an optional range.
function M.command(opts)
  local lines, ft
  if opts.range and opts.range > 0 then
    lines = api.nvim_buf_get_lines(0, opts.line1 - 1, opts.line2, false)
    ft = vim.bo.filetype
  end
  return M.open({ new = opts.args == "new", lines = lines, filetype = ft })
end

--- VimLeavePre: cancel every running transfer, stop the demo server.
function M.shutdown()
  if package.loaded["llmstream"] then require("llmstream").cancel_all() end
  H.stop_demo()
end

M._H = H
return M
