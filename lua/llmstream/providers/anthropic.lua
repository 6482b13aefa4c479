--- Anthropic Messages API, streaming.
--- Events: message_start, content_block_start/delta/stop, message_delta,
--- message_stop, ping, error; unknown events and delta types are ignored.
local core = require("llmstream.core")
local C = require("llmstream.providers.common")

local cjson, num, str, add_text = C.cjson, C.num, C.str, C.add_text

local M = {
  name = "anthropic",
  base_url = "https://api.anthropic.com",
  key_env = "ANTHROPIC_API_KEY",
  input_includes_cache = false,
}

--- History message -> API message. Assistant replies with blocks send the
--- blocks back (thinking blocks keep their signature); empty replies are
--- left out (the API rejects empty text).
local function api_messages(messages)
  local out = {}
  for _, m in ipairs(messages) do
    local content = m.content
    if type(content) == "table" then
      local blocks = {}
      for _, b in ipairs(content) do
        if not (b.type == "text" and (b.text or "") == "") then blocks[#blocks + 1] = b end
      end
      content = #blocks > 0 and blocks or nil
    elseif content == "" then
      content = nil
    end
    if content then out[#out + 1] = { role = m.role, content = content } end
  end
  return out
end

function M.request(client, messages, system, key)
  local body = {
    model = client.model,
    max_tokens = client.max_tokens,
    messages = api_messages(messages),
    stream = true,
    system = system,
    temperature = client.temperature,
    stop_sequences = client.stop_sequences,
    thinking = client.thinking,
  }
  local headers = {
    "content-type: application/json",
    "accept: text/event-stream",
    "anthropic-version: 2023-06-01",
  }
  if key then headers[#headers + 1] = "x-api-key: " .. key end
  return client.base_url .. "/v1/messages", headers, cjson.encode(body)
end

M.new_state = C.new_state

local function usage_from(u, into)
  if type(u) ~= "table" then return into end
  into = into or {}
  for _, f in ipairs({ "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens" }) do
    local v = num(u[f])
    if v then into[f] = v end -- message_delta carries cumulative totals: overwrite
  end
  return into
end

local STOP = { end_turn = "end_turn", max_tokens = "max_tokens", stop_sequence = "stop_sequence",
  tool_use = "tool_use" }

local function start_block(st, index, cb)
  local b
  if cb.type == "text" then
    b = { type = "text", parts = { str(cb.text) or "" } }
  elseif cb.type == "thinking" then
    b = { type = "thinking", parts = { str(cb.thinking) or "" }, signature = str(cb.signature) }
  elseif cb.type == "tool_use" or cb.type == "server_tool_use" then
    b = { type = cb.type, id = cb.id, name = cb.name, json = {} }
  else -- redacted_thinking and future block types: kept as sent
    b = {}
    for k, v in pairs(cb) do b[k] = v end
  end
  st.blocks[#st.blocks + 1] = b
  st.by_index[index] = b
end

-- The rare events: decoded whole with lua-cjson.
local function slow_event(st, name, data, emit)
  local o, derr = cjson.decode(data)
  if type(o) ~= "table" then return C.invalid_json("a " .. name .. " event", derr) end
  local t = o.type or name
  if t == "message_start" then
    local m = type(o.message) == "table" and o.message or {}
    st.id, st.model = str(m.id), str(m.model)
    st.usage = usage_from(m.usage, st.usage)
  elseif t == "content_block_start" then
    if type(o.content_block) == "table" then start_block(st, num(o.index) or #st.blocks, o.content_block) end
  elseif t == "content_block_delta" then
    local b, d = st.by_index[num(o.index) or -1], o.delta
    if b and type(d) == "table" then
      if d.type == "text_delta" and str(d.text) then
        if d.text ~= "" then add_text(b, d.text); emit(d.text) end
      elseif d.type == "input_json_delta" and b.json then
        b.json[#b.json + 1] = str(d.partial_json) or ""
      elseif d.type == "thinking_delta" and b.parts then
        add_text(b, str(d.thinking) or "")
      elseif d.type == "signature_delta" then
        b.signature = str(d.signature)
      end
    end
  elseif t == "content_block_stop" then
    local b = st.by_index[num(o.index) or -1]
    if b and b.json then
      local input, e = C.decode_input(table.concat(b.json))
      if input == nil then return C.invalid_json("the tool input of block " .. tostring(o.index), e) end
      b.input, b.json = input, nil
    end
  elseif t == "message_delta" then
    local d = type(o.delta) == "table" and o.delta or {}
    if str(d.stop_reason) then
      st.provider_stop_reason = d.stop_reason
      st.stop_reason = STOP[d.stop_reason] or d.stop_reason
    end
    st.usage = usage_from(o.usage, st.usage)
  elseif t == "message_stop" then
    st.complete = true
    st.finished = true
  elseif t == "error" then
    local e = type(o.error) == "table" and o.error or {}
    local msg = str(e.message) or "the provider reported an error"
    return C.err("api", ("%s (%s)"):format(msg, str(e.type) or "error"), { type = str(e.type), code = e.code })
  end
  return nil
end

--- Text deltas the core recognises while draining: drain() hands them
--- over as (block index, text) instead of (event name, JSON).
M.hot = core.hotpath({ event = "content_block_delta", text = "delta.text", index = "index",
  match = { "delta.type", "text_delta" },
  -- the shape the API sends, checked first; any other shape takes the full scan
  template = '{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}' })

--- Handle a drained batch: buf[2i-1] = event name (or a block index for a
--- hot text delta), buf[2i] = data (or the text). Returns an error table
--- to end the reply, or nil.
function M.on_events(st, buf, n, emit)
  for i = 1, n do
    if st.finished then return nil end -- nothing after message_stop counts
    local name, data = buf[2 * i - 1], buf[2 * i]
    if type(name) == "number" then
      local b = st.by_index[name]
      if b and b.parts and data ~= "" then
        add_text(b, data)
        emit(data)
      end
    elseif name ~= "ping" then
      local e = slow_event(st, name, data, emit)
      if e then return e end
    end
  end
  return nil
end

--- The stream ended normally: complete only if message_stop came.
function M.finish(st)
  if st.complete then return nil end
  return C.err("protocol", "incomplete stream: the connection ended before message_stop",
    { type = "incomplete_stream" })
end

M.http_error = C.http_error

return M
