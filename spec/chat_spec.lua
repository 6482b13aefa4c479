local cjson = require("cjson")
local core = require("llmstream.core")
local llm = require("llmstream")
local support = require("support.server")

local server
setup(function() server = support.start() end)
teardown(function() server.stop() end)

local KEY = "sk-ant-SECRET-0123456789"

local function client(opts, extra)
  local o = { provider = "anthropic", model = "claude-haiku-4-5", api_key = KEY,
    base_url = server.url(opts, ""), idle_timeout = 10 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return llm.client(o)
end

local tag = 0
local function unique() tag = tag + 1; return "t=" .. tag .. "_" .. os.time() end

describe("a chat", function()
  after_each(function()
    assert.are.equal(0, llm.running()) -- no request left behind
    collectgarbage()
  end)

  it("commits a finished reply and adds its usage", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short"), system = "be brief" })
    local reply = assert(chat:send("hi"):wait())
    assert.are.equal("Hi there! Happy to help today.", reply.text)
    assert.are.same({ { role = "user", content = "hi" },
      { role = "assistant", content = "Hi there! Happy to help today." } }, chat.messages)
    assert.are.equal(16, chat.usage.input_tokens)
    assert.are.equal(10, chat.usage.output_tokens)
    -- claude-haiku-4-5: $1 in, $5 out per million
    assert.is_truthy(math.abs(reply.usage.cost_usd - (16 * 1 + 10 * 5) / 1e6) < 1e-12)
    assert.are.equal(reply.usage.cost_usd, chat.usage.cost_usd)
    chat:send("again"):wait()
    assert.are.equal(4, #chat.messages)
    assert.are.equal(32, chat.usage.input_tokens)
  end)

  it("cancel stops at once, drops the turn and the server sees the close", function()
    local before = server.stats().closed_early
    local chat = llm.chat({ client = client("f=anthropic_long,rate=100") })
    local n, got_err, partial = 0, nil, nil
    local req = chat:send("tell me a story", {
      on_delta = function() n = n + 1 end,
      on_error = function(e, p) got_err, partial = e, p end,
    })
    assert.is_true(support.wait_for(function() llm.poll(20); return n >= 5 end, 10))
    assert.is_true(req:cancel())
    assert.are.equal("cancelled", got_err.kind)
    assert.is_truthy(#partial.text > 0)
    assert.are.same({}, chat.messages)
    assert.is_false(req:cancel()) -- twice is fine
    local _, err = req:wait()
    assert.are.equal("cancelled", err.kind)
    local seen = n
    llm.poll(50)
    assert.are.equal(seen, n) -- no delta after cancel
    assert.is_true(support.wait_for(function() return server.stats().closed_early > before end, 3))
  end)

  it("keep_partial commits the partial reply, marked", function()
    local chat = llm.chat({ client = client("f=anthropic_long,rate=100"), keep_partial = true })
    local n = 0
    local req = chat:send("go", { on_delta = function() n = n + 1 end })
    support.wait_for(function() llm.poll(20); return n >= 3 end, 10)
    req:cancel()
    assert.are.equal(2, #chat.messages)
    assert.is_true(chat.messages[2].partial)
  end)

  it("a dropped stream gives the partial reply and a network error; retry completes", function()
    local drop_client = client("f=anthropic_text_short,drop=1000")
    local chat = llm.chat({ client = drop_client })
    local deltas = {}
    local reply, err = chat:send("hi", { on_delta = function(t) deltas[#deltas + 1] = t end }):wait()
    assert.is_nil(reply)
    assert.are.equal("network", err.kind)
    assert.matches("connection lost", err.message)
    assert.is_truthy(#deltas > 0)
    assert.are.same({}, chat.messages)
    chat.client = client("f=anthropic_text_short")
    local r2 = assert(chat:retry():wait())
    assert.are.equal("Hi there! Happy to help today.", r2.text)
    assert.are.equal("hi", chat.messages[1].content)
    assert.are.equal(2, #chat.messages)
  end)

  it("retries 429 after the server's wait, then streams one reply", function()
    local opts = "f=anthropic_text_short,fail=1:anthropic_http_429,ram=200," .. unique()
    local retries = {}
    local chat = llm.chat({ client = client(opts) })
    local t0 = core.now()
    local reply = assert(chat:send("hi", {
      on_retry = function(e, wait) retries[#retries + 1] = { e = e, wait = wait } end,
    }):wait())
    assert.are.equal(1, #retries)
    assert.are.equal(429, retries[1].e.status)
    assert.are.equal(0.2, retries[1].wait) -- retry-after-ms wins over retry-after: 17
    assert.is_truthy(core.now() - t0 >= 0.2)
    assert.are.equal("Hi there! Happy to help today.", reply.text)
    assert.are.equal(2, #chat.messages)
  end)

  it("backs off on 529 without retry-after, up to max_retries", function()
    local chat = llm.chat({ client = client("f=anthropic_http_529", { max_retries = 2 }) })
    local waits = {}
    local _, err = chat:send("hi", { on_retry = function(_, w) waits[#waits + 1] = w end }):wait()
    assert.are.equal("http", err.kind)
    assert.are.equal(529, err.status)
    assert.are.equal("overloaded_error", err.type)
    assert.are.equal(2, #waits)
    assert.is_truthy(waits[1] >= 0.25 and waits[1] <= 0.5 and waits[2] >= 0.5 and waits[2] <= 1)
  end)

  it("does not retry a 401 and says why", function()
    local chat = llm.chat({ client = client("f=anthropic_http_401," .. unique()) })
    local retried = false
    local _, err = chat:send("hi", { on_retry = function() retried = true end }):wait()
    assert.is_false(retried)
    assert.are.equal(401, err.status)
    assert.matches("invalid x%-api%-key", err.message)
    assert.is_falsy(err.message:find(KEY, 1, true))
  end)

  it("honours retry-after only up to 60 s", function()
    local chat = llm.chat({ client = client("f=anthropic_http_429,ra=120") })
    local _, err = chat:send("hi"):wait()
    assert.are.equal(429, err.status)
    assert.are.equal(120, err.retry_after)
  end)

  it("retries a refused connection, then reports network", function()
    local c = llm.client({ provider = "openai", model = "gpt-4o", api_key = KEY,
      base_url = "http://127.0.0.1:1/v1", max_retries = 1 })
    local tries = 0
    local _, err = llm.chat({ client = c }):send("hi", { on_retry = function() tries = tries + 1 end }):wait()
    assert.are.equal(1, tries)
    assert.are.equal("network", err.kind)
  end)

  it("reports an idle stream as timeout", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short,stall=1000", { idle_timeout = 1 }) })
    local _, err = chat:send("hi"):wait()
    assert.are.equal("timeout", err.kind)
    assert.matches("idle_timeout", err.message)
  end)

  it("reports an HTML page as an http error without dumping it", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short,ct=text/html", {}) })
    local _, err = chat:send("hi"):wait()
    assert.are.equal("protocol", err.kind)
    assert.matches("not an event stream", err.message)
  end)

  it("streams two chats at once, each with its own history", function()
    local a = llm.chat({ client = client("f=anthropic_text_short,rate=200") })
    local b = llm.chat({ client = llm.client({ provider = "openai", model = "gpt-4o-mini", api_key = KEY,
      base_url = server.url("f=openai_include_usage,rate=200", "") }) })
    local ra, rb = a:send("one"), b:send("two")
    llm.run()
    assert.are.equal("done", ra.state)
    assert.are.equal("done", rb.state)
    assert.are.equal(2, #a.messages)
    assert.are.equal(2, #b.messages)
    assert.are_not.equal(a.messages[2].content, b.messages[2].content)
  end)

  it("refuses a second send while streaming, and bad input", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short,rate=50") })
    local req = chat:send("one")
    assert.has_error(function() chat:send("two") end,
      "(llmstream) this chat is already streaming a reply: cancel it or wait for it first")
    req:cancel()
    assert.has_error(function() chat:send("  ") end, "(llmstream) send() needs a non-empty message")
    assert.has_error(function() llm.client({ provider = "nope", model = "x" }) end)
    assert.has_error(function() llm.client({ provider = "anthropic", api_key = "k" }) end,
      "(llmstream) client{}: 'model' is required")
    assert.has_error(function() llm.client({ provider = "openai", model = "m", api_key = "k", max_tokns = 1 }) end,
      "(llmstream) unknown client option 'max_tokns'")
    local ok, e = pcall(llm.client, { provider = "anthropic", model = "m", api_key = "sk-x\r\nx-evil: 1" })
    assert.is_false(ok)
    assert.matches("api_key contains CR, LF or NUL", e)
    assert.is_falsy(e:find("x-evil", 1, true))
  end)

  it("needs a key, from the environment, api_key or api_key_cmd", function()
    local saved = os.getenv("GROQ_API_KEY")
    if not saved then
      local ok, e = pcall(llm.client, { provider = "groq", model = "llama-3.3-70b-versatile" })
      assert.is_false(ok)
      assert.matches("set GROQ_API_KEY", e)
    end
    local c = llm.client({ provider = "groq", model = "llama-3.3-70b-versatile",
      api_key_cmd = "echo sk-from-cmd", base_url = server.url("f=groq_x_groq_usage", "") })
    assert.is_falsy(tostring(c):find("sk-", 1, true))
    local reply = assert(llm.chat({ client = c }):send("hi"):wait())
    assert.are.equal(48, reply.usage.input_tokens)
    -- a local OpenAI-compatible server needs no key
    assert.is_not_nil(llm.client({ provider = "openai-compatible", model = "llama", base_url = server.base }))
  end)

  it("reports an error raised in a user callback and keeps the loop running", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short") })
    local _, err = chat:send("hi", { on_delta = function() error("boom") end }):wait()
    assert.are.equal("callback", err.kind)
    assert.matches("boom", err.message)
    assert.are.same({}, chat.messages)
    local polled
    local r2 = chat:send("hi", { on_delta = function()
      polled = select(2, pcall(llm.poll, 0))
    end })
    assert(r2:wait())
    assert.matches("called from inside an llmstream callback", polled)
  end)

  it("cancel inside on_delta stops the stream", function()
    local chat = llm.chat({ client = client("f=anthropic_long") })
    local n, req = 0, nil
    req = chat:send("hi", { on_delta = function() n = n + 1; if n == 3 then req:cancel() end end })
    local _, err = req:wait()
    assert.are.equal("cancelled", err.kind)
    assert.are.equal(3, n)
  end)

  it("saves and loads a conversation, never the key", function()
    local chat = llm.chat({ client = client("f=anthropic_tool_use"), system = "sys" })
    assert(chat:send("weather?"):wait())
    local path = os.tmpname()
    assert(chat:save(path))
    local f = io.open(path); local text = f:read("*a"); f:close()
    assert.is_falsy(text:find(KEY, 1, true))
    local loaded = assert(llm.chat_load(path, { client = client("f=anthropic_text_short") }))
    os.remove(path)
    assert.are.equal("sys", loaded.system)
    assert.are.equal(2, #loaded.messages)
    assert.are.equal("tool_use", loaded.messages[2].content[2].type)
    assert.are.same(chat.usage.input_tokens, loaded.usage.input_tokens)
    assert(loaded:send("thanks"):wait())
    assert.are.equal(4, #loaded.messages)
    local bad = os.tmpname()
    local g = io.open(bad, "w"); g:write("{}"); g:close()
    local none, e = llm.chat_load(bad)
    os.remove(bad)
    assert.is_nil(none)
    assert.matches("not a saved llmstream chat", e)
  end)

  it("sends the history, the system prompt and the key in headers", function()
    -- the demo route echoes the request size; a request that grows with
    -- the history shows the history was sent
    local chat = llm.chat({ client = client(""), system = "sys" })
    local r1 = assert(chat:send("one", {}):wait())
    local r2 = assert(chat:send("two", {}):wait())
    assert.is_truthy(r2.usage.input_tokens > r1.usage.input_tokens)
  end)
end)
