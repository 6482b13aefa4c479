-- Parser throughput through Lua: p:feed() on 64 MiB in 16 KiB chunks
-- (events come back as tables), and the transfer path's flat drain shape
-- measured by feeding the same bytes. Prints MB/s events/s (best of 3).
local core = require("llmstream.core")
local ev = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the"}}\n\n'
local n = math.floor((64 * 1024 * 1024) / #ev)
local s = ev:rep(n)
local chunks = {}
for off = 1, #s, 16384 do chunks[#chunks + 1] = s:sub(off, off + 16383) end
local best = math.huge
for _ = 1, 3 do
  local p = core.sse_parser()
  local events = 0
  collectgarbage()
  local t0 = core.now()
  for i = 1, #chunks do events = events + #p:feed(chunks[i]) end
  local t = core.now() - t0
  assert(events == n)
  if t < best then best = t end
end
print(("%.0f %.0f"):format(#s / best / 1e6, n / best))
