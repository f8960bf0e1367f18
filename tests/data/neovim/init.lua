-- Drives archspec-lsp with Neovim's built-in LSP client (Neovim >= 0.7), headless:
--   nvim --headless -n -i NONE -u init.lua
-- Environment: ARCHSPEC_NVIM_SPEC (the spec to open), ARCHSPEC_NVIM_SERVER (the server's
-- command as a JSON list), ARCHSPEC_NVIM_OUT (where the results go, as JSON),
-- ARCHSPEC_NVIM_POSITIONS (JSON: name -> {line, character} for hover, definition, completion).
-- Every wait is bounded, so a server that hangs fails the test in seconds; an error is written
-- to the results instead of leaving Neovim waiting for input.

local WAIT_MS = 8000
local results = {}

local function finish()
  local file = assert(io.open(os.getenv("ARCHSPEC_NVIM_OUT"), "w"))
  file:write(vim.fn.json_encode(results))
  file:close()
  vim.cmd("qall!")
end

local function request(client, buf, method, params)
  local reply, err = client.request_sync(method, params, WAIT_MS, buf)
  if reply == nil then
    error(method .. ": no answer (" .. tostring(err) .. ")")
  end
  if reply.err ~= nil then
    error(method .. ": " .. vim.inspect(reply.err))
  end
  return reply.result
end

local function run()
  local spec = os.getenv("ARCHSPEC_NVIM_SPEC")
  local positions = vim.fn.json_decode(os.getenv("ARCHSPEC_NVIM_POSITIONS"))
  vim.cmd("edit " .. vim.fn.fnameescape(spec))
  local buf = vim.api.nvim_get_current_buf()
  local ready = false
  local id = vim.lsp.start_client({
    name = "archspec",
    cmd = vim.fn.json_decode(os.getenv("ARCHSPEC_NVIM_SERVER")),
    root_dir = vim.fn.fnamemodify(spec, ":p:h"),
    on_init = function() ready = true end,
  })
  assert(id, "the server did not start")
  vim.lsp.buf_attach_client(buf, id)
  assert(vim.wait(WAIT_MS, function() return ready end, 10), "no answer to initialize")
  local client = vim.lsp.get_client_by_id(id)
  results.offset_encoding = client.offset_encoding

  assert(vim.wait(WAIT_MS, function() return #vim.diagnostic.get(buf) > 0 end, 10),
    "no diagnostics")
  results.diagnostics = {}
  for _, found in ipairs(vim.diagnostic.get(buf)) do
    table.insert(results.diagnostics, {
      code = found.code, line = found.lnum, col = found.col, severity = found.severity,
      message = found.message,
    })
  end

  local document = { uri = vim.uri_from_bufnr(buf) }
  local function at(name)
    return { textDocument = document, position = positions[name] }
  end
  results.hover = request(client, buf, "textDocument/hover", at("hover"))
  results.definition = request(client, buf, "textDocument/definition", at("definition"))
  local completion = request(client, buf, "textDocument/completion", at("completion"))
  results.completion = {}
  for _, item in ipairs(completion.items or completion) do
    table.insert(results.completion, item.label)
  end

  local edits = request(client, buf, "textDocument/formatting", {
    textDocument = document, options = { tabSize = 4, insertSpaces = true },
  })
  vim.lsp.util.apply_text_edits(edits, buf, client.offset_encoding)
  results.formatted = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), "\n") .. "\n"
  client.stop()
end

local ok, problem = pcall(run)
if not ok then
  results.error = tostring(problem)
end
finish()
