-- Loaded by busted before every spec file (--helper): point package.cpath
-- at the module built for the running interpreter.
local cpath = os.getenv("LLMSTREAM_CPATH")
if cpath then package.cpath = cpath .. ";" .. package.cpath end
