/* compat.h - the few Lua C API differences between Lua 5.1 / LuaJIT 2.1
   and Lua 5.2-5.4 that lcore.c uses. Plain Lua 5.1 (LuaRocks'
   --lua-version 5.1) lacks luaL_setfuncs and luaL_setmetatable, which
   LuaJIT has, so both get ls_ versions here under names of our own. */
#ifndef LLMSTREAM_COMPAT_H
#define LLMSTREAM_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen(L, (i))
static void ls_setfuncs(lua_State *L, const luaL_Reg *l) {
  for (; l->name; l++) {
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -2, l->name);
  }
}
#define ls_setmetatable(L, name) \
  (luaL_getmetatable(L, (name)), lua_setmetatable(L, -2))
/* One user value per userdata; 5.1 keeps it as the environment table. */
#define ls_newuserdata(L, sz) lua_newuserdata(L, (sz))
static void ls_setuservalue(lua_State *L, int idx) { /* pops a table */
  lua_setfenv(L, idx);
}
#else
#define ls_setfuncs(L, l) luaL_setfuncs(L, (l), 0)
#define ls_setmetatable(L, name) luaL_setmetatable(L, (name))
#if LUA_VERSION_NUM < 504
#define ls_newuserdata(L, sz) lua_newuserdata(L, (sz))
static void ls_setuservalue(lua_State *L, int idx) { lua_setuservalue(L, idx); }
#else
#define ls_newuserdata(L, sz) lua_newuserdatauv(L, (sz), 1)
static void ls_setuservalue(lua_State *L, int idx) {
  lua_setiuservalue(L, idx, 1);
}
#endif
#endif

#endif
