-- Every provider stream and HTTP error in ../shared/fixtures, served by the
-- test server through real transfers, must give what its sidecar says
-- (compared as ../shared/fixtures/README.md defines).
local cjson = require("cjson")
local llm = require("llmstream")
local support = require("support.server")

local server
setup(function() server = support.start() end)
teardown(function() server.stop() end)

local function is_null(v) return v == nil or v == cjson.null end

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function run_fixture(name, side, extra)
  local base = server.url("f=" .. name .. extra, "")
  local client = llm.client({ provider = side.provider, model = "test-model", api_key = "sk-fixture-key",
    base_url = base, max_retries = 0, idle_timeout = 10 })
  local chat = llm.chat({ client = client })
  local deltas, got_err, partial, done = {}, nil, nil, nil
  local req = chat:send("hello", {
    on_delta = function(t) deltas[#deltas + 1] = t end,
    on_done = function(r) done = r end,
    on_error = function(e, p) got_err, partial = e, p end,
  })
  local reply, err = req:wait(20)
  return chat, reply or partial, err, deltas, done, got_err
end

local function check(name, extra)
  local side = cjson.decode(support.read(name .. ".json"))
  local chat, reply, err, deltas = run_fixture(name, side, extra)
  local where = name .. extra
  assert.is_not_nil(reply, where)
  assert.are.equal(side.text, reply.text, where)
  if side.text_deltas then assert.are.equal(side.text_deltas, #deltas, where) end
  assert.are.equal(side.text, table.concat(deltas), where)
  -- content blocks: same length and order, every listed key equal
  assert.are.equal(#side.content_blocks, #reply.content, where)
  for i, want in ipairs(side.content_blocks) do
    for k, v in pairs(want) do
      assert.is_true(deep_equal(v, reply.content[i][k]), ("%s block %d key %s"):format(where, i, k))
    end
  end
  -- usage: null means none reported (and no cost)
  if is_null(side.usage) then
    assert.is_nil(reply.usage, where)
  else
    local u = reply.usage
    assert.are.equal(side.usage.input_tokens, u.input_tokens, where)
    assert.are.equal(side.usage.output_tokens, u.output_tokens, where)
    for _, f in ipairs({ "cache_creation_input_tokens", "cache_read_input_tokens" }) do
      local want = is_null(side.usage[f]) and 0 or side.usage[f]
      assert.are.equal(want, u[f] or 0, where .. " " .. f)
    end
  end
  local want_stop = side.stop_reason
  if is_null(want_stop) then want_stop = nil end
  assert.are.equal(want_stop, reply.stop_reason, where)
  if side.complete then
    assert.is_nil(err, where .. ": " .. tostring(err and err.message))
    assert.are.equal(2, #chat.messages, where)
    assert.are.equal("assistant", chat.messages[2].role)
  else
    assert.is_not_nil(err, where)
    assert.are.equal(side.error.kind, err.kind, where)
    assert.is_truthy(type(err.message) == "string" and #err.message > 0, where)
    if side.error.kind ~= "protocol" then
      assert.is_truthy(err.message:find(side.error.message, 1, true), where .. ": " .. err.message)
      if not is_null(side.error.type) then assert.are.equal(side.error.type, err.type, where) end
      if not is_null(side.error.code) then assert.are.equal(side.error.code, err.code, where) end
    end
    if side.error.status then assert.are.equal(side.error.status, err.status, where) end
    assert.is_falsy(err.message:find("sk-fixture-key", 1, true))
    assert.are.equal(0, #chat.messages, where) -- the history is as it was
  end
end

describe("every fixture gives its sidecar's result", function()
  for _, name in ipairs(support.list("sse")) do
    it(name .. " (streamed)", function() check(name, "") end)
    -- (under valgrind the byte-wise pass is left to the native and ASan runs: it is slow there)
    if not os.getenv("LLMSTREAM_VALGRIND") then
      it(name .. " (one byte per write)", function() check(name, ",bytewise=1") end)
    end
  end
  for _, name in ipairs(support.list("json")) do
    if name:match("_http_") then
      it(name .. " (HTTP error)", function() check(name, "") end)
    end
  end
end)
