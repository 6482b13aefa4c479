# llmstream: one C source, one module per Lua ABI.
#   make          Lua 5.4   -> build/5.4/llmstream/core.so
#   make luajit   LuaJIT    -> build/luajit/llmstream/core.so
#   make nvim     LuaJIT module where Neovim's loader finds it (lua/llmstream/core.so)
#   make run      the terminal chat (offline demo when no API key is set)
#   make test     both ABIs, every spec (installs Debian packages when it can)
CC      ?= cc
PKG     ?= pkg-config
CURL_CFLAGS := $(shell $(PKG) --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell $(PKG) --libs libcurl 2>/dev/null || echo -lcurl)
LUA54_CFLAGS := $(shell $(PKG) --cflags lua5.4 2>/dev/null)
LUAJIT_CFLAGS := $(shell $(PKG) --cflags luajit 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-align \
           -Wwrite-strings -Wundef -Wstrict-prototypes -Wmissing-prototypes \
           -Wredundant-decls -Wformat=2
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -fPIC -fvisibility=hidden $(WARN) $(CFLAGS)
LDFLAGS_SO = -shared $(LDFLAGS)
CORE_SRC := csrc/lcore.c csrc/sse.c csrc/jpick.c
CORE_HDR := csrc/sse.h csrc/jpick.h csrc/compat.h
BUSTED   := /usr/bin/busted --helper=spec/support/helper.lua
SPECS    ?= spec
FIXTURES ?= ../shared/fixtures

.PHONY: run all luajit nvim server test test-c test-5.4 test-luajit test-rock deps clean

all: build/5.4/llmstream/core.so

luajit: build/luajit/llmstream/core.so

nvim: lua/llmstream/core.so build/llmstream-testserver

server: build/llmstream-testserver

# the terminal chat; with no API key set it uses the bundled demo server
run: deps
	@$(MAKE) --no-print-directory -s all server >/dev/null
	@lua5.4 bin/llmstream $(ARGS)

build/5.4/llmstream/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LUA54_CFLAGS) $(CURL_CFLAGS) -o $@ $(CORE_SRC) $(LDFLAGS_SO) $(CURL_LIBS)

build/luajit/llmstream/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LUAJIT_CFLAGS) $(CURL_CFLAGS) -o $@ $(CORE_SRC) $(LDFLAGS_SO) $(CURL_LIBS)

lua/llmstream/core.so: build/luajit/llmstream/core.so
	cp $< $@

build/llmstream-testserver: spec/support/server.c csrc/jpick.c csrc/jpick.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -g -o $@ spec/support/server.c csrc/jpick.c

deps:
	@sh scripts/deps.sh

test: deps
	$(MAKE) all luajit server
	$(MAKE) test-c test-5.4 test-luajit test-rock

# csrc/sse.c from a plain C driver: every fixture whole, byte by byte and
# split at every position
build/test_sse: spec/c/test_sse.c csrc/sse.c csrc/sse.h
	$(CC) -std=c11 $(WARN) -O2 -g -o $@ spec/c/test_sse.c csrc/sse.c

test-c: build/test_sse
	./build/test_sse $(FIXTURES)/*.sse

# the rockspec installs and loads, for Lua 5.4 and --lua-version 5.1
test-rock:
	sh scripts/test-rock.sh

test-5.4: all server
	LLMSTREAM_CPATH=build/5.4/?.so lua5.4 $(BUSTED) --lpath='lua/?.lua;lua/?/init.lua;spec/?.lua' $(SPECS)

test-luajit: luajit server nvim
	LLMSTREAM_CPATH=build/luajit/?.so luajit $(BUSTED) --lpath='lua/?.lua;lua/?/init.lua;spec/?.lua' $(SPECS)

clean:
	rm -rf build lua/llmstream/core.so
