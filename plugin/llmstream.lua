-- llmstream: chat buffers that stream LLM replies token by token.
-- Only commands live here; the plugin loads on first use.
if vim.g.loaded_llmstream then return end
vim.g.loaded_llmstream = true
if vim.fn.has("nvim-0.7") ~= 1 then
  vim.notify("llmstream needs Neovim 0.7 or newer", vim.log.levels.ERROR)
  return
end

local cmd = vim.api.nvim_create_user_command
cmd("LLMChat", function(o) require("llmstream.nvim").command(o) end,
  { nargs = "?", range = true, complete = function() return { "new" } end, desc = "Open a chat buffer" })
cmd("LLMSend", function() require("llmstream.nvim").send() end, { desc = "Send the last '## You' section" })
cmd("LLMCancel", function() require("llmstream.nvim").cancel() end, { desc = "Cancel the streaming reply" })
cmd("LLMRetry", function() require("llmstream.nvim").retry() end, { desc = "Resend the failed message" })
cmd("LLMSave", function(o) require("llmstream.nvim").save(o.args) end, { nargs = 1, complete = "file" })
cmd("LLMLoad", function(o) require("llmstream.nvim").load(o.args) end, { nargs = 1, complete = "file" })

vim.api.nvim_create_autocmd("VimLeavePre", {
  group = vim.api.nvim_create_augroup("llmstream", { clear = true }),
  callback = function()
    if package.loaded["llmstream.nvim"] then require("llmstream.nvim").shutdown() end
  end,
})
