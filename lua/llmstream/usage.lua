--- Token usage and cost.
---
--- Prices are USD per million tokens: input, output, cache write (creation)
--- and cache read. They are the providers' list prices as of 2025 and can
--- be overridden per client with `price = { ["model"] = {input=, output=,
--- cache_write=, cache_read=} }`. A model not in the table has no cost
--- (nil), never a guessed one.
local M = {}

---@class llmstream.Usage
---@field input_tokens integer?
---@field output_tokens integer?
---@field cache_creation_input_tokens integer?
---@field cache_read_input_tokens integer?
---@field cost_usd number?

local P = function(i, o, cw, cr) return { input = i, output = o, cache_write = cw, cache_read = cr } end

M.prices = {
  -- Anthropic (cache write = 5-minute TTL price)
  ["claude-opus-4-5"] = P(5, 25, 6.25, 0.50),
  ["claude-opus-4-1"] = P(15, 75, 18.75, 1.50),
  ["claude-opus-4-0"] = P(15, 75, 18.75, 1.50),
  ["claude-opus-4"] = P(15, 75, 18.75, 1.50),
  ["claude-sonnet-4-5"] = P(3, 15, 3.75, 0.30),
  ["claude-sonnet-4-0"] = P(3, 15, 3.75, 0.30),
  ["claude-sonnet-4"] = P(3, 15, 3.75, 0.30),
  ["claude-3-7-sonnet"] = P(3, 15, 3.75, 0.30),
  ["claude-haiku-4-5"] = P(1, 5, 1.25, 0.10),
  ["claude-3-5-haiku"] = P(0.80, 4, 1, 0.08),
  ["claude-3-haiku"] = P(0.25, 1.25, 0.30, 0.03),
  -- OpenAI (no cache write charge; cached input billed at cache_read)
  ["gpt-5"] = P(1.25, 10, 0, 0.125),
  ["gpt-5-mini"] = P(0.25, 2, 0, 0.025),
  ["gpt-5-nano"] = P(0.05, 0.40, 0, 0.005),
  ["gpt-4.1"] = P(2, 8, 0, 0.50),
  ["gpt-4.1-mini"] = P(0.40, 1.60, 0, 0.10),
  ["gpt-4.1-nano"] = P(0.10, 0.40, 0, 0.025),
  ["gpt-4o"] = P(2.50, 10, 0, 1.25),
  ["gpt-4o-mini"] = P(0.15, 0.60, 0, 0.075),
  ["o3"] = P(2, 8, 0, 0.50),
  ["o4-mini"] = P(1.10, 4.40, 0, 0.275),
  -- Groq
  ["llama-3.3-70b-versatile"] = P(0.59, 0.79, 0, 0),
  ["llama-3.1-8b-instant"] = P(0.05, 0.08, 0, 0),
  -- the bundled offline demo server
  ["demo"] = P(0, 0, 0, 0),
}

--- The price entry for a model id: exact, then without a date suffix
--- ("claude-haiku-4-5-20251001", "gpt-4o-2024-08-06").
function M.price_for(model, overrides)
  if type(model) ~= "string" then return nil end
  local candidates = {
    model,
    (model:gsub("%-%d%d%d%d%d%d%d%d$", "")),
    (model:gsub("%-%d%d%d%d%-%d%d%-%d%d$", "")),
    (model:gsub("%-latest$", "")),
  }
  for _, tbl in ipairs({ overrides or {}, M.prices }) do
    for _, name in ipairs(candidates) do
      if tbl[name] then return tbl[name] end
    end
  end
  return nil
end

--- Cost in USD of one reply's usage. `input_includes_cache`: OpenAI-style
--- prompt_tokens count cached tokens too (billed at the cache price).
function M.cost(u, model, overrides, input_includes_cache)
  if not u or not u.input_tokens then return nil end
  local p = M.price_for(model, overrides)
  if not p then return nil end
  local input = u.input_tokens or 0
  local cw = u.cache_creation_input_tokens or 0
  local cr = u.cache_read_input_tokens or 0
  if input_includes_cache then input = input - cr - cw end
  return (input * (p.input or 0) + (u.output_tokens or 0) * (p.output or 0)
    + cw * (p.cache_write or p.input or 0) + cr * (p.cache_read or p.input or 0)) / 1e6
end

local FIELDS = { "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens" }
M.FIELDS = FIELDS

--- A fresh cumulative record.
function M.new_total()
  return { input_tokens = 0, output_tokens = 0, cache_creation_input_tokens = 0,
           cache_read_input_tokens = 0, cost_usd = nil, replies = 0 }
end

--- Add one reply's usage to a cumulative record (in place).
function M.add(total, u)
  if not u then return total end
  for _, f in ipairs(FIELDS) do total[f] = (total[f] or 0) + (u[f] or 0) end
  if u.cost_usd then total.cost_usd = (total.cost_usd or 0) + u.cost_usd
  elseif u.input_tokens then total.cost_unknown = true end
  total.replies = (total.replies or 0) + 1
  return total
end

--- "in 16 · out 10 · $0.000066" style summary.
function M.format(u)
  if not u then return "usage not reported" end
  local parts = { ("in %d"):format(u.input_tokens or 0), ("out %d"):format(u.output_tokens or 0) }
  local cr, cw = u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0
  if cw > 0 then parts[#parts + 1] = ("cache write %d"):format(cw) end
  if cr > 0 then parts[#parts + 1] = ("cache read %d"):format(cr) end
  parts[#parts + 1] = u.cost_usd and ("$%.6f"):format(u.cost_usd) or "cost unknown"
  return table.concat(parts, " · ")
end

return M
