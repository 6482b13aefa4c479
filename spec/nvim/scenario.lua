-- Runs inside headless Neovim (see spec/nvim_spec.lua): one scenario
-- named by $LLMSTREAM_SCENARIO, against $LLMSTREAM_BASE; observations
-- are written as JSON to $LLMSTREAM_RESULT, then Neovim quits.
local api = vim.api
local out = {}
local base = os.getenv("LLMSTREAM_BASE")
local nv = require("llmstream.nvim")

local function wait(cond, ms) return vim.wait(ms or 10000, cond, 5) end
local function text(buf) return table.concat(api.nvim_buf_get_lines(buf or 0, 0, -1, false), "\n") end
local function setup(opts)
  nv.setup({ provider = "anthropic", model = "claude-haiku-4-5", base_url = base .. "/" .. opts,
    client = { api_key = "sk-nvim-test-key" } })
end
local function send(msg)
  api.nvim_buf_set_lines(0, -2, -1, false, { msg })
  vim.cmd("LLMSend")
end
local function done(S) return S.req and S.req:done() end

local scenarios = {}

function scenarios.stream()
  setup("f=anthropic_long,blk=8192,rate=40") -- ~70 deltas a write, 29 writes over 0.7 s
  vim.cmd("LLMChat")
  local buf = api.nvim_get_current_buf()
  -- count the writes into the buffer as Neovim sees them, apart from our own counter
  -- (writes while the reply is still streaming: none if it all came in one go)
  local grew, S = 0, nil
  api.nvim_buf_attach(buf, false, { on_lines = function()
    if S and S.req and not S.req:done() then grew = grew + 1 end
  end })
  send("tell me a long story")
  S = nv.state(buf)
  wait(function() return done(S) end, 20000)
  wait(function() return text(buf):find("## You\n\n$") ~= nil end, 2000)
  out.updates, out.deltas, out.state = S.updates, S.deltas, S.req.state
  out.grew = grew
  out.messages = #S.chat.messages
  out.reply_in_buffer = text(buf):find(S.req.reply.text, 1, true) ~= nil
  out.reply_len = #S.req.reply.text
  out.usage_virt = (function()
    local marks = api.nvim_buf_get_extmarks(buf, nv._H.ns, 0, -1, { details = true })
    for _, m in ipairs(marks) do
      local vt = m[4].virt_text
      if vt and vt[1][1]:find("in %d+ · out %d+") then return vt[1][1] end
    end
  end)()
  wait(function() return nv.open_handles() == 0 end, 2000)
  out.handles = nv.open_handles()
end

function scenarios.cancel()
  setup("f=anthropic_long,rate=100")
  vim.cmd("LLMChat")
  local buf = api.nvim_get_current_buf()
  send("go")
  local S = nv.state(buf)
  wait(function() return S.deltas >= 5 end)
  vim.cmd("LLMCancel")
  wait(function() return text(buf):find("%[cancelled%]") ~= nil end, 2000)
  out.text = text(buf)
  out.messages = #S.chat.messages
  out.state = S.req.state
  wait(function() return nv.open_handles() == 0 end, 2000)
  out.handles = nv.open_handles()
end

function scenarios.drop()
  setup("f=anthropic_text_short,drop=1000,first=1,t=" .. os.time())
  vim.cmd("LLMChat")
  local buf = api.nvim_get_current_buf()
  local notes = {}
  local orig = vim.notify
  vim.notify = function(msg, level) notes[#notes + 1] = { msg, level } end
  send("hi")
  local S = nv.state(buf)
  wait(function() return done(S) end)
  wait(function() return text(buf):find("## You\n\n$") ~= nil end, 2000)
  out.after_drop = text(buf)
  out.messages_after_drop = #S.chat.messages
  out.notified = notes[1] and notes[1][1] or nil
  vim.notify = orig
  vim.cmd("LLMRetry")
  wait(function() return done(S) and S.req.state ~= "running" end)
  wait(function() return text(buf):find("## You\n\n$") ~= nil end, 2000)
  out.after_retry = text(buf)
  out.messages_after_retry = #S.chat.messages
  out.state = S.req.state
end

function scenarios.two()
  setup("f=anthropic_text_short,rate=40")
  vim.cmd("LLMChat")
  local a = api.nvim_get_current_buf()
  send("one")
  vim.cmd("LLMChat new")
  local b = api.nvim_get_current_buf()
  send("two")
  local A, B = nv.state(a), nv.state(b)
  local both = false
  wait(function()
    if not done(A) and not done(B) then both = true end
    return done(A) and done(B)
  end)
  out.both_streaming_at_once = both
  out.distinct = a ~= b
  out.a_messages, out.b_messages = #A.chat.messages, #B.chat.messages
  out.a_state, out.b_state = A.req.state, B.req.state
end

function scenarios.range()
  setup("f=anthropic_text_short")
  vim.cmd("enew")
  api.nvim_buf_set_lines(0, 0, -1, false, { "local x = 1", "print(x)", "return x" })
  vim.bo.filetype = "lua"
  vim.cmd("1,2LLMChat")
  out.text = text(0)
  out.is_chat = nv.state() ~= nil
end

function scenarios.health()
  vim.cmd("checkhealth llmstream")
  out.text = text(0)
end

function scenarios.help()
  vim.cmd("helptags " .. vim.fn.fnameescape(os.getenv("LLMSTREAM_ROOT") .. "/doc"))
  vim.cmd("help llmstream")
  out.ft = vim.bo.filetype
  out.first = api.nvim_buf_get_lines(0, 0, 1, false)[1]
  local ok = pcall(vim.cmd, "help :LLMChat")
  out.cmd_tag = ok
end

function scenarios.leave()
  setup("f=anthropic_long,rate=100")
  vim.cmd("LLMChat")
  send("go")
  local S = nv.state()
  wait(function() return S.deltas >= 3 end)
  out.before = S.req.state
  -- what VimLeavePre runs
  vim.cmd("doautocmd VimLeavePre")
  out.after = S.req.state
end

local function row_of(buf, line)
  for i, l in ipairs(api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l == line then return i end
  end
end

-- Send and wait until the reply is written and a new "## You" is open.
local function send_and_wait(msg)
  send(msg)
  local S = nv.state()
  wait(function() return done(S) end)
  wait(function() return text(0):find("## You\n\n$") ~= nil end, 2000)
  return S
end

function scenarios.blocks()
  setup("f=anthropic_thinking_text")
  vim.cmd("LLMChat")
  local S = send_and_wait("minutes in a week?")
  out.state = S.req.state
  out.thinking_text = text(0)
  local row = row_of(0, "> thinking")
  out.thinking_folded = row ~= nil and vim.fn.foldclosed(row) == row and vim.fn.foldclosedend(row) > row
  local saved = os.tmpname()
  vim.cmd("LLMSave " .. saved)
  vim.cmd("LLMLoad " .. saved)
  os.remove(saved)
  out.loaded_is_new = api.nvim_get_current_buf() ~= S.buf
  out.loaded_text = text(0)
  row = row_of(0, "> thinking")
  out.loaded_folded = row ~= nil and vim.fn.foldclosed(row) == row

  setup("f=anthropic_tool_use")
  vim.cmd("LLMChat new")
  S = send_and_wait("weather in Lyon?")
  out.tool_text = text(0)
  out.tool_messages = #S.chat.messages
end

function scenarios.keycmd()
  local mark = os.tmpname()
  os.remove(mark)
  nv.setup({ provider = "anthropic", model = "claude-haiku-4-5", base_url = base .. "/f=anthropic_text_short",
    client = { api_key_cmd = "sleep 0.3; echo ran > " .. mark .. "; echo sk-from-cmd" } })
  vim.cmd("LLMChat")
  send("hi")
  local S = nv.state()
  out.ran_before_send_returned = vim.loop.fs_stat(mark) ~= nil
  out.state_after_send = S.req.state
  wait(function() return done(S) end)
  out.state = S.req.state
  out.ran = vim.loop.fs_stat(mark) ~= nil
  os.remove(mark)
end

local name = os.getenv("LLMSTREAM_SCENARIO")
local ok, err = pcall(scenarios[name])
if not ok then out.error = tostring(err) end
local f = io.open(os.getenv("LLMSTREAM_RESULT"), "w")
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd("qa!")
