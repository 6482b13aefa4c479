-- Start and stop the local test server (build/llmstream-testserver) from
-- specs, and small helpers shared by the specs.
local core = require("llmstream.core")

local M = {}

M.fixtures = os.getenv("LLMSTREAM_FIXTURES") or "../shared/fixtures"
M.binary = os.getenv("LLMSTREAM_TESTSERVER") or "build/llmstream-testserver"

--- Start a server; returns an object with .port, .url(opts, path), :stats(), :stop().
function M.start()
  local cmd = string.format("%s --fixtures %q --fixtures spec/fixtures --max-seconds 900", M.binary, M.fixtures)
  local pipe = assert(io.popen(cmd, "r"))
  local line = pipe:read("*l")
  assert(line, "test server did not start: " .. cmd)
  local port, pid = line:match("^PORT (%d+) PID (%d+)")
  assert(port, "unexpected first line from the test server: " .. tostring(line))
  local s = { port = tonumber(port), pid = tonumber(pid), pipe = pipe }
  s.base = "http://127.0.0.1:" .. port
  --- URL for options such as "f=anthropic_text_short,rate=50" and a path.
  function s.url(opts, path)
    return s.base .. (opts and opts ~= "" and ("/" .. opts) or "") .. (path or "/v1/messages")
  end
  function s.stats()
    local m = core.multi()
    local t = m:start({ url = s.base .. "/stats", idle_timeout = 5 })
    local deadline = core.now() + 5
    while m:poll(50) > 0 and core.now() < deadline do end
    local body = t:body()
    t:close(); m:close()
    local out = {}
    for k, v in body:gmatch('"(%w+_?%w*)":(%d+)') do out[k] = tonumber(v) end
    return out
  end
  function s.stop()
    os.execute("kill " .. s.pid .. " 2>/dev/null")
    pipe:close()
  end
  return s
end

--- Read a fixture file whole.
function M.read(name)
  local f = assert(io.open(M.fixtures .. "/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

--- Fixture names with the given extension, sorted.
function M.list(ext)
  local names = {}
  local p = assert(io.popen("ls " .. M.fixtures))
  for name in p:lines() do
    local base = name:match("^(.*)%." .. ext .. "$")
    if base then names[#names + 1] = base end
  end
  p:close()
  table.sort(names)
  return names
end

--- Number of open file descriptors of this process.
function M.fd_count()
  local f = io.open("/proc/self/stat")
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  local p = io.popen("ls /proc/" .. pid .. "/fd | wc -l")
  local n = tonumber(p:read("*l"))
  p:close()
  return n - 1 -- the pipe of this very popen
end

--- Resident memory of this process, in KiB.
function M.rss_kb()
  local f = io.open("/proc/self/status")
  local kb = tonumber(f:read("*a"):match("VmRSS:%s+(%d+)"))
  f:close()
  return kb
end

--- Wait until cond() is true or the deadline passes (polling the multi if given).
function M.wait_for(cond, seconds, multi)
  local deadline = core.now() + (seconds or 5)
  while not cond() do
    if core.now() > deadline then return false end
    if multi then multi:poll(20) else core.sleep(0.01) end
  end
  return true
end

return M
