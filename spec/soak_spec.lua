-- Soak: 10,000 sequential requests and 1,000 cancels mid-stream in one
-- process. Open fds and RSS at the start and the end must be flat, and no
-- internal table may grow. The numbers are printed for the record.
local core = require("llmstream.core")
local llm = require("llmstream")
local R = require("llmstream.runtime")
local support = require("support.server")

local server
setup(function() server = support.start() end)
teardown(function() server.stop() end)

local rss_kb = support.rss_kb

local function settle()
  collectgarbage(); collectgarbage()
  llm.close_idle()
  return support.fd_count(), rss_kb()
end

describe("soak", function()
  it("10,000 sequential requests and 1,000 cancels leave fds and memory flat", function()
    local c = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "sk-soak",
      base_url = server.url("f=anthropic_text_short", ""), max_retries = 0 })
    local slow = llm.client({ provider = "anthropic", model = "claude-haiku-4-5", api_key = "sk-soak",
      base_url = server.url("f=anthropic_long,rate=2000", ""), max_retries = 0 })
    local chat = llm.chat({ client = c })
    local function one()
      chat.messages = {} -- keep the request the same size
      local reply = chat:send("hi"):wait(10)
      assert(reply and reply.text == "Hi there! Happy to help today.")
    end
    for _ = 1, 500 do one() end -- warm up: pools, caches, GC steady state
    local fd0, rss0 = settle()
    local t0 = core.now()
    for _ = 1, 10000 do one() end
    local t_seq = core.now() - t0
    t0 = core.now()
    local cancel_chat = llm.chat({ client = slow })
    for _ = 1, 1000 do
      local got = 0
      local req = cancel_chat:send("story", { on_delta = function() got = got + 1 end })
      while got < 2 and not req:done() do llm.poll(10) end
      assert.is_true(req:cancel())
    end
    local t_cancel = core.now() - t0
    local fd1, rss1 = settle()
    print(("\nsoak: 10,000 requests in %.1f s, 1,000 cancels in %.1f s; fds %d -> %d; RSS %d -> %d KiB")
      :format(t_seq, t_cancel, fd0, fd1, rss0, rss1))
    -- none left behind (a connection another spec file left open may close meanwhile: fewer is fine)
    assert.is_truthy(fd1 <= fd0, ("fds grew from %d to %d"):format(fd0, fd1))
    assert.is_truthy(rss1 - rss0 < 4096, ("RSS grew %d KiB"):format(rss1 - rss0))
    assert.is_nil(next(R.active))
    assert.is_nil(next(R.timers))
    assert.are.equal(0, #cancel_chat.messages)
    assert.are.equal(10500, chat.usage.replies)
  end)
end)
