-- The way Neovim AI plugins stream today: a `curl -sN` child, its stdout
-- read in Lua, lines split, every data: line decoded with cjson, the text
-- concatenated. Run under /usr/bin/time (which counts the curl child).
local cjson = require("cjson")
local url, want_deltas, want_bytes = arg[1], tonumber(arg[2]), tonumber(arg[3])
local p = io.popen(("curl -sN -X POST -H 'content-type: application/json' -d '{}' %q"):format(url))
local parts, n, bytes = {}, 0, 0
for line in p:lines() do
  if line:sub(1, 6) == "data: " then
    local ok, o = pcall(cjson.decode, line:sub(7))
    if ok and o.type == "content_block_delta" and o.delta.type == "text_delta" then
      parts[#parts + 1] = o.delta.text
      n = n + 1
      bytes = bytes + #o.delta.text
    end
  end
end
p:close()
local text = table.concat(parts)
assert(n == want_deltas and #text == want_bytes, ("got %d deltas %d bytes"):format(n, #text))
print(n, bytes)
