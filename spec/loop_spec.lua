-- The Lua layer driven by a libuv loop (llm.use_loop), as Neovim drives it:
-- curl's sockets watched by luv, and api_key_cmd run without blocking.
local llm = require("llmstream")
local support = require("support.server")
local uv = require("luv")

local server
setup(function()
  server = support.start()
  llm.use_loop(uv)
end)
teardown(function()
  llm.use_loop(nil) -- back to llm.poll() for the other spec files
  uv.run("nowait") -- let closed handles finish before the interpreter exits
  server.stop()
end)

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function exists(p)
  local f = io.open(p)
  if f then f:close() end
  return f ~= nil
end

-- A command that takes a while, leaves a mark when it ran, and prints a key.
local function slow_key_cmd(mark, key)
  return ("sleep 0.3; echo ran >> %s; printf '%%s\\n' %s"):format(mark, key)
end

local function lines(p)
  local n = 0
  for _ in io.lines(p) do n = n + 1 end
  return n
end

describe("a chat on a libuv loop", function()
  after_each(function() assert.are.equal(0, llm.running()) end)

  it("streams a reply through curl's sockets", function()
    local chat = llm.chat({ client = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "sk-x",
      base_url = server.url("f=anthropic_text_short,rate=200", "") }) })
    local got = {}
    local reply = assert(chat:send("hi", { on_delta = function(t) got[#got + 1] = t end }):wait(10))
    assert.are.equal(reply.text, table.concat(got))
    assert.is_true(#got > 1)
    assert.are.equal(2, #chat.messages)
  end)

  it("runs api_key_cmd without blocking the loop, once per key", function()
    local mark = tmpname()
    local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key_cmd = slow_key_cmd(mark, "sk-cmd"),
      base_url = server.url("f=anthropic_text_short", "") })
    local chat = llm.chat({ client = c })
    local req = chat:send("hi")
    -- send() returned while the command still sleeps: the loop was not blocked
    assert.is_false(exists(mark))
    assert.are.equal("running", req.state)
    local ticks, timer = 0, uv.new_timer()
    timer:start(20, 20, function() ticks = ticks + 1 end)
    assert(req:wait(10))
    timer:close()
    assert.is_true(ticks >= 3, "the loop ran while the key command did") -- 0.3 s at 20 ms
    assert(chat:send("again"):wait(10)) -- the key is cached: the command ran once
    assert.are.equal(1, lines(mark))
    os.remove(mark)
  end)

  it("shares one api_key_cmd run between requests that start together", function()
    local mark = tmpname()
    local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key_cmd = slow_key_cmd(mark, "sk-cmd"),
      base_url = server.url("f=anthropic_text_short", "") })
    local a, b = llm.chat({ client = c }), llm.chat({ client = c })
    local ra, rb = a:send("one"), b:send("two")
    assert(ra:wait(10))
    assert(rb:wait(10))
    assert.are.equal(1, lines(mark))
    os.remove(mark)
  end)

  it("reports a failing api_key_cmd as a config error and leaves the history", function()
    local chat = llm.chat({ client = llm.client({ provider = "anthropic", model = "claude-haiku-4-5",
      api_key_cmd = "echo locked >&2; exit 3", base_url = server.url("f=anthropic_text_short", "") }) })
    local seen
    local _, err = chat:send("hi", { on_error = function(e) seen = e end }):wait(10)
    assert.are.equal("config", err.kind)
    assert.are.equal("api_key_cmd failed (exit status 3): locked", err.message)
    assert.are.equal(err, seen)
    assert.are.same({}, chat.messages)
    local empty = llm.chat({ client = llm.client({ provider = "anthropic", model = "m", api_key_cmd = "true",
      base_url = server.url("f=anthropic_text_short", "") }) })
    local _, e2 = empty:send("hi"):wait(10)
    assert.are.equal("api_key_cmd printed no key", e2.message)
  end)

  it("cancels while api_key_cmd runs: nothing is sent", function()
    local mark = tmpname()
    local before = server.stats().requests
    local chat = llm.chat({ client = llm.client({ provider = "anthropic", model = "claude-haiku-4-5",
      api_key_cmd = slow_key_cmd(mark, "sk-cmd"), base_url = server.url("f=anthropic_text_short", "") }) })
    local req = chat:send("hi")
    assert.is_true(req:cancel())
    assert.are.equal("cancelled", req.state)
    assert.are.same({}, chat.messages)
    local t, fired = uv.new_timer(), false -- let the command finish: its result must be ignored
    t:start(600, 0, function() fired = true; t:close() end)
    while not fired do uv.run("once") end
    assert.are.equal("cancelled", req.state)
    assert.are.equal(before + 1, server.stats().requests) -- only the /stats request itself
    os.remove(mark)
  end)
end)
