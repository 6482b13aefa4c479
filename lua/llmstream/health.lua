--- :checkhealth llmstream (require("health") on 0.7, vim.health later).
local M = {}

local function reporter()
  local h = vim.health or require("health")
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
    info = h.info or h.report_info,
  }
end

function M.check()
  local r = reporter()
  r.start("llmstream")
  local ok, core = pcall(require, "llmstream.core")
  if not ok then
    r.error("the C module llmstream.core does not load: " .. tostring(core),
      { "run `make nvim` in the plugin directory (needs libcurl4-openssl-dev and libluajit-5.1-dev)" })
    return
  end
  local v = core.version()
  if v.lua_version_num == 501 then
    r.ok(("llmstream.core %s loads (Lua 5.1 / LuaJIT ABI)"):format(v.llmstream))
  else
    r.error(("llmstream.core was built for Lua ABI %d, Neovim needs 5.1/LuaJIT"):format(v.lua_version_num),
      { "rebuild with `make nvim`" })
  end
  r.ok(("libcurl %s, TLS: %s, HTTP/2: %s"):format(v.curl, v.ssl, v.http2 and "yes" or "no"))
  if v.ssl == "none" then r.error("libcurl has no TLS: https providers will fail") end
  local cj = pcall(require, "cjson")
  if cj then r.ok("JSON: lua-cjson (only for rare events; text deltas use the core's JSON path picker)")
  else r.error("lua-cjson is missing", { "install lua-cjson (Debian) or `luarocks --lua-version 5.1 install lua-cjson`" }) end
  local any = false
  for _, name in ipairs({ "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GROQ_API_KEY" }) do
    if (os.getenv(name) or "") ~= "" then
      any = true
      r.ok(name .. " is set") -- the name only, never the value
    end
  end
  if not any then
    r.warn("no API key variable is set: :LLMChat uses the offline demo server",
      { "set ANTHROPIC_API_KEY, OPENAI_API_KEY or GROQ_API_KEY, or pass client = { api_key_cmd = ... } to setup()" })
  end
  local nv = package.loaded["llmstream.nvim"]
  if nv then r.info(("uv handles open for transfers: %d"):format(nv.open_handles())) end
end

return M
