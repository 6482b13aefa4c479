#!/bin/sh
# `luarocks make` the rockspec into throw-away trees, for Lua 5.4 and for
# --lua-version 5.1 (how lazy.nvim installs rockspec plugins), and load the
# installed module from each tree.
set -eu
cd "$(dirname "$0")/.."
inc=$(echo '#include <curl/curl.h>' | cc -E -H -x c - 2>&1 >/dev/null | grep -m1 'curl/curl.h' | awk '{print $2}')
CURL_INCDIR=$(dirname "$(dirname "$inc")")
CURL_LIBDIR=$(dirname "$(realpath "$(cc -print-file-name=libcurl.so)")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# builtin builds in place: work on a copy so the checkout stays clean
mkdir "$tmp/src"
cp -r csrc lua bin llmstream-scm-1.rockspec "$tmp/src/" 2>/dev/null || cp -r csrc lua llmstream-scm-1.rockspec "$tmp/src/"
pass=0 fail=0
check() { # name, command...
  name=$1; shift
  if "$@" >"$tmp/log" 2>&1; then pass=$((pass + 1)); echo "ok   $name"
  else fail=$((fail + 1)); echo "FAIL $name"; cat "$tmp/log"; fi
}
for v in 5.4 5.1; do
  tree="$tmp/tree$v"
  check "luarocks --lua-version $v make" sh -c "cd '$tmp/src' && luarocks --lua-version $v make --deps-mode=none --tree='$tree' llmstream-scm-1.rockspec CURL_INCDIR='$CURL_INCDIR' CURL_LIBDIR='$CURL_LIBDIR'"
  case $v in 5.4) lua=lua5.4 ;; 5.1) lua=luajit ;; esac
  check "$lua loads the module installed for $v" $lua -e "
    package.cpath = '$tree/lib/lua/$v/?.so;' .. package.cpath
    package.path = '$tree/share/lua/$v/?.lua;$tree/share/lua/$v/?/init.lua;' .. package.path
    local core = require('llmstream.core')
    assert(#core.sse_parser():feed('data: x\n\n') == 1)
    assert(require('llmstream').client)"
done
echo "rock: $pass passed, $fail failed"
[ "$fail" = 0 ]
