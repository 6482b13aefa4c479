-- The fault matrix, through the public Lua API against the test server:
-- each case checks err.kind, the message, the partial text, that the
-- history is unchanged, that no fd is left and that the key never shows.
local cjson = require("cjson")
local core = require("llmstream.core")
local llm = require("llmstream")
local R = require("llmstream.runtime")
local support = require("support.server")

local KEY = "sk-FAKE-KEY-d41d8cd98f00b204e980"
local server
setup(function() server = support.start() end)
teardown(function() server.stop() end)

local function client(opts, extra)
  local o = { provider = "anthropic", model = "claude-haiku-4-5", api_key = KEY,
    base_url = server.url(opts, ""), idle_timeout = 10, max_retries = 0 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return llm.client(o)
end

-- Send one message; return err, partial, chat, number of deltas.
local function attempt(c, history)
  local chat = llm.chat({ client = c, messages = history })
  local before = #chat.messages
  local deltas, partial = {}, nil
  local reply, err = chat:send("hi", {
    on_delta = function(t) deltas[#deltas + 1] = t end,
    on_error = function(_, p) partial = p end,
  }):wait(30)
  if reply then return nil, reply, chat, deltas end
  assert.are.equal(before, #chat.messages) -- the history is as it was
  assert.is_truthy(type(err.message) == "string" and #err.message > 0)
  assert.is_falsy(err.message:find(KEY, 1, true), "the key leaked into: " .. err.message)
  assert.is_falsy(err.message:find("<html", 1, true))
  assert.are.equal(table.concat(deltas), partial.text)
  return err, partial, chat, deltas
end

-- fds are compared with the connection pool emptied on both sides
local fds
before_each(function()
  collectgarbage(); collectgarbage()
  llm.close_idle()
  fds = support.fd_count()
end)
after_each(function()
  collectgarbage(); collectgarbage()
  assert.are.equal(0, llm.running())
  assert.is_true(llm.close_idle())
  assert.are.equal(fds, support.fd_count(), "a file descriptor was left open")
end)

-- Text deltas of the events a parser dispatches from the first k bytes.
local function text_before(name, k)
  local s = support.read(name .. ".sse")
  local out = {}
  for _, e in ipairs(core.sse_parser():feed(s:sub(1, k))) do
    if e.event == "content_block_delta" then
      local d = cjson.decode(e.data).delta
      if d.type == "text_delta" then out[#out + 1] = d.text end
    end
  end
  return table.concat(out)
end

describe("faults", function()
  it("connection refused and an unresolvable host: network", function()
    local err = attempt(llm.client({ provider = "openai", model = "gpt-4o", api_key = KEY,
      base_url = "http://127.0.0.1:1/v1", max_retries = 0 }))
    assert.are.equal("network", err.kind)
    assert.matches("onnect", err.message)
    err = attempt(llm.client({ provider = "openai", model = "gpt-4o", api_key = KEY,
      base_url = "http://nonexistent.invalid/v1", max_retries = 0, connect_timeout = 3 }))
    assert.is_truthy(err.kind == "network" or err.kind == "timeout")
    assert.matches("resolve", err.message)
  end)

  it("a drop at every event boundary and inside every event: network, partial text exact", function()
    local name = "anthropic_text_short"
    local s = support.read(name .. ".sse")
    local cuts, pos = { 0 }, 1
    while true do
      local e = s:find("\n\n", pos, true)
      if not e then break end
      cuts[#cuts + 1] = e + 1 -- just after the event
      cuts[#cuts + 1] = math.floor((pos + e) / 2) -- in its middle
      pos = e + 2
    end
    for _, k in ipairs(cuts) do
      if k < #s then
        local err, partial = attempt(client(("f=%s,drop=%d"):format(name, k)))
        assert.are.equal("network", err.kind, "drop at " .. k)
        assert.are.equal(text_before(name, k), partial.text, "drop at " .. k)
      end
    end
  end)

  it("a stall after some bytes: timeout after idle_timeout, partial kept", function()
    for _, k in ipairs({ 600, 1000 }) do
      local err, partial = attempt(client("f=anthropic_text_short,stall=" .. k, { idle_timeout = 1 }))
      assert.are.equal("timeout", err.kind)
      assert.are.equal(text_before("anthropic_text_short", k), partial.text)
    end
  end)

  it("a server that never sends headers: timeout", function()
    local err = attempt(client("nohead=1", { idle_timeout = 1 }))
    assert.are.equal("timeout", err.kind)
  end)

  it("one byte per write works", function()
    local _, reply = attempt(client("f=anthropic_unicode,bytewise=1"))
    assert.are.equal(cjson.decode(support.read("anthropic_unicode.json")).text, reply.text)
  end)

  it("200 with a non-SSE content type, an HTML page, or a JSON error body", function()
    local err = attempt(client("f=anthropic_text_short,ct=text/html"))
    assert.are.equal("protocol", err.kind)
    assert.matches("not an event stream", err.message)
    err = attempt(client("f=anthropic_http_529,as200=1"))
    assert.are.equal("api", err.kind)
    assert.are.equal("overloaded_error", err.type)
    assert.matches("Overloaded", err.message)
  end)

  it("every HTTP error status with a provider body: http, status exact, provider message", function()
    for _, c in ipairs({ { 400, "anthropic_http_400" }, { 401, "anthropic_http_401" }, { 403, "anthropic_http_401" },
      { 404, "anthropic_http_400" }, { 413, "groq_http_413_tpm" }, { 429, "anthropic_http_429" },
      { 500, "anthropic_http_500" }, { 503, "anthropic_http_500" }, { 529, "anthropic_http_529" } }) do
      local err = attempt(client(("f=%s,status=%d"):format(c[2], c[1])))
      assert.are.equal("http", err.kind)
      assert.are.equal(c[1], err.status)
      local side = cjson.decode(support.read(c[2] .. ".json"))
      assert.is_truthy(err.message:find(side.error.message, 1, true), err.message)
    end
  end)

  it("invalid JSON in a data line: protocol, the text before it kept", function()
    local err, partial = attempt(client("f=anthropic_bad_json"))
    assert.are.equal("protocol", err.kind)
    assert.are.equal("invalid_json", err.type)
    assert.are.equal("Hello world", partial.text)
    err, partial = attempt(client("f=anthropic_bad_json_rare"))
    assert.are.equal("protocol", err.kind)
    assert.are.equal("Hi", partial.text)
    err, partial = attempt(llm.client({ provider = "openai", model = "gpt-4o", api_key = KEY,
      base_url = server.url("f=openai_bad_json", ""), max_retries = 0 }))
    assert.are.equal("protocol", err.kind)
    assert.are.equal("Hel", partial.text)
  end)

  it("text deltas in other JSON shapes (spacing, key order, extra keys) give the same text", function()
    local _, reply = attempt(client("f=anthropic_other_shapes"))
    assert.are.equal("Spaced out, \195\169scaped\n!", reply.text)
  end)

  it("invalid UTF-8 in a text delta is passed through unchanged", function()
    local _, reply = attempt(client("f=anthropic_invalid_utf8"))
    assert.are.equal("ok bad \255\254 bytes", reply.text)
  end)

  it("a 100 MB line: a bounded protocol error, bounded memory", function()
    local rss_kb = support.rss_kb
    local before = rss_kb()
    local err = attempt(client("bigline=104857600"))
    assert.are.equal("protocol", err.kind)
    assert.matches("larger than the configured maximum", err.message)
    collectgarbage()
    assert.is_truthy(rss_kb() - before < 48 * 1024, "RSS grew by " .. (rss_kb() - before) .. " KiB")
  end)

  it("a redirect is not followed unless configured", function()
    local err = attempt(client("f=anthropic_text_short,redirect=1"))
    assert.are.equal("http", err.kind)
    assert.are.equal(307, err.status)
    local _, reply = attempt(client("f=anthropic_text_short,redirect=1", { follow_redirects = true }))
    assert.are.equal("Hi there! Happy to help today.", reply.text)
  end)

  it("TLS to a self-signed server fails clearly, and works with cainfo", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local gen = ("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
      .. "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s/k.pem -out %s/c.pem -days 1 >/dev/null 2>&1")
      :format(dir, dir)
    local r = os.execute(gen)
    assert.is_truthy(r == true or r == 0, "openssl req failed")
    -- openssl s_server sends its stdin to the client: a canned response
    local body = support.read("anthropic_text_short.sse")
    local f = io.open(dir .. "/resp", "wb")
    f:write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
      .. "Content-Length: %d\r\n\r\n%s"):format(#body, body))
    f:close()
    local function tls_server()
      local port = 20000 + math.random(20000)
      os.execute(("(openssl s_server -quiet -naccept 1 -accept 127.0.0.1:%d -cert %s/c.pem -key %s/k.pem "
        .. "< %s/resp >/dev/null 2>&1 &)"):format(port, dir, dir, dir))
      core.sleep(0.3)
      return ("https://127.0.0.1:%d"):format(port)
    end
    local err = attempt(llm.client({ provider = "anthropic", model = "m", api_key = KEY, base_url = tls_server(),
      max_retries = 0 }))
    assert.are.equal("network", err.kind)
    assert.matches("certificate", err.message)
    local _, reply = attempt(llm.client({ provider = "anthropic", model = "m", api_key = KEY,
      base_url = tls_server(), max_retries = 0, cainfo = dir .. "/c.pem" }))
    assert.are.equal("Hi there! Happy to help today.", reply.text)
    os.execute("rm -rf " .. dir)
  end)

  it("insecure is off by default and loud when on", function()
    assert.is_false(client("").insecure)
    local p = io.popen([[lua5.4 -e 'package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="build/5.4/?.so;"..package.cpath
      require("llmstream").client{provider="anthropic", model="m", api_key="k", insecure=true}' 2>&1]])
    local out = p:read("*a")
    p:close()
    assert.matches("WARNING: TLS certificate verification is OFF", out)
  end)
end)

describe("lifetimes and races", function()
  before_each(function() collectgarbage() end)

  it("cancel after done is a no-op", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short") })
    local req = chat:send("hi")
    assert(req:wait())
    assert.is_false(req:cancel())
    assert.are.equal(2, #chat.messages)
  end)

  it("a chat dropped mid-stream finishes and is collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local chat = llm.chat({ client = client("f=anthropic_text_short,rate=100") })
      chat:send("hi")
      weak[1] = chat
    end
    collectgarbage(); collectgarbage()
    assert.is_truthy(support.wait_for(function() llm.poll(20); return llm.running() == 0 end, 10))
    collectgarbage(); collectgarbage()
    assert.is_nil(weak[1])
  end)

  it("leaves no internal state behind", function()
    assert.is_nil(next(R.active))
    assert.is_nil(next(R.timers))
  end)
end)

describe("secrets", function()
  it("the key appears in no error, history, saved file or one-shot output", function()
    local chat = llm.chat({ client = client("f=anthropic_text_short") })
    assert(chat:send("hi"):wait())
    local path = os.tmpname()
    chat:save(path)
    local f = io.open(path); local saved = f:read("*a"); f:close()
    os.remove(path)
    assert.is_falsy(saved:find(KEY, 1, true))
    assert.is_falsy(cjson.encode(chat.messages):find(KEY, 1, true))
    for k, v in pairs(chat.client) do
      assert.is_falsy(type(v) == "string" and v:find(KEY, 1, true), "client." .. tostring(k))
    end
    assert.is_falsy(tostring(chat.client):find(KEY, 1, true))
    for _, fixture in ipairs({ "anthropic_http_401", "anthropic_http_400", "anthropic_error_overloaded" }) do
      local p = io.popen(("ANTHROPIC_API_KEY=%s lua5.4 bin/llmstream -p hi --provider anthropic --base-url %s 2>&1")
        :format(KEY, server.url("f=" .. fixture, "")))
      local out = p:read("*a")
      p:close()
      assert.is_falsy(out:find(KEY, 1, true), out)
    end
  end)
end)
