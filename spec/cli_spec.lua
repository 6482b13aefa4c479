-- The terminal chat, driven in a real terminal (tmux send-keys /
-- capture-pane) against the test server.
local core = require("llmstream.core")
local support = require("support.server")

local server
local SOCK = "llmstream-spec-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e6))
local LUA = jit and "luajit" or "lua5.4"
local NOKEYS = "env -u ANTHROPIC_API_KEY -u OPENAI_API_KEY -u GROQ_API_KEY NO_COLOR= "

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

local function tmux(args) return sh("tmux -L " .. SOCK .. " " .. args) end
local function screen() return tmux("capture-pane -p -J -t chat -S -200") end
local function keys(...)
  local parts = {}
  for _, k in ipairs({ ... }) do parts[#parts + 1] = ("%q"):format(k) end
  tmux("send-keys -t chat " .. table.concat(parts, " "))
end

local function open_chat(args, env)
  tmux("kill-session -t chat")
  local cmd = ("%s%s %s bin/llmstream %s; echo EXIT=$?; sleep 600"):format(NOKEYS, env or "", LUA, args)
  tmux(("new-session -d -s chat -x 200 -y 50 %q"):format(cmd))
  assert(support.wait_for(function() return screen():find("You: ") end, 5), "no prompt:\n" .. screen())
end

local function wait_screen(pattern, seconds)
  local ok = support.wait_for(function() return screen():find(pattern) ~= nil end, seconds or 5)
  assert(ok, "waited for " .. pattern .. " on:\n" .. screen())
end

setup(function() server = support.start() end)
teardown(function()
  tmux("kill-server")
  server.stop()
end)

describe("the terminal chat", function()
  it("streams tokens as they arrive, and Ctrl+C cancels within 100 ms", function()
    open_chat("--base-url " .. server.url("f=anthropic_long,rate=100", ""))
    keys("tell me a story", "Enter")
    wait_screen("You: tell me a story\n.+", 5)
    local first = #screen()
    core.sleep(0.3)
    local second = #screen()
    assert.is_truthy(second > first, "the pane did not grow during the reply")
    local before = server.stats().closed_early
    local t0 = core.now()
    keys("C-c")
    wait_screen("⚠ Response cancelled\nYou: ", 2)
    local took = core.now() - t0
    assert.is_truthy(took < 0.1, ("cancel line and prompt took %.3f s"):format(took))
    assert.is_true(support.wait_for(function() return server.stats().closed_early > before end, 3))
    keys("/history", "Enter")
    wait_screen("%(no messages%)")
    keys("C-d")
    wait_screen("EXIT=0")
  end)

  it("shows a dropped stream's partial text and the error; /retry completes", function()
    local opts = "f=anthropic_text_short,drop=1000,first=1,t=" .. os.time()
    open_chat("--base-url " .. server.url(opts, ""))
    keys("hi", "Enter")
    wait_screen("✖ connection lost mid%-stream")
    assert.matches("Hi there!", screen())
    keys("/history", "Enter")
    wait_screen("%(no messages%)")
    keys("/retry", "Enter")
    wait_screen("Hi there! Happy to help today.\nin 16 · out 10")
    keys("/history", "Enter")
    wait_screen("Assistant: Hi there! Happy to help today.")
    keys("/quit", "Enter")
    -- the dropped attempt was billed too: its usage counts in the session
    wait_screen("session: in 32 · out 11 · %$0%.000087 · 2 replies")
    wait_screen("EXIT=0")
  end)

  it("prints the usage summary on Ctrl+D and exits 0", function()
    open_chat("--base-url " .. server.url("f=anthropic_text_short", ""))
    keys("hi", "Enter")
    wait_screen("Happy to help today.\nin 16")
    keys("C-d")
    wait_screen("session: in 16 · out 10")
    wait_screen("EXIT=0")
  end)

  it("opens the offline demo with a banner when no key is set", function()
    open_chat("", "LLMSTREAM_DEMO_SERVER=build/llmstream-testserver")
    assert.matches("offline demo", screen())
    assert.matches("ANTHROPIC_API_KEY", screen())
    keys("hello", "Enter")
    wait_screen("demo reply #1", 5)
    wait_screen("in %d+ · out %d+", 10)
    keys("/quit", "Enter")
    wait_screen("EXIT=0")
  end)

  it("one-shot mode prints exactly the reply; errors go to stderr with a failing status", function()
    local url = server.url("f=anthropic_text_short", "")
    assert.are.equal("Hi there! Happy to help today.\n",
      sh(NOKEYS .. LUA .. " bin/llmstream -p hi --base-url " .. url .. " 2>/dev/null"))
    assert.are.equal("Sure! Here's a fun fact: octopuses have three hearts.\n",
      sh("echo hi | " .. NOKEYS .. LUA .. " bin/llmstream --provider openai --base-url "
        .. server.url("f=openai_text", "") .. " 2>/dev/null"))
    local out = sh(NOKEYS .. LUA .. " bin/llmstream -p hi --base-url " .. server.url("f=anthropic_http_401", "")
      .. " 2>&1 >/dev/null; echo status=$?")
    assert.matches("invalid x%-api%-key", out)
    assert.matches("status=1", out)
    assert.matches("^llmstream %d+%.%d+%.%d+\n$", sh(LUA .. " bin/llmstream --version"))
  end)
end)
