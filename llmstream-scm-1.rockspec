rockspec_format = "3.0"
package = "llmstream"
version = "scm-1"
source = {
  url = "git+https://github.com/llmstream/llmstream.git",
}
description = {
  summary = "Streaming LLM chat for any Lua host, with its network and SSE core in C",
  detailed = [[
llmstream streams replies from the Anthropic Messages API and
OpenAI-compatible servers (OpenAI, Groq, llama.cpp, Ollama) in process:
libcurl's multi interface and an incremental SSE parser in C, a Lua layer
for conversation history, usage and cost, and adapters for Neovim, the
terminal and libuv hosts.]],
  license = "MIT",
  labels = { "llm", "sse", "curl", "neovim" },
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
external_dependencies = {
  CURL = { header = "curl/curl.h" },
}
build = {
  type = "builtin",
  modules = {
    ["llmstream.core"] = {
      sources = { "csrc/lcore.c", "csrc/sse.c", "csrc/jpick.c" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    ["llmstream"] = "lua/llmstream/init.lua",
    ["llmstream.chat"] = "lua/llmstream/chat.lua",
    ["llmstream.client"] = "lua/llmstream/client.lua",
    ["llmstream.request"] = "lua/llmstream/request.lua",
    ["llmstream.runtime"] = "lua/llmstream/runtime.lua",
    ["llmstream.usage"] = "lua/llmstream/usage.lua",
    ["llmstream.luv"] = "lua/llmstream/luv.lua",
    ["llmstream.cli"] = "lua/llmstream/cli.lua",
    ["llmstream.nvim"] = "lua/llmstream/nvim.lua",
    ["llmstream.health"] = "lua/llmstream/health.lua",
    ["llmstream.providers.common"] = "lua/llmstream/providers/common.lua",
    ["llmstream.providers.anthropic"] = "lua/llmstream/providers/anthropic.lua",
    ["llmstream.providers.openai"] = "lua/llmstream/providers/openai.lua",
  },
  install = {
    bin = { llmstream = "bin/llmstream" },
  },
}
