--- Helpers shared by the providers: reply state, error shaping, JSON.
local cjson = require("cjson.safe")

local M = {}
M.cjson = cjson
M.null = cjson.null

--- A number from decoded JSON (cjson.null and non-numbers are nil).
function M.num(v) return type(v) == "number" and math.floor(v) or nil end
function M.str(v) return type(v) == "string" and v or nil end

--- Fresh per-attempt reply state.
function M.new_state()
  return { blocks = {}, by_index = {}, usage = nil, stop_reason = nil,
           provider_stop_reason = nil, complete = false, finished = false }
end

--- Append a text piece to a block. Every 1024 pieces are joined into one
--- string (b.done), so a long reply holds a few large strings instead of
--- a million small ones; each byte is copied at most twice.
function M.add_text(b, text)
  local p = b.parts
  local n = #p + 1
  p[n] = text
  if n == 1024 then
    local done = b.done or {}
    done[#done + 1] = table.concat(p)
    b.done, b.parts = done, {}
  end
end

local function block_text(b)
  if not b.done then return table.concat(b.parts) end
  return table.concat(b.done) .. table.concat(b.parts)
end

--- The reply (or partial reply) as the public API shows it.
function M.reply(st)
  local content, texts = {}, {}
  for i, b in ipairs(st.blocks) do
    local out = {}
    for k, v in pairs(b) do if k ~= "parts" and k ~= "json" and k ~= "done" then out[k] = v end end
    if b.type == "text" then
      out.text = block_text(b)
      texts[#texts + 1] = out.text
    elseif b.type == "thinking" then
      out.thinking = block_text(b)
      out.signature = b.signature or ""
    end
    content[i] = out
  end
  return {
    text = table.concat(texts),
    content = content,
    usage = st.usage,
    stop_reason = st.stop_reason,
    provider_stop_reason = st.provider_stop_reason,
    id = st.id,
    model = st.model,
  }
end

--- An error inside a stream or a body: {kind=, message=, type=, code=, ...}
function M.err(kind, message, extra)
  local e = { kind = kind, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

function M.invalid_json(what, detail)
  return M.err("protocol", ("malformed stream: %s is not valid JSON (%s)"):format(what, detail or "decode failed"),
    { type = "invalid_json" })
end

--- Decode a tool input assembled from fragments: "" or nothing means {}.
function M.decode_input(s)
  if s == nil or s == "" then return {} end
  local v, e = cjson.decode(s)
  if v == nil then return nil, e end
  return v
end

local REASONS = { [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [408] = "Request Timeout", [409] = "Conflict", [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout", [529] = "Overloaded" }

--- Shape an HTTP error from the body both provider families use:
--- Anthropic {"type":"error","error":{type,message},"request_id"},
--- OpenAI {"error":{message,type,param,code}}; anything else (an HTML page
--- from a proxy) gives a message naming the status, never the raw body.
function M.http_error(status, body)
  local e = { kind = "http", status = status }
  local o = body and body ~= "" and cjson.decode(body) or nil
  local pe = type(o) == "table" and o.error or nil
  local pmsg
  if type(pe) == "table" then
    e.type = M.str(pe.type)
    e.code = pe.code ~= M.null and pe.code or nil
    pmsg = M.str(pe.message)
  elseif type(pe) == "string" then
    pmsg = pe
  elseif type(o) == "table" and M.str(o.message) then
    pmsg = o.message
  end
  if type(o) == "table" then e.request_id = M.str(o.request_id) end
  local label = ("HTTP %d %s"):format(status, REASONS[status] or "error")
  e.from_provider = pmsg ~= nil and pmsg ~= ""
  if e.from_provider then
    e.message = ("%s (%s%s)"):format(pmsg, label, e.type and (", " .. e.type) or "")
  else
    e.message = label .. (body and body ~= "" and " (the body was not a provider error)" or "")
  end
  return e
end

return M
