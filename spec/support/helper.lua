-- Loaded by busted before every spec file (--helper): point package.cpath
-- at the module built for the running interpreter.
local cpath = os.getenv("LLMSTREAM_CPATH")
if cpath then package.cpath = cpath .. ";" .. package.cpath end

-- luv once for the whole run: busted unloads the modules a spec file
-- loaded when the file ends, and a luv that is loaded again after its first
-- instance was collected runs on a closed loop (a crash in uv_timer_init).
pcall(require, "luv")
