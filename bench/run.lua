-- make bench: llmstream against the way plugins stream today, measured
-- side by side in one run on this machine. Every figure is the median of
-- RUNS runs; ratios are against the baselines measured in the same run.
-- Prints a markdown table and writes bench/RESULTS.md.
local RUNS = tonumber(os.getenv("BENCH_RUNS") or 3)
local OUT = "bench/out"
local META = dofile(OUT .. "/meta.lua")

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end
local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[math.floor((#s + 1) / 2)]
end
local function pct(list, p)
  table.sort(list)
  return list[math.max(1, math.ceil(#list * p))]
end
local function nums(s)
  local t = {}
  for x in s:gmatch("%S+") do t[#t + 1] = tonumber(x) end
  return t
end

local ENV = "env LUA_PATH='lua/?.lua;lua/?/init.lua;;' "
local L54 = ENV .. "LUA_CPATH='build/5.4/?.so;;' lua5.4 "
local LJ = ENV .. "LUA_CPATH='build/luajit/?.so;;' luajit "

-- the server
local pipe = io.popen("build/llmstream-testserver --fixtures " .. OUT .. " --max-seconds 900")
local port, spid = pipe:read("*l"):match("PORT (%d+) PID (%d+)")
local BASE = "http://127.0.0.1:" .. port
local rows, T = {}, {} -- T: the figures the targets are judged on
local function row(...) rows[#rows + 1] = "| " .. table.concat({ ... }, " | ") .. " |" end
local function say(s) io.stderr:write(s, "\n") end

-- machine line
local cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"):gsub("^%s+", ""):gsub("%s+$", "")
local machine = ("%s, %s cores, %s; %s; LuaJIT %s; Lua %s; curl %s"):format(cpu, sh("nproc"):gsub("%s", ""),
  (sh(". /etc/os-release; echo $PRETTY_NAME"):gsub("\n", "")), (sh("uname -r"):gsub("\n", "")),
  (sh("luajit -v"):match("LuaJIT (%S+)") or "?"), (sh("lua5.4 -v"):match("Lua (%S+)") or "?"),
  (sh("curl --version"):match("curl (%S+)") or "?"))

-- 1. parser ------------------------------------------------------------------
say("parser ...")
local c_mb, c_ev, l54, ljt = {}, {}, {}, {}
for _ = 1, RUNS do
  local r = nums(sh("build/bench_parser"))
  c_mb[#c_mb + 1], c_ev[#c_ev + 1] = r[1], r[2]
  l54[#l54 + 1] = nums(sh(L54 .. "bench/lua_feed.lua"))[2]
  ljt[#ljt + 1] = nums(sh(LJ .. "bench/lua_feed.lua"))[2]
end
rows[#rows + 1] = "\n### 1. Parser (64 MiB Anthropic-style stream, 16 KiB chunks)\n"
row("what", "result", "target", "status")
row("---", "---", "---", "---")
row("C alone", ("%d MB/s, %.1f M events/s"):format(median(c_mb), median(c_ev) / 1e6), ">= 1 GB/s, >= 5 M events/s",
  (median(c_mb) >= 1000 and median(c_ev) >= 5e6) and "met" or "missed")
row("Lua 5.4 `p:feed()` (a table per event)", ("%.2f M events/s"):format(median(l54) / 1e6), "-", "-")
row("LuaJIT `p:feed()` (a table per event)", ("%.2f M events/s"):format(median(ljt) / 1e6), ">= 2 M events/s",
  median(ljt) >= 2e6 and "met" or "missed")
T.c_mb, T.c_ev, T.ljt = median(c_mb), median(c_ev), median(ljt)

-- 2. end to end, one stream --------------------------------------------------
local function timed(cmd)
  local out = sh("/usr/bin/time -f '@@ %x %U %S %e %M' " .. cmd .. " 2>&1 >/dev/null")
  local x, u, s, e, m = out:match("@@ (%S+) (%S+) (%S+) (%S+) (%S+)")
  assert(x == "0", "failed: " .. cmd .. "\n" .. out)
  return tonumber(u) + tonumber(s), tonumber(e), tonumber(m)
end
local results = {}
for _, size in ipairs({ 1000000, 100000 }) do
  local name = "anthropic_" .. size
  local meta = META[name]
  local url = BASE .. "/blk=65536,f=" .. name
  local args = (" %q %d %d"):format(url, meta.deltas, meta.text_bytes)
  local clients = {
    { "llmstream, Lua 5.4", L54 .. "bench/e2e_llmstream.lua" .. args },
    { "llmstream, LuaJIT", LJ .. "bench/e2e_llmstream.lua" .. args },
    { "plugin way: LuaJIT + curl -sN + cjson", LJ .. "bench/e2e_plugin.lua" .. (" %q %d %d"):format(url .. "/v1/messages", meta.deltas, meta.text_bytes) },
    { "lower bound: curl -s -N -o /dev/null", ("curl -s -N -o /dev/null -X POST -d '{}' %q"):format(url .. "/v1/messages") },
  }
  results[size] = {}
  for _, c in ipairs(clients) do
    say(("end to end %d: %s ..."):format(size, c[1]))
    local cpus, walls, rss = {}, {}, {}
    for _ = 1, RUNS do
      local a, b, m = timed(c[2])
      cpus[#cpus + 1], walls[#walls + 1], rss[#rss + 1] = a, b, m
    end
    results[size][c[1]] = { cpu = median(cpus), wall = median(walls), rss = median(rss) }
  end
  local plugin = results[size]["plugin way: LuaJIT + curl -sN + cjson"]
  local floor = results[size]["lower bound: curl -s -N -o /dev/null"]
  rows[#rows + 1] = ("\n### 2. End to end, one stream of %s deltas (first byte to last `on_delta`)\n"):format(size == 1000000 and "1M" or "100k")
  row("client", "CPU s (user+sys)", "ns / delta", "wall s", "peak RSS MB", "CPU vs plugin way", "CPU vs curl -o /dev/null")
  row("---", "---", "---", "---", "---", "---", "---")
  for _, c in ipairs(clients) do
    local r = results[size][c[1]]
    row(c[1], ("%.2f"):format(r.cpu), ("%.0f"):format(r.cpu / size * 1e9), ("%.2f"):format(r.wall),
      ("%.1f"):format(r.rss / 1024), ("%.2fx"):format(r.cpu / plugin.cpu),
      floor.cpu > 0 and ("%.1fx"):format(r.cpu / floor.cpu) or "-")
  end
end

-- 3. concurrency -------------------------------------------------------------
rows[#rows + 1] = "\n### 3. Concurrency: N simultaneous 10k-delta streams (paced over ~2 s so all are open at once)\n"
row("N", "llmstream, luv loop (LuaJIT): CPU s", "KiB / stream", "peak fds", "all correct",
  "llmstream, llm.poll loop: CPU s", "KiB / stream", "one curl per stream: CPU s (curl alone)", "KiB / stream (sum of curl RSS)")
row("---", "---", "---", "---", "---", "---", "---", "---", "---")
local curl_rss = "curl -s -N -o /dev/null -X POST -d '{}' %q"
for _, n in ipairs({ 10, 100, 1000 }) do
  say(("concurrency %d ..."):format(n))
  local url = BASE .. "/blk=16384,rate=40,f=anthropic_10000"
  local m = { luv = { cpu = {}, mem = {}, fds = {}, ok = {} }, poll = { cpu = {}, mem = {}, fds = {}, ok = {} } }
  local cpu_c, mem_c = {}, {}
  for _ = 1, RUNS do
    for _, mode in ipairs({ "luv", "poll" }) do
      local r = nums(sh(LJ .. ("bench/concurrency.lua %q %d 10000 %s"):format(url, n, mode)))
      assert(#r == 5, "concurrency run failed")
      local t = m[mode]
      t.cpu[#t.cpu + 1], t.mem[#t.mem + 1], t.fds[#t.fds + 1], t.ok[#t.ok + 1] = r[1], r[3] / n, r[4], r[5]
    end
    -- the plugin way's transport: one curl process per stream
    local script = ("rm -rf %s/ct; mkdir -p %s/ct; for i in $(seq %d); do /usr/bin/time -f '@@ %%U %%S %%M' -o %s/ct/$i "
      .. curl_rss .. " & done; wait\n"):format(OUT, OUT, n, OUT, url .. "/v1/messages")
    local sf = io.open(OUT .. "/curl_many.sh", "w")
    sf:write(script)
    sf:close()
    sh("bash " .. OUT .. "/curl_many.sh")
    local cpu_sum, mem_sum = 0, 0
    for i = 1, n do
      local f = io.open(("%s/ct/%d"):format(OUT, i))
      local u, s, mm = f:read("*a"):match("@@ (%S+) (%S+) (%S+)")
      f:close()
      cpu_sum, mem_sum = cpu_sum + tonumber(u) + tonumber(s), mem_sum + tonumber(mm)
    end
    cpu_c[#cpu_c + 1], mem_c[#mem_c + 1] = cpu_sum, mem_sum / n
  end
  if n == 1000 then T.conc_mem, T.conc_ok, T.conc_poll_mem = median(m.luv.mem), median(m.luv.ok), median(m.poll.mem) end
  row(n, ("%.2f"):format(median(m.luv.cpu)), ("%.0f"):format(median(m.luv.mem)), median(m.luv.fds),
    ("%d/%d"):format(median(m.luv.ok), n), ("%.2f"):format(median(m.poll.cpu)), ("%.0f"):format(median(m.poll.mem)),
    ("%.2f"):format(median(cpu_c)), ("%.0f"):format(median(mem_c)))
end

-- 4. latency -----------------------------------------------------------------
say("latency ...")
rows[#rows + 1] = "\n### 4. Latency, server send -> the client has the text (100 deltas/s, 300 deltas a run)\n"
row("client", "p50 µs", "p99 µs")
row("---", "---", "---")
local url = BASE .. "/rate=100,stamp=1,f=stamp_300"
local lat = {
  { "llmstream, socket-driven luv loop (LuaJIT)", LJ .. ("bench/latency.lua %q luv"):format(url) },
  { "llmstream, llm.poll(100) loop (LuaJIT)", LJ .. ("bench/latency.lua %q poll"):format(url) },
  { "plugin way: curl -sN + line reads + cjson (LuaJIT)", LJ .. ("bench/latency_plugin.lua %q"):format(url) },
  { "floor: a raw TCP socket in luv, no HTTP or SSE parsing (LuaJIT)", LJ .. ("bench/latency_floor.lua %q"):format(url) },
}
for _, c in ipairs(lat) do
  local p50s, p99s = {}, {}
  for _ = 1, RUNS do
    local l = nums(sh(c[2]))
    p50s[#p50s + 1], p99s[#p99s + 1] = pct(l, 0.5), pct(l, 0.99)
  end
  row(c[1], ("%.0f"):format(median(p50s)), ("%.0f"):format(median(p99s)))
  T.lat = T.lat or {}
  T.lat[#T.lat + 1] = { p50 = median(p50s), p99 = median(p99s) }
end

-- 5. cancel ------------------------------------------------------------------
say("cancel ...")
rows[#rows + 1] = "\n### 5. Cancel: until the server sees the connection closed (100 tries a run)\n"
row("client", "p50 µs", "p99 µs")
row("---", "---", "---")
for _, c in ipairs({ { "llmstream `req:cancel()`", "llmstream" }, { "plugin way: kill the curl process", "curl" } }) do
  local p50s, p99s = {}, {}
  for _ = 1, RUNS do
    local l = nums(sh(LJ .. ("bench/cancel.lua %q %s 100"):format(BASE, c[2])))
    p50s[#p50s + 1], p99s[#p99s + 1] = pct(l, 0.5), pct(l, 0.99)
  end
  row(c[1], ("%.0f"):format(median(p50s)), ("%.0f"):format(median(p99s)))
  if c[2] == "llmstream" then T.cancel_p99 = median(p99s) end
end

-- 6. Neovim --------------------------------------------------------------------
say("neovim ...")
rows[#rows + 1] = "\n### 6. Neovim 0.7.2 headless: 2,000 deltas at 200/s into a chat buffer\n"
row("what", "result", "target")
row("---", "---", "---")
local p99s, ups, per = {}, {}, {}
for _ = 1, RUNS do
  local out = sh(("env -u ANTHROPIC_API_KEY LLMSTREAM_BASE=%q nvim --headless -n -u NONE -i NONE --cmd 'set rtp^=.' "
    .. "--cmd 'runtime! plugin/llmstream.lua' -c 'luafile bench/nvim_tick.lua' 2>&1"):format(BASE .. "/rate=200,f=anthropic_2000"))
  local r = nums(out:match("@@([^\n]*)") or "")
  assert(#r == 3, "nvim bench failed: " .. out)
  p99s[#p99s + 1], ups[#ups + 1], per[#per + 1] = r[1], r[2], r[3]
end
row("p99 time per tick in llmstream code (socket action + pump + buffer flush)", ("%.0f µs"):format(median(p99s)), "<= 1 ms")
row("buffer updates per second", ("%.0f"):format(median(ups)), "-")
row("buffer updates per tick with new text (max)", ("%d"):format(median(per)), "<= 1")
T.nv_p99, T.nv_per = median(p99s), median(per)

-- where each target stands --------------------------------------------------
local e = results[1000000]
local lj, pl, fl = e["llmstream, LuaJIT"], e["plugin way: LuaJIT + curl -sN + cjson"], e["lower bound: curl -s -N -o /dev/null"]
local luv, base = T.lat[1], T.lat[3]
local function st(ok) return ok and "met" or "missed" end
rows[#rows + 1] = "\n### Where each target stands (this run)\n"
row("target", "this run", "status")
row("---", "---", "---")
row("parser >= 1 GB/s and >= 5 M events/s in C", ("%d MB/s, %.1f M events/s"):format(T.c_mb, T.c_ev / 1e6), st(T.c_mb >= 1000 and T.c_ev >= 5e6))
row("through Lua >= 2 M events/s on LuaJIT", ("%.2f M events/s"):format(T.ljt / 1e6), st(T.ljt >= 2e6))
row("end to end <= 1/10 of the plugin way's CPU (<= 240 ns/delta)", ("%.0f ns/delta, %.2fx the plugin way (LuaJIT)"):format(lj.cpu * 1e3, lj.cpu / pl.cpu),
  st(lj.cpu / pl.cpu <= 0.1))
row("aim: <= 2x the curl -o /dev/null lower bound", ("%.1fx"):format(lj.cpu / math.max(fl.cpu, 0.001)), st(lj.cpu <= 2 * fl.cpu))
row("1,000 concurrent streams, all correct", ("%d/1000"):format(T.conc_ok), st(T.conc_ok == 1000))
row("<= 100 KiB memory per stream at 1,000", ("%.0f KiB (luv loop), %.0f KiB (llm.poll loop)"):format(T.conc_mem, T.conc_poll_mem), st(T.conc_mem <= 100))
local floor = T.lat[4]
row("latency p50 <= 150 µs, p99 <= 400 µs (socket-driven)", ("%.0f / %.0f µs (this machine's floor, a raw socket: %.0f / %.0f µs)")
  :format(luv.p50, luv.p99, floor.p50, floor.p99), st(luv.p50 <= 150 and luv.p99 <= 400))
row("latency below every baseline", ("p50 %.0f vs %.0f µs, p99 %.0f vs %.0f µs (plugin way)"):format(luv.p50, base.p50, luv.p99, base.p99),
  st(luv.p50 < base.p50 and luv.p99 < base.p99))
row("cancel p99 <= 1 ms", ("%.0f µs"):format(T.cancel_p99), st(T.cancel_p99 <= 1000))
row("Neovim p99 per tick <= 1 ms, <= 1 buffer update per tick", ("%.0f µs, %d"):format(T.nv_p99, T.nv_per), st(T.nv_p99 <= 1000 and T.nv_per <= 1))

os.execute("kill " .. spid)
pipe:close()

local text = ("# llmstream benchmarks\n\nMachine: %s.\nRun: `make bench`, %s, median of %d runs.\n%s\n")
  :format(machine, os.date("!%Y-%m-%d %H:%M UTC"), RUNS, table.concat(rows, "\n"))
print(text)
local f = io.open("bench/RESULTS.md", "w")
f:write(text)
f:close()
