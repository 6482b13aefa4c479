local core = require("llmstream.core")
local support = require("support.server")

local server

setup(function() server = support.start() end)
teardown(function() server.stop() end)

-- Run one transfer to the end; returns the transfer and its events.
local function run(opts, multi)
  local m = multi or core.multi()
  local t = m:start(opts)
  local evs, buf = {}, {}
  local function take()
    local _, n = t:drain(buf)
    for i = 1, n do evs[#evs + 1] = { event = buf[2 * i - 1], data = buf[2 * i] } end
  end
  local deadline = core.now() + 20
  while m:poll(50) > 0 and core.now() < deadline do take() end
  take()
  return t, evs, m
end

local function parse_whole(name)
  local out = {}
  for _, e in ipairs(core.sse_parser():feed(support.read(name .. ".sse"))) do
    out[#out + 1] = { event = e.event, data = e.data }
  end
  return out
end

describe("transfers", function()
  after_each(function() collectgarbage(); collectgarbage() end)

  it("stream every fixture, whole and one byte per write, as the parser parses it", function()
    local m = core.multi()
    for _, name in ipairs(support.list("sse")) do
      local want = parse_whole(name)
      -- (byte-wise is left to the native and ASan runs under valgrind: slow there)
      for _, extra in ipairs(os.getenv("LLMSTREAM_VALGRIND") and { "" } or { "", ",bytewise=1" }) do
        local t, evs = run({ url = server.url("f=" .. name .. extra), body = "{}", idle_timeout = 10 }, m)
        assert.are.equal("ok", (t:result()))
        assert.are.equal(200, t:status())
        assert.are.same(want, evs, name .. extra)
      end
    end
  end)

  it("keep the whole body and headers of a non-2xx answer", function()
    local t, evs = run({ url = server.url("f=anthropic_http_429"), body = "{}" })
    local kind, msg = t:result()
    assert.are.equal("http", kind)
    assert.matches("429", msg)
    assert.are.equal(429, t:status())
    assert.are.equal("17", t:headers()["retry-after"])
    assert.are.equal(0, #evs)
    local body, truncated = t:body()
    assert.matches('"rate_limit_error"', body)
    assert.is_false(truncated)
  end)

  it("keep a 200 body that is not an event stream", function()
    local t, evs = run({ url = server.url("f=anthropic_text_short,ct=text/html"), body = "{}" })
    assert.are.equal("ok", (t:result()))
    assert.is_false(t:info().sse)
    assert.are.equal(0, #evs)
    assert.matches("message_start", (t:body()))
  end)

  it("report a refused connection as network", function()
    local t = run({ url = "http://127.0.0.1:1/v1/messages", body = "{}" })
    local kind, msg = t:result()
    assert.are.equal("network", kind)
    assert.matches("onnect", msg)
  end)

  it("report a dropped stream as network, keeping the events received", function()
    local t, evs = run({ url = server.url("f=anthropic_text_short,drop=900"), body = "{}" })
    local kind, msg = t:result()
    assert.are.equal("network", kind)
    assert.is_truthy(#msg > 0)
    local want = parse_whole("anthropic_text_short")
    assert.is_truthy(#evs > 0 and #evs < #want)
    for i = 1, #evs do assert.are.same(want[i], evs[i]) end
  end)

  it("report a stalled stream within idle_timeout + 1 s", function()
    local t0 = core.now()
    local t, evs = run({ url = server.url("f=anthropic_text_short,stall=900"), body = "{}", idle_timeout = 1 })
    local kind, msg = t:result()
    assert.are.equal("stalled", kind)
    assert.matches("idle timeout", msg)
    assert.is_truthy(#evs > 0)
    local took = core.now() - t0
    assert.is_truthy(took >= 0.9 and took < 2.0, "took " .. took)
    -- a server that never answers is stalled too
    local t2 = run({ url = server.url("nohead=1"), body = "{}", idle_timeout = 1 })
    assert.are.equal("stalled", (t2:result()))
  end)

  it("honour the total timeout", function()
    local t = run({ url = server.url("f=anthropic_long,rate=20"), body = "{}", total_timeout = 0.5 })
    assert.are.equal("timeout", (t:result()))
  end)

  it("cancel at once: the server sees the connection closed", function()
    local before = server.stats().closed_early
    local m = core.multi()
    local t = m:start({ url = server.url("f=anthropic_long,rate=50"), body = "{}" })
    local got = 0
    assert.is_true(support.wait_for(function()
      local _, n = t:drain(); got = got + n; return got >= 3
    end, 5, m))
    assert.is_true(t:cancel())
    assert.are.equal("cancelled", (t:result()))
    assert.are.equal(0, m:running())
    assert.is_false(t:cancel()) -- idempotent
    assert.is_true(support.wait_for(function() return server.stats().closed_early > before end, 3))
  end)

  it("poll(0) never blocks", function()
    local m = core.multi()
    local t = m:start({ url = server.url("f=anthropic_long,rate=5"), body = "{}" })
    local t0 = core.now()
    for _ = 1, 20 do m:poll(0) end
    assert.is_truthy(core.now() - t0 < 0.15)
    t:cancel()
  end)

  it("cancel and free a running transfer that is garbage-collected", function()
    local m = core.multi()
    local fds = support.fd_count()
    local before = server.stats().closed_early
    do
      local t = m:start({ url = server.url("f=anthropic_long,rate=50"), body = "{}" })
      support.wait_for(function() m:poll(10); return t:status() == 200 end, 5)
      assert.is_truthy(support.fd_count() > fds)
    end
    collectgarbage(); collectgarbage()
    assert.are.equal(0, m:running())
    assert.are.equal(fds, support.fd_count())
    assert.is_true(support.wait_for(function() return server.stats().closed_early > before end, 3))
  end)

  it("close the multi with transfers running; closed objects raise", function()
    local m = core.multi()
    local t = m:start({ url = server.url("f=anthropic_long,rate=50"), body = "{}" })
    m:poll(10)
    m:close()
    assert.are.equal("cancelled", (t:result()))
    assert.has_error(function() m:poll(0) end, "attempt to use a closed multi")
    t:close()
    assert.has_error(function() t:status() end, "attempt to use a closed transfer")
  end)

  it("run 100 transfers at once on one multi", function()
    local m = core.multi()
    local ts, counts = {}, {}
    for i = 1, 100 do
      ts[i] = m:start({ url = server.url("f=anthropic_text_short"), body = "{}", idle_timeout = 20 })
      counts[i] = 0
    end
    local deadline = core.now() + 30
    while m:poll(50) > 0 and core.now() < deadline do
      for i = 1, 100 do local _, n = ts[i]:drain(); counts[i] = counts[i] + n end
    end
    for i = 1, 100 do
      local _, n = ts[i]:drain()
      assert.are.equal("ok", (ts[i]:result()))
      assert.are.equal(11, counts[i] + n)
    end
  end)

  it("reuse one connection for sequential transfers", function()
    local m = core.multi()
    local before = server.stats().connections
    for _ = 1, 10 do
      local t = run({ url = server.url("f=anthropic_text_short"), body = "{}" }, m)
      assert.are.equal("ok", (t:result()))
    end
    -- one connection for the ten transfers, one for the stats request itself
    assert.are.equal(before + 2, server.stats().connections)
  end)

  it("reject headers and URLs with CR or LF", function()
    local m = core.multi()
    assert.has_error(function()
      m:start({ url = server.url(""), headers = { "x-api-key: a\r\nx-evil: 1" } })
    end, "(llmstream) header contains CR, LF or NUL")
    assert.has_error(function()
      m:start({ url = server.url("") .. "\r\nHost: x" })
    end, "(llmstream) option 'url' contains CR, LF or NUL")
    assert.are.equal(0, m:running())
  end)

  it("pause while their events are not drained (bounded memory), then resume", function()
    local m = core.multi()
    local t = m:start({ url = server.url("f=anthropic_long"), body = "{}", max_queue = 8192, idle_timeout = 1 })
    local t0 = core.now()
    while core.now() - t0 < 1.5 do m:poll(50) end -- no drain for longer than idle_timeout
    local info = t:info()
    assert.is_true(info.paused)
    assert.is_nil(t:result()) -- paused is not stalled
    -- one delivery (at most curl's 16 KiB buffer) past the bound, never the whole 231 KiB stream
    assert.is_true(info.queued_bytes > 8192 and info.queued_bytes <= 8192 + 16384, tostring(info.queued_bytes))
    local n, buf = 0, {}
    local deadline = core.now() + 20
    repeat
      m:poll(50)
      n = n + select(2, t:drain(buf))
    until t:result() or core.now() > deadline
    n = n + select(2, t:drain(buf))
    assert.are.equal("ok", (t:result()))
    assert.are.equal(#parse_whole("anthropic_long"), n)
  end)

  -- Drive one transfer from a luv loop, draining after every action.
  local function run_luv(opts)
    local uv = require("luv")
    local m = core.multi()
    local evs, buf = 0, {}
    local t = m:start(opts)
    local driver = require("llmstream.luv").new(m, uv, function()
      local _, n = t:drain(buf)
      evs = evs + n
    end)
    driver:kick()
    local guard = uv.new_timer()
    uv.update_time() -- the loop's clock is as old as its last run (another spec file)
    guard:start(10000, 0, function() uv.stop() end)
    local check = uv.new_check()
    check:start(function() if t:result() then uv.stop() end end)
    uv.run()
    guard:close(); check:close()
    uv.run("nowait")
    local handles = driver.handles
    driver:close()
    return t, evs, handles
  end

  it("can be driven by a luv loop through curl's sockets and timer", function()
    local t, evs, handles = run_luv({ url = server.url("f=anthropic_pings,rate=200"), body = "{}", idle_timeout = 10 })
    assert.are.equal("ok", (t:result()))
    assert.are.equal(19, evs)
    assert.are.equal(0, handles) -- nothing left open once done
  end)

  it("resume paused transfers on a luv loop once drained", function()
    local t, evs = run_luv({ url = server.url("f=anthropic_long"), body = "{}", max_queue = 4096 })
    assert.are.equal("ok", (t:result()))
    assert.are.equal(#parse_whole("anthropic_long"), evs)
  end)
end)
