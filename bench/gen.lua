-- Generate benchmark streams: Anthropic-style with N text deltas of 1-6
-- byte tokens and a ping every 300 events. Usage: lua gen.lua DIR
local dir = arg[1] or "bench/out"
os.execute("mkdir -p " .. dir)
local words = { "a", "to", "the", "and", "of", "in", "is", "it", "you", "that", "was", "for", "on",
  "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had",
  "by", "hot", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there" }

local function anthropic(n, path)
  local f = assert(io.open(path, "wb"))
  f:write('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}\n\n')
  f:write('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n')
  local total, buf = 0, {}
  for i = 1, n do
    local w = words[(i * 7) % #words + 1]
    local tok = (i % 3 == 0) and w or (" " .. w)
    tok = tok:sub(1, 6)
    total = total + #tok
    buf[#buf + 1] = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
      .. tok .. '"}}\n\n'
    if i % 300 == 0 then buf[#buf + 1] = 'event: ping\ndata: {"type": "ping"}\n\n' end
    if #buf > 4096 then f:write(table.concat(buf)); buf = {} end
  end
  f:write(table.concat(buf))
  f:write('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n')
  f:write(('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}\n\n'):format(n))
  f:write('event: message_stop\ndata: {"type":"message_stop"}\n\n')
  f:close()
  return total
end

local meta = assert(io.open(dir .. "/meta.lua", "w"))
meta:write("return {\n")
for _, n in ipairs({ 1000, 2000, 10000, 100000, 1000000 }) do
  local name = ("anthropic_%d"):format(n)
  local bytes = anthropic(n, dir .. "/" .. name .. ".sse")
  meta:write(("  [%q] = { deltas = %d, text_bytes = %d },\n"):format(name, n, bytes))
end
-- latency: 300 deltas whose text the server replaces with the send time
local name = "stamp_300"
local f = assert(io.open(dir .. "/" .. name .. ".sse", "wb"))
f:write('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}\n\n')
f:write('event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n')
for _ = 1, 300 do
  f:write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"@@@@@@@@@@@@@@@@"}}\n\n')
end
f:write('event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":300}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n')
f:close()
meta:write("}\n")
meta:close()
