--- The terminal chat behind bin/llmstream: a REPL that streams each reply
--- as it arrives, Ctrl+C cancels the reply (the core catches SIGINT as a
--- flag: Lua has no signals), and one-shot mode for scripts.
local core = require("llmstream.core")
local llm = require("llmstream")
local usage = require("llmstream.usage")

local M, H = {}, {}

local VERSION = core._VERSION
local SPINNER = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }
local DEFAULT_MODELS = { anthropic = "claude-haiku-4-5", openai = "gpt-4o-mini",
  groq = "llama-3.3-70b-versatile", ["openai-compatible"] = "default" }
local KEY_ENV = { { "anthropic", "ANTHROPIC_API_KEY" }, { "openai", "OPENAI_API_KEY" }, { "groq", "GROQ_API_KEY" } }

local USAGE = [[
usage: llmstream [options]              chat in the terminal
       llmstream -p PROMPT [options]    one reply to stdout (or the prompt on stdin)

options:
  --provider NAME    anthropic, openai, groq or openai-compatible
  --model NAME       model id (default per provider)
  --base-url URL     API base URL (a local server, a proxy)
  --system TEXT      system prompt
  --max-tokens N     reply length limit (default 1024)
  --keep-partial     keep a cancelled or failed partial reply in the history
  --no-color         no colors or spinner (also: NO_COLOR, or stdout not a terminal)
  -p, --prompt TEXT  one-shot mode
  --version, --help

Keys: ANTHROPIC_API_KEY, OPENAI_API_KEY, GROQ_API_KEY. With none set and no
--base-url, replies come from the bundled offline demo server.]]

local HELP = [[
/retry          resend the last message that failed or was cancelled
/clear          forget the conversation
/history        show the conversation
/usage          tokens and cost so far
/save FILE      save the conversation as JSON (never the key)
/load FILE      load a saved conversation
/model NAME     switch model
/system TEXT    set the system prompt
/help           this list
/quit           leave (also Ctrl+D, or Ctrl+C at the prompt)
Ctrl+C while a reply streams cancels it.]]

-- ---------------------------------------------------------------- output

function H.style(S, code, s)
  if not S.color then return s end
  return "\27[" .. code .. "m" .. s .. "\27[0m"
end
function H.dim(S, s) return H.style(S, "2", s) end
function H.red(S, s) return H.style(S, "31", s) end
function H.yellow(S, s) return H.style(S, "33", s) end
function H.bold(S, s) return H.style(S, "1;36", s) end

function H.out(s)
  io.stdout:write(s)
  io.stdout:flush()
end

-- ---------------------------------------------------------------- args

function H.parse_args(argv)
  local o, i = {}, 1
  local function value(flag)
    i = i + 1
    if argv[i] == nil then error("llmstream: " .. flag .. " needs a value", 0) end
    return argv[i]
  end
  while argv[i] ~= nil do
    local a = argv[i]
    if a == "--provider" then o.provider = value(a)
    elseif a == "--model" then o.model = value(a)
    elseif a == "--base-url" then o.base_url = value(a)
    elseif a == "--system" then o.system = value(a)
    elseif a == "--max-tokens" then
      o.max_tokens = tonumber(value(a))
      if not o.max_tokens then error("llmstream: --max-tokens needs a number", 0) end
    elseif a == "--keep-partial" then o.keep_partial = true
    elseif a == "--no-color" then o.no_color = true
    elseif a == "-p" or a == "--prompt" then o.prompt = value(a)
    elseif a == "--version" then o.version = true
    elseif a == "--help" or a == "-h" then o.help = true
    else error("llmstream: unknown option " .. a .. " (see --help)", 0) end
    i = i + 1
  end
  return o
end

-- ---------------------------------------------------------------- demo server

--- Start the bundled demo server; returns its base URL and a stop function.
function H.start_demo(root)
  local candidates = {}
  candidates[#candidates + 1] = os.getenv("LLMSTREAM_DEMO_SERVER")
  if root then candidates[#candidates + 1] = root .. "/build/llmstream-testserver" end
  for _, bin in ipairs(candidates) do
    local f = io.open(bin)
    if f then
      f:close()
      local pipe = io.popen(("%q --max-seconds 86400"):format(bin), "r")
      local line = pipe and pipe:read("*l") or ""
      local port, pid = line:match("^PORT (%d+) PID (%d+)")
      if port then
        return "http://127.0.0.1:" .. port, function()
          os.execute("kill " .. pid .. " 2>/dev/null")
          pipe:close()
        end
      end
    end
  end
  return nil
end

-- ---------------------------------------------------------------- setup

function H.setup(opts, root, tty)
  local S = { opts = opts, tty = tty }
  S.color = tty and not opts.no_color and (os.getenv("NO_COLOR") or "") == ""
  local provider = opts.provider
  if not provider then
    for _, pk in ipairs(KEY_ENV) do
      if (os.getenv(pk[2]) or "") ~= "" then provider = pk[1] break end
    end
  end
  local client_opts = { provider = provider or "anthropic", model = opts.model, base_url = opts.base_url,
    max_tokens = opts.max_tokens }
  if not provider and not opts.base_url then
    -- no key anywhere: the offline demo
    local url, stop = H.start_demo(root)
    if not url then
      return nil, "no API key is set (ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY) and the demo "
        .. "server is not built here: run `make run` in a checkout, or set a key"
    end
    S.demo, S.stop_demo = true, stop
    client_opts.base_url, client_opts.api_key, client_opts.model = url, "demo", "demo"
  end
  client_opts.model = client_opts.model or DEFAULT_MODELS[client_opts.provider]
  local impl = require("llmstream.client").providers[client_opts.provider]
  if opts.base_url and impl and (os.getenv(impl.key_env) or "") == "" then
    -- a --base-url with no key set: a local server, which needs none (a
    -- real provider answers 401 with a clear message)
    client_opts.api_key = "none"
  end
  local ok, client = pcall(llm.client, client_opts)
  if not ok then return nil, (tostring(client):gsub("^.-%(llmstream%) ", "")) end
  S.chat = llm.chat({ client = client, system = opts.system, keep_partial = opts.keep_partial })
  return S
end

function H.banner(S)
  local c = S.chat.client
  if S.demo then
    H.out(H.yellow(S, "llmstream offline demo") .. ": no API key is set, so replies come from a local demo server.\n"
      .. H.dim(S, "Set ANTHROPIC_API_KEY (or OPENAI_API_KEY / GROQ_API_KEY) to chat with a real model.") .. "\n")
  else
    H.out(H.dim(S, ("llmstream %s · %s · %s"):format(VERSION, c.provider, c.model)) .. "\n")
  end
  H.out(H.dim(S, "/help for commands · Ctrl+C cancels a reply · Ctrl+D quits") .. "\n")
end

-- ---------------------------------------------------------------- one reply

function H.reply_line(S, reply)
  local u = reply.usage
  local parts = { usage.format(u) }
  if reply.time_to_first_token then
    parts[#parts + 1] = ("first token %.2f s"):format(reply.time_to_first_token)
    local gen = reply.duration - reply.time_to_first_token
    if u and u.output_tokens and gen > 0 then parts[#parts + 1] = ("%.1f tok/s"):format(u.output_tokens / gen) end
  end
  return table.concat(parts, " · ")
end

--- Stream one reply to the terminal. Returns the request.
function H.stream(S, text)
  local started, spin, last_spin = false, 0, 0
  local function clear_spinner()
    if S.color and last_spin > 0 then H.out("\r\27[K") end
  end
  local ok, req = pcall(S.chat.send, S.chat, text, {
    on_delta = function(t)
      if not started then
        started = true
        clear_spinner()
      end
      H.out(t)
    end,
    on_retry = function(err, wait)
      clear_spinner(); last_spin = 0
      H.out(H.dim(S, ("retrying in %.1f s: %s"):format(wait, err.message)) .. "\n")
    end,
  })
  if not ok then
    H.out(H.red(S, "✖ " .. tostring(req):gsub("^.-%(llmstream%) ", "")) .. "\n")
    return nil
  end
  while not req:done() do
    llm.poll(40)
    if core.sigint() then req:cancel() end
    if not started and S.color and not req:done() and core.now() - last_spin > 0.08 then
      spin = spin % #SPINNER + 1
      last_spin = core.now()
      H.out("\r" .. H.dim(S, SPINNER[spin] .. " waiting for the model…"))
    end
  end
  if not started then clear_spinner() end
  if started then H.out("\n") end
  if req.state == "done" then
    H.out(H.dim(S, H.reply_line(S, req.reply)) .. "\n")
  elseif req.state == "cancelled" then
    H.out(H.yellow(S, "⚠ Response cancelled") .. "\n")
  else
    H.out(H.red(S, "✖ " .. req.err.message) .. "\n" .. H.dim(S, "the conversation is unchanged; /retry sends it again") .. "\n")
  end
  return req
end

-- ---------------------------------------------------------------- commands

local function content_text(c)
  if type(c) == "string" then return c end
  local out = {}
  for _, b in ipairs(c) do
    if b.type == "text" then out[#out + 1] = b.text
    elseif b.type == "tool_use" then out[#out + 1] = "[tool_use " .. tostring(b.name) .. "]" end
  end
  return table.concat(out, "\n")
end

function H.total_line(S)
  return "session: " .. usage.format(S.chat.usage) .. (" · %d replies"):format(S.chat.usage.replies or 0)
end

H.commands = {
  retry = function(S)
    if not S.chat.failed_text then return H.out("nothing to retry\n") end
    H.stream(S, S.chat.failed_text)
  end,
  clear = function(S) S.chat:clear(); H.out(H.dim(S, "conversation cleared") .. "\n") end,
  history = function(S)
    if #S.chat.messages == 0 then return H.out(H.dim(S, "(no messages)") .. "\n") end
    for _, m in ipairs(S.chat.messages) do
      local who = m.role == "user" and "You" or "Assistant"
      H.out(H.bold(S, who .. ":") .. " " .. content_text(m.content) .. (m.partial and H.dim(S, " [partial]") or "") .. "\n")
    end
  end,
  usage = function(S) H.out(H.total_line(S) .. "\n") end,
  save = function(S, arg)
    if arg == "" then return H.out("usage: /save FILE\n") end
    local ok, err = S.chat:save(arg)
    H.out(ok and ("saved to " .. arg .. "\n") or (H.red(S, err) .. "\n"))
  end,
  load = function(S, arg)
    if arg == "" then return H.out("usage: /load FILE\n") end
    local chat, err = llm.chat_load(arg, { client = S.chat.client, keep_partial = S.chat.keep_partial })
    if not chat then return H.out(H.red(S, err) .. "\n") end
    S.chat = chat
    H.out(("loaded %d messages\n"):format(#chat.messages))
  end,
  model = function(S, arg)
    if arg == "" then return H.out("model: " .. S.chat.client.model .. "\n") end
    local c = S.chat.client
    local ok, nc = pcall(llm.client, { provider = c.provider, model = arg, base_url = c.base_url,
      api_key = c:_api_key() or "none", max_tokens = c.max_tokens })
    if not ok then return H.out(H.red(S, tostring(nc)) .. "\n") end
    S.chat.client = nc
    H.out("model: " .. arg .. "\n")
  end,
  system = function(S, arg)
    S.chat.system = arg ~= "" and arg or nil
    H.out(arg ~= "" and "system prompt set\n" or "system prompt cleared\n")
  end,
  help = function() H.out(HELP .. "\n") end,
}

-- ---------------------------------------------------------------- modes

function H.repl(S)
  H.banner(S)
  while true do
    H.out(H.bold(S, "You: "))
    local line = io.read("*l")
    if line == nil then -- Ctrl+D, or Ctrl+C at the prompt
      H.out("\n")
      break
    end
    local cmd, arg = line:match("^/(%a+)%s*(.-)%s*$")
    if cmd == "quit" or cmd == "exit" then break
    elseif cmd and H.commands[cmd] then H.commands[cmd](S, arg)
    elseif cmd then H.out("unknown command /" .. cmd .. " (see /help)\n")
    elseif line:find("%S") then H.stream(S, line) end
  end
  H.out(H.dim(S, H.total_line(S)) .. "\n")
  return 0
end

function H.oneshot(S, prompt)
  local req = S.chat:send(prompt, { on_delta = H.out })
  while not req:done() do
    llm.poll(50)
    if core.sigint() then req:cancel() end
  end
  if req.state == "done" then
    H.out("\n")
    return 0
  end
  if req.partial and req.partial.text ~= "" then H.out("\n") end
  io.stderr:write("llmstream: " .. (req.state == "cancelled" and "cancelled" or req.err.message) .. "\n")
  return req.state == "cancelled" and 130 or 1
end

--- Entry point: returns the exit status.
function M.main(argv, env)
  env = env or {}
  local ok, opts = pcall(H.parse_args, argv or {})
  if not ok then io.stderr:write(opts, "\n"); return 2 end
  if opts.help then H.out(USAGE .. "\n"); return 0 end
  if opts.version then H.out("llmstream " .. VERSION .. "\n"); return 0 end
  local stdin_tty, stdout_tty = core.isatty(0), core.isatty(1)
  local prompt = opts.prompt
  if not prompt and not stdin_tty then prompt = io.read("*a") end
  local S, err = H.setup(opts, env.root, stdout_tty and prompt == nil)
  if not S then io.stderr:write("llmstream: " .. err .. "\n"); return 2 end
  core.catch_sigint(true)
  local status
  if prompt then
    if not prompt:find("%S") then io.stderr:write("llmstream: empty prompt\n"); status = 2
    else status = H.oneshot(S, prompt) end
  else
    status = H.repl(S)
  end
  core.catch_sigint(false)
  llm.cancel_all()
  if S.stop_demo then S.stop_demo() end
  return status
end

M._H = H -- for specs
return M
