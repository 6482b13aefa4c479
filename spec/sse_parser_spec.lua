local core = require("llmstream.core")
local cjson = require("cjson")
local support = require("support.server")

local function feed_all(chunks, max)
  local p = core.sse_parser(max)
  local out = {}
  for _, c in ipairs(chunks) do
    local evs, err = p:feed(c)
    assert(err == nil, err)
    for _, e in ipairs(evs) do out[#out + 1] = e end
  end
  return out
end

local function bytes(s)
  local t = {}
  for i = 1, #s do t[i] = s:sub(i, i) end
  return t
end

describe("sse_parser on the provider fixtures", function()
  for _, name in ipairs(support.list("sse")) do
    it(name .. ": whole, byte by byte and split anywhere give the sidecar's events", function()
      local s = support.read(name .. ".sse")
      local side = cjson.decode(support.read(name .. ".json"))
      local whole = feed_all({ s })
      assert.are.equal(side.sse_events, #whole)
      local counts = {}
      for _, e in ipairs(whole) do counts[e.event] = (counts[e.event] or 0) + 1 end
      assert.are.same(side.sse_event_counts, counts)
      assert.are.same(whole, feed_all(bytes(s)))
      -- every split position in Lua for the small streams; the C driver
      -- (spec/c/test_sse.c) covers every position of every fixture
      local step = #s > 20000 and 997 or (os.getenv("LLMSTREAM_VALGRIND") and 97 or 1)
      for pos = 0, #s, step do
        assert.are.same(whole, feed_all({ s:sub(1, pos), s:sub(pos + 1) }))
      end
    end)
  end
end)

describe("sse_parser follows the WHATWG event-stream rules", function()
  local function evs(chunks) return feed_all(type(chunks) == "table" and chunks or { chunks }) end

  it("skips one UTF-8 BOM at the start, even split, and only once", function()
    local bom = "\239\187\191"
    assert.are.same({ { event = "message", data = "a" } }, evs(bom .. "data: a\n\n"))
    assert.are.same({ { event = "message", data = "a" } }, evs({ "\239", "\187", "\191data: a\n\n" }))
    -- a second BOM is part of the field name: the line is an unknown field
    assert.are.same({}, evs(bom .. bom .. "data: a\n\n"))
  end)

  it("accepts CR, LF and CRLF line ends, CR and LF split across chunks", function()
    local want = { { event = "message", data = "a\nb" } }
    assert.are.same(want, evs("data: a\rdata: b\r\r"))
    assert.are.same(want, evs("data: a\r\ndata: b\r\n\r\n"))
    assert.are.same(want, evs({ "data: a\r", "\ndata: b\r", "\n\r", "\n" }))
    -- CR at the end of a chunk then another CR: two line ends
    assert.are.same({ { event = "message", data = "a" } }, evs({ "data: a\r", "\r" }))
  end)

  it("ignores comments and unknown fields; a field without a colon has an empty value", function()
    assert.are.same({ { event = "message", data = "x" } }, evs(": hi\nfoo: bar\ndata: x\n\n"))
    assert.are.same({ { event = "message", data = "" } }, evs("data\n\n"))
    assert.are.same({ { event = "message", data = "\n\n" } }, evs("data\ndata\ndata\n\n"))
  end)

  it("strips exactly one leading space", function()
    assert.are.same({ { event = "message", data = " a " } }, evs("data:  a \n\n"))
    assert.are.same({ { event = "message", data = "a" } }, evs("data:a\n\n"))
  end)

  it("dispatches nothing for an event without data, and resets the event type", function()
    assert.are.same({ { event = "message", data = "y" } }, evs("event: x\n\ndata: y\n\n"))
    assert.are.same({ { event = "x", data = "1" }, { event = "message", data = "2" } },
      evs("event: x\ndata: 1\n\ndata: 2\n\n"))
  end)

  it("keeps the last event id across events and ignores an id with NUL", function()
    local got = evs("id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid\ndata: d\n\n")
    assert.are.same({ "1", "1", "1" }, { got[1].id, got[2].id, got[3].id })
    assert.is_nil(got[4].id) -- an empty id resets it
  end)

  it("never dispatches an event without its closing blank line", function()
    assert.are.same({}, evs("data: a\n"))
    assert.are.same({}, evs("data: a"))
    assert.are.same({ { event = "message", data = "a" } }, evs({ "data: a\n", "\n", "data: b\n" }))
  end)

  it("parses retry", function()
    local p = core.sse_parser()
    p:feed("retry: 1500\n\nretry: 12x\n\n")
    assert.are.equal(1500, p:retry())
  end)

  it("fails clearly past the size bound and stays failed, with bounded memory", function()
    local p = core.sse_parser(1024)
    local evs1, err = p:feed("data: ok\n\n" .. string.rep("x", 2000))
    assert.are.equal(1, #evs1) -- the event completed before the fault is kept
    assert.matches("larger than the configured maximum", err)
    local evs2, err2 = p:feed("data: more\n\n")
    assert.are.equal(0, #evs2)
    assert.are.equal(err, err2)
    -- an event whose data lines add up past the bound fails too
    local q = core.sse_parser(100)
    local _, err3 = q:feed(string.rep("data: 0123456789\n", 20))
    assert.is_not_nil(err3)
    -- a 100 MB line never held: the default bound is 8 MiB
    local r = core.sse_parser()
    local chunk = string.rep("y", 1024 * 1024)
    local failed
    r:feed("data: ")
    for _ = 1, 100 do
      local _, e = r:feed(chunk)
      if e then failed = e break end
    end
    assert.is_not_nil(failed)
  end)

  it("raises on use after close", function()
    local p = core.sse_parser()
    p:close()
    p:close() -- idempotent
    assert.has_error(function() p:feed("x") end, "attempt to use a closed SSE parser")
  end)
end)

describe("jpick", function()
  it("returns values at paths, unescaped, without building tables", function()
    local ok, t, txt, idx, missing = core.jpick(
      [[{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}}]],
      "delta.type", "delta.text", "index", "delta.nope")
    assert.is_true(ok)
    assert.are.equal("text_delta", t)
    assert.are.equal("a\"\\/\b\f\n\r\té\240\159\152\128", txt)
    assert.are.equal(0, idx)
    assert.is_nil(missing)
  end)

  it("walks arrays, reports null as nil and containers as true", function()
    local ok, content, finish, usage, tc = core.jpick(
      '{"choices":[{"delta":{"content":"hi"},"finish_reason":null}],"usage":{"a":1},"x":[]}',
      "choices.0.delta.content", "choices.0.finish_reason", "usage", "x")
    assert.is_true(ok)
    assert.are.same({ "hi", nil, true, true }, { content, finish, usage, tc })
  end)

  it("validates the whole text", function()
    for _, bad in ipairs({ '{"a":1', '{"a":1}}', '{"a":tru}', '{"a":"\\x"}', "{'a':1}", '{"a":01}',
      '{"a":"\1"}', "", '{"a":[1,]}', '{"a" 1}' }) do
      local ok, err = core.jpick(bad, "a")
      assert.is_false(ok, bad)
      assert.matches("invalid JSON", err)
    end
    assert.is_true((core.jpick(string.rep("[", 200) .. string.rep("]", 200), "0")))
    assert.is_false((core.jpick(string.rep("[", 300) .. string.rep("]", 300), "0")))
  end)

  it("lone surrogates become U+FFFD; the last duplicate key wins", function()
    local _, s = core.jpick('{"t":"\\ud800x"}', "t")
    assert.are.equal("\239\191\189x", s)
    local _, d = core.jpick('{"t":1,"t":2}', "t")
    assert.are.equal(2, d)
  end)
end)
