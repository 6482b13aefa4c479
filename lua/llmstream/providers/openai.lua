--- OpenAI-compatible Chat Completions, streaming (OpenAI, and through the
--- small tables at the end Groq and local servers: llama.cpp, Ollama,
--- vLLM, LM Studio).
local core = require("llmstream.core")
local C = require("llmstream.providers.common")

local cjson, num, str, null, add_text = C.cjson, C.num, C.str, C.null, C.add_text

local M = {
  name = "openai",
  base_url = "https://api.openai.com/v1",
  key_env = "OPENAI_API_KEY",
  input_includes_cache = true,
}

--- History -> API messages: a system message first; assistant replies with
--- tool_use blocks become content + tool_calls.
local function api_messages(messages, system)
  local out = {}
  if system and system ~= "" then out[1] = { role = "system", content = system } end
  for _, m in ipairs(messages) do
    if type(m.content) == "table" then
      local texts, calls = {}, {}
      for _, b in ipairs(m.content) do
        if b.type == "text" then texts[#texts + 1] = b.text
        elseif b.type == "tool_use" then
          calls[#calls + 1] = { id = b.id, type = "function",
            ["function"] = { name = b.name, arguments = cjson.encode(b.input or {}) } }
        end
      end
      out[#out + 1] = { role = m.role, content = table.concat(texts),
        tool_calls = #calls > 0 and calls or nil }
    else
      out[#out + 1] = { role = m.role, content = m.content }
    end
  end
  return out
end

function M.request(client, messages, system, key)
  local body = {
    model = client.model,
    messages = api_messages(messages, system),
    stream = true,
    max_tokens = client.max_tokens,
    temperature = client.temperature,
    stop = client.stop_sequences,
  }
  if client.include_usage then body.stream_options = { include_usage = true } end
  local headers = { "content-type: application/json", "accept: text/event-stream" }
  if key then headers[#headers + 1] = "authorization: Bearer " .. key end
  return client.base_url .. "/chat/completions", headers, cjson.encode(body)
end

M.new_state = C.new_state

local STOP = { stop = "end_turn", length = "max_tokens", tool_calls = "tool_use",
  function_call = "tool_use", content_filter = "refusal" }

local function text_block(st)
  local b = st.text_block
  if not b then
    b = { type = "text", parts = {} }
    st.text_block = b
  end
  return b
end

local function usage_from(u)
  if type(u) ~= "table" then return nil end
  local out = { input_tokens = num(u.prompt_tokens) or 0, output_tokens = num(u.completion_tokens) or 0 }
  local d = u.prompt_tokens_details
  if type(d) == "table" and num(d.cached_tokens) then out.cache_read_input_tokens = num(d.cached_tokens) end
  return out
end

local function api_error(e)
  if type(e) ~= "table" then e = { message = str(e) } end
  local msg = str(e.message) or "the server reported an error"
  local code = e.code ~= null and e.code or nil
  local typ = str(e.type)
  return C.err("api", typ and ("%s (%s)"):format(msg, typ) or msg, { type = typ, code = code })
end

local function slow_chunk(st, name, data, emit)
  local o, derr = cjson.decode(data)
  if type(o) ~= "table" then return C.invalid_json("a data line", derr) end
  if o.error ~= nil and o.error ~= null or name == "error" then return api_error(o.error or o) end
  local c = type(o.choices) == "table" and o.choices[1] or nil
  if st.id == nil then st.id, st.model = str(o.id), str(o.model) end -- the first slow chunk
  if type(c) == "table" then
    local d = type(c.delta) == "table" and c.delta or {}
    if str(d.content) and d.content ~= "" then
      add_text(text_block(st), d.content)
      emit(d.content)
    end
    if type(d.tool_calls) == "table" then
      st.calls = st.calls or {}
      for _, tc in ipairs(d.tool_calls) do
        local idx = num(tc.index) or 0
        local call = st.calls[idx]
        if not call then
          call = { index = idx, json = {} }
          st.calls[idx] = call
        end
        call.id = str(tc.id) or call.id
        local f = type(tc["function"]) == "table" and tc["function"] or {}
        call.name = str(f.name) or call.name
        if str(f.arguments) then call.json[#call.json + 1] = f.arguments end
      end
    end
    if str(c.finish_reason) then
      st.provider_stop_reason = c.finish_reason
      st.stop_reason = STOP[c.finish_reason] or c.finish_reason
    end
  end
  -- usage: the include_usage chunk, or Groq's x_groq.usage (same numbers)
  local u = usage_from(o.usage) or (type(o.x_groq) == "table" and usage_from(o.x_groq.usage))
  if u then st.usage = u end
  return nil
end

--- Plain content chunks the core recognises while draining: no finish
--- reason, tool call, usage or error in them. drain() hands them over as
--- (0, text); everything else comes as (event name, data).
M.hot = core.hotpath({ event = "message", text = "choices.0.delta.content", text_optional = true,
  absent = { "choices.0.finish_reason", "choices.0.delta.tool_calls", "usage", "error", "x_groq.usage" } })

function M.on_events(st, buf, n, emit)
  for i = 1, n do
    if st.finished then return nil end -- nothing after [DONE] is read
    local name, data = buf[2 * i - 1], buf[2 * i]
    if type(name) == "number" then
      if data ~= "" then
        add_text(st.text_block or text_block(st), data)
        emit(data)
      end
    elseif data == "[DONE]" then
      st.finished = true
      return nil
    else
      local e = slow_chunk(st, name, data, emit)
      if e then return e end
    end
  end
  return nil
end

--- Complete = a finish_reason arrived (with or without [DONE]). Builds the
--- content blocks: one text block (if any text), then tool calls by index.
function M.finish(st)
  local blocks = {}
  if st.text_block and (#st.text_block.parts > 0 or st.text_block.done) then blocks[1] = st.text_block end
  if st.calls then
    local idx = {}
    for k in pairs(st.calls) do idx[#idx + 1] = k end
    table.sort(idx)
    for _, k in ipairs(idx) do
      local c = st.calls[k]
      local input, e = C.decode_input(table.concat(c.json))
      if input == nil then return C.invalid_json("the arguments of tool call " .. k, e) end
      blocks[#blocks + 1] = { type = "tool_use", id = c.id, name = c.name, input = input }
    end
  end
  st.blocks = blocks
  if st.stop_reason then return nil end
  return C.err("protocol", "incomplete stream: the connection ended before a finish_reason",
    { type = "incomplete_stream" })
end

--- A partial reply (error or cancel) lists what arrived so far.
function M.partial(st)
  local blocks = {}
  if st.text_block then blocks[1] = st.text_block end
  st.blocks = blocks
end

M.http_error = C.http_error

--- Groq and local servers: the same protocol, other defaults.
M.variants = {
  groq = { name = "groq", base_url = "https://api.groq.com/openai/v1", key_env = "GROQ_API_KEY" },
  ["openai-compatible"] = { name = "openai-compatible", base_url = "http://127.0.0.1:8080/v1",
    key_env = "OPENAI_COMPATIBLE_API_KEY", key_optional = true },
}

return M
