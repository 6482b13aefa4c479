/* libFuzzer target for the chunk -> events -> Lua path: the real module
   (lcore.c) in an embedded Lua 5.4. The input is cut into chunks, fed to
   core.sse_parser() from Lua, and every event's data goes through
   core.jpick() with the providers' paths; a closed parser must raise. */
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_llmstream_core(lua_State *L);

static const char *SCRIPT =
    "local core, s, cut = ...\n"
    "local p = core.sse_parser(4096)\n"
    "local pos, n = 1, 0\n"
    "while pos <= #s do\n"
    "  local len = (cut % 13) + 1 + (n % 5)\n"
    "  local evs, err = p:feed(s:sub(pos, pos + len - 1))\n"
    "  for _, e in ipairs(evs) do\n"
    "    assert(type(e.event) == 'string' and type(e.data) == 'string')\n"
    "    core.jpick(e.data, 'delta.type', 'delta.text', 'index', 'choices.0.delta.content',\n"
    "      'choices.0.finish_reason', 'usage', 'error', 'x_groq.usage')\n"
    "  end\n"
    "  if err then break end\n"
    "  pos, n = pos + len, n + 1\n"
    "end\n"
    "core.jpick(s, 'a', '0', 'a.b.c', '')\n"
    "p:close()\n"
    "assert(not pcall(p.feed, p, 'x'))\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  if (!L) return 0;
  luaL_openlibs(L);
  if (luaL_loadstring(L, SCRIPT) != LUA_OK) abort();
  luaopen_llmstream_core(L);
  lua_pushlstring(L, (const char *)data, size);
  lua_pushinteger(L, size ? data[0] : 0);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    /* an assert in the script failing is a bug; report it */
    const char *msg = lua_tostring(L, -1);
    if (msg) abort();
  }
  lua_close(L);
  return 0;
}
