# llmstream: one C source, one module per Lua ABI.
#   make          Lua 5.4   -> build/5.4/llmstream/core.so
#   make luajit   LuaJIT    -> build/luajit/llmstream/core.so
#   make nvim     LuaJIT module where Neovim's loader finds it (lua/llmstream/core.so)
#   make run      the terminal chat (offline demo when no API key is set)
#   make check    both ABIs, every spec (installs Debian packages when it can)
#   make test     check + asan + valgrind + fuzz: what CI runs
SHELL   := /bin/bash
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

.PHONY: bench check asan valgrind fuzz run all luajit nvim server test test-c test-5.4 test-luajit test-rock deps clean

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

# everything CI runs: the specs on both ABIs, the rock, sanitizers,
# valgrind and the fuzzers
test: check asan valgrind fuzz

# the specs on both ABIs, the C parser driver and the rock (the quick loop)
check: deps
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

# ---- hardening -------------------------------------------------------------
# AddressSanitizer + UndefinedBehaviorSanitizer: the module built
# instrumented, the runtime preloaded into the (uninstrumented) interpreter.
SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_SPECS ?= spec/sse_parser_spec.lua spec/transfer_spec.lua spec/fixtures_spec.lua spec/chat_spec.lua spec/loop_spec.lua spec/faults_spec.lua

build/asan/llmstream/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) -std=c11 -fPIC -fvisibility=hidden $(WARN) $(SAN) $(LUA54_CFLAGS) $(CURL_CFLAGS) -o $@ $(CORE_SRC) -shared $(CURL_LIBS)

asan: deps build/asan/llmstream/core.so server
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:exitcode=86 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LLMSTREAM_CPATH=build/asan/?.so lua5.4 $(BUSTED) --lpath='lua/?.lua;lua/?/init.lua;spec/?.lua' $(ASAN_SPECS)

# valgrind: zero errors, zero definite leaks (children are not traced)
VALGRIND_SPECS ?= spec/sse_parser_spec.lua spec/transfer_spec.lua spec/fixtures_spec.lua spec/chat_spec.lua
valgrind: deps all server
	LLMSTREAM_VALGRIND=1 LLMSTREAM_CPATH=build/5.4/?.so valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
	  --error-exitcode=99 --suppressions=$(CURDIR)/spec/support/valgrind.supp \
	  lua5.4 $(BUSTED) --lpath='lua/?.lua;lua/?/init.lua;spec/?.lua' $(VALGRIND_SPECS)

# libFuzzer: the SSE parser alone, and chunk -> events -> Lua -> jpick
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/fuzz_sse: fuzz/fuzz_sse.c csrc/sse.c csrc/sse.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_sse.c csrc/sse.c

build/fuzz/fuzz_lua: fuzz/fuzz_lua.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(LUA54_CFLAGS) $(CURL_CFLAGS) -o $@ fuzz/fuzz_lua.c $(CORE_SRC) -llua5.4 $(CURL_LIBS) -lm

fuzz: deps build/fuzz/fuzz_sse build/fuzz/fuzz_lua
	@for t in fuzz_sse fuzz_lua; do \
	  mkdir -p build/fuzz/corpus-$$t && cp $(FIXTURES)/*.sse fuzz/regressions/* build/fuzz/corpus-$$t/ 2>/dev/null; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  ./build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# ---- benchmarks (not tests: no timing assertions anywhere in spec/) --------
build/bench_parser: bench/parser.c csrc/sse.c csrc/sse.h
	$(CC) -std=c11 $(WARN) -O2 -o $@ bench/parser.c csrc/sse.c

bench/out/meta.lua: bench/gen.lua
	lua5.4 bench/gen.lua bench/out

bench: deps all luajit nvim server build/bench_parser bench/out/meta.lua
	lua5.4 bench/run.lua
