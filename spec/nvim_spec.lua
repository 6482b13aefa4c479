-- The Neovim plugin in real headless Neovim (Debian's 0.7.2) against the
-- test server. Neovim runs LuaJIT, so this runs in the LuaJIT pass only.
local cjson = require("cjson")
local support = require("support.server")

if not jit then
  describe("the Neovim plugin", function()
    pending("runs in the LuaJIT pass (Neovim's Lua)")
  end)
  return
end

local server
setup(function() server = support.start() end)
teardown(function() server.stop() end)

local ROOT = os.getenv("PWD")

local function run(scenario, extra_env)
  local result = os.tmpname()
  local cmd = ("env -u ANTHROPIC_API_KEY -u OPENAI_API_KEY -u GROQ_API_KEY LLMSTREAM_SCENARIO=%s LLMSTREAM_BASE=%s "
    .. "LLMSTREAM_RESULT=%s LLMSTREAM_ROOT=%s %s timeout 60 nvim --headless -n -u NONE -i NONE "
    .. "--cmd 'set rtp^=%s' --cmd 'runtime! plugin/llmstream.lua' -c 'luafile spec/nvim/scenario.lua' 2>&1")
    :format(scenario, server.base, result, ROOT, extra_env or "", ROOT)
  local p = io.popen(cmd)
  local log = p:read("*a")
  p:close()
  local f = io.open(result)
  local data = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(result)
  local ok, out = pcall(cjson.decode, data)
  assert(ok and type(out) == "table", "no result from nvim: " .. log)
  assert(out.error == nil, tostring(out.error) .. "\n" .. log)
  return out
end

describe("the Neovim plugin", function()
  it("streams a reply into the buffer over several ticks, one update per tick", function()
    local out = run("stream")
    assert.are.equal("done", out.state)
    assert.are.equal(2000, out.deltas)
    assert.is_true(out.updates > 1, "one update only")
    assert.is_true(out.updates < out.deltas, "an update per delta: no batching")
    assert.is_true(out.grew > 1, "the buffer did not grow while the reply streamed")
    assert.is_true(out.reply_in_buffer)
    assert.are.equal(2, out.messages)
    assert.matches("in %d+ · out %d+", out.usage_virt)
    assert.are.equal(0, out.handles)
  end)

  it("cancels mid-reply: [cancelled], not in history, the server sees the close", function()
    local before = server.stats().closed_early
    local out = run("cancel")
    assert.are.equal("cancelled", out.state)
    assert.matches("%[cancelled%]", out.text)
    assert.are.equal(0, out.messages)
    assert.are.equal(0, out.handles)
    assert.is_true(support.wait_for(function() return server.stats().closed_early > before end, 3))
  end)

  it("shows a dropped stream's partial text and error; :LLMRetry completes", function()
    local out = run("drop")
    assert.matches("Hi there!", out.after_drop)
    assert.matches("Error: connection lost mid%-stream", out.after_drop)
    assert.matches("connection lost", out.notified)
    assert.are.equal(0, out.messages_after_drop)
    assert.are.equal("done", out.state)
    assert.matches("Hi there! Happy to help today.\n\n## You\n\n$", out.after_retry)
    assert.are.equal(2, out.messages_after_retry)
  end)

  it("streams two chat buffers at once, each with its own history", function()
    local out = run("two")
    assert.is_true(out.distinct)
    assert.is_true(out.both_streaming_at_once)
    assert.are.equal("done", out.a_state)
    assert.are.equal("done", out.b_state)
    assert.are.equal(2, out.a_messages)
    assert.are.equal(2, out.b_messages)
  end)

  it("puts a range into the user section as a fenced block", function()
    local out = run("range")
    assert.is_true(out.is_chat)
    assert.matches("## You\n\n```lua\nlocal x = 1\nprint%(x%)\n```", out.text)
  end)

  it("folds thinking blocks, shows tool_use as fenced JSON, and keeps both through save/load", function()
    local out = run("blocks")
    assert.are.equal("done", out.state)
    assert.matches("## Assistant\n\n> thinking\n> The user wants the number of minutes in one week%.", out.thinking_text)
    assert.matches("\n\nA week has %*%*10,080 minutes%*%*", out.thinking_text)
    assert.is_true(out.thinking_folded)
    assert.is_true(out.loaded_is_new)
    assert.matches("> thinking\n> The user wants", out.loaded_text)
    assert.is_true(out.loaded_folded)
    assert.matches("I'll check the current conditions in Lyon for you%.\n\n```json\n{.*\"tool\":\"get_weather\".*}\n```",
      out.tool_text)
    assert.matches('"city":"Lyon, France"', out.tool_text)
    assert.are.equal(2, out.tool_messages)
  end)

  it("runs api_key_cmd without blocking the editor", function()
    local out = run("keycmd")
    assert.is_false(out.ran_before_send_returned)
    assert.are.equal("running", out.state_after_send)
    assert.are.equal("done", out.state)
    assert.is_true(out.ran)
  end)

  it("cancels running transfers on VimLeavePre", function()
    local out = run("leave")
    assert.are.equal("running", out.before)
    assert.are.equal("cancelled", out.after)
  end)

  it(":checkhealth llmstream reports OK", function()
    local out = run("health")
    assert.matches("llmstream", out.text)
    assert.matches("OK", out.text)
    assert.is_falsy(out.text:find("ERROR"))
    assert.is_falsy(out.text:find("sk%-"))
  end)

  it(":help llmstream opens", function()
    local out = run("help")
    assert.are.equal("help", out.ft)
    assert.matches("llmstream", out.first)
    assert.is_true(out.cmd_tag)
  end)
end)
