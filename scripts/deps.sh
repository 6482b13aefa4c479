#!/bin/sh
# Make sure the Debian packages llmstream builds and tests with are present.
# As root with apt-get it installs what is missing; otherwise it prints the
# exact list and fails.
set -eu
PKGS="gcc make pkg-config lua5.4 liblua5.4-dev luajit libluajit-5.1-dev
liblua5.1-0-dev libcurl4-openssl-dev lua-cjson lua-busted lua-luv luarocks
neovim tmux valgrind clang libclang-rt-14-dev openssl curl time"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "llmstream: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "llmstream: missing Debian packages:$missing" >&2
  echo "install them with:  sudo apt-get install$missing" >&2
  exit 1
fi
