-- Runs a Roblox server script under Lua 5.1 with the HttpService stand-in. Tests only.
--
--   MESSAGING_SERVER_URL=http://127.0.0.1:5000 lua5.1 roblox/stand-in/run.lua roblox/examples/seed-example.lua
--   lua5.1 roblox/stand-in/run.lua --rewrite https://api.example.com=http://127.0.0.1:5000 script.lua
--
-- MESSAGING_SERVER_URL replaces the seed's placeholder https://your-replit-url.repl.co; each --rewrite
-- FROM=TO replaces another URL prefix. ROBLOX_PLACE_ID sets game.PlaceId and the Roblox-Id header;
-- ROBLOX_HTTP_ENABLED=false turns HTTP off as the game setting would; ROBLOX_SECRETS (a JSON object) is the
-- experience's Secrets store. For tests: ROBLOX_HTTP_REQUEST_LIMIT lowers the 500 requests a minute, and
-- ROBLOX_DROP_RESPONSES (a JSON list of { "method", "path", "count" }) loses the answers of matching requests, and
-- ROBLOX_FILTERED_WORDS (comma-separated) are what TextService's filter hides. Each --module NAME=PATH is a
-- ModuleScript in ServerScriptService that the script may require.
--
-- The script runs in a thread, and the runner goes on resuming the threads it started (task.spawn, task.delay,
-- requests under way) until none is left, as a game server would keep them running. Its stdin is the server's
-- console, a command a line: "join <userId> <name>" and "leave <userId>" bring a player in and out (Players),
-- "chat <userId> <text>" fires that player's Chatted, and "close" shuts the server down as Roblox does: the
-- game:BindToClose callbacks run, each in a thread, and once all have returned (or 30 s have passed) the runner exits.
-- Exit status: 0 when the script and its threads ran to their end (or the server closed), 1 when the script's own
-- thread raised (the error goes to stderr; an error in another thread is written there too, and the rest go on),
-- 2 on bad usage.

local PLACEHOLDER = "https://your-replit-url.repl.co"
local DEFAULT_PLACE_ID = 1234567890

local here = arg[0]:match("^(.*)[/\\][^/\\]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local roblox = require("roblox")

local function usage(message)
  io.stderr:write(message .. "\nusage: lua5.1 run.lua [--rewrite FROM=TO]... [--module NAME=PATH]... SCRIPT.lua\n")
  os.exit(2)
end

local rewrites, modules, script = {}, {}, nil
local serverUrl = os.getenv("MESSAGING_SERVER_URL")
if serverUrl and serverUrl ~= "" then rewrites[PLACEHOLDER] = serverUrl end

local i = 1
while arg[i] do
  if arg[i] == "--module" then
    local name, path = (arg[i + 1] or ""):match("^([%w_]+)=(.+)$")
    if not name then usage("--module needs NAME=PATH") end
    modules[name] = path
    i = i + 2
  elseif arg[i] == "--rewrite" then
    local from, to = (arg[i + 1] or ""):match("^([^=]+)=(.+)$")
    if not from then usage("--rewrite needs FROM=TO") end
    rewrites[from] = to
    i = i + 2
  elseif script == nil then
    script = arg[i]
    i = i + 1
  else
    usage("one script at a time")
  end
end
if script == nil then usage("no script given") end

local chunk, loadError = loadfile(script)
if not chunk then
  io.stderr:write(loadError .. "\n")
  os.exit(1)
end

local placeId = tonumber(os.getenv("ROBLOX_PLACE_ID") or "") or DEFAULT_PLACE_ID
-- The experience's Secrets store: ROBLOX_SECRETS holds a JSON object of names and values.
local secrets = {}
local secretsJson = os.getenv("ROBLOX_SECRETS")
if secretsJson and secretsJson ~= "" then secrets = require("json").decode(secretsJson) end


local json = require("json")
local filteredWords = {}
for word in (os.getenv("ROBLOX_FILTERED_WORDS") or ""):gmatch("[^,]+") do filteredWords[#filteredWords + 1] = word end
local dropResponses = {}
local dropJson = os.getenv("ROBLOX_DROP_RESPONSES")
if dropJson and dropJson ~= "" then dropResponses = json.decode(dropJson) end

local main
local mainFailed = false
local scheduler = require("task")({
  report = function(thread, message)
    io.stdout:flush()
    io.stderr:write(tostring(message) .. "\n")
    io.stderr:flush()
    if thread == main then mainFailed = true end
  end,
})

local env, console = roblox.environment({
  rewrites = rewrites,
  placeId = placeId,
  httpEnabled = os.getenv("ROBLOX_HTTP_ENABLED") ~= "false",
  secrets = secrets,
  requestLimit = tonumber(os.getenv("ROBLOX_HTTP_REQUEST_LIMIT") or ""),
  dropResponses = dropResponses,
  scheduler = scheduler,
  modules = modules,
  filteredWords = filteredWords,
})
setfenv(chunk, env)

-- A shutdown, as Roblox does one: every BindToClose callback in a thread of its own, then the end, within 30 s.
local CLOSE_SECONDS = 30
local function close()
  local running = 0
  for _, callback in ipairs(console.closing) do
    running = running + 1
    env.task.spawn(function()
      local ok, failure = env.pcall(callback)
      if not ok then io.stderr:write("BindToClose: " .. tostring(failure) .. "\n") end
      running = running - 1
    end)
  end
  env.task.spawn(function()
    local waited = 0
    while running > 0 and waited < CLOSE_SECONDS do waited = waited + env.task.wait() end
    io.stdout:flush()
    os.exit(0)
  end)
end

-- The console, one command a line: join <userId> <name>, chat <userId> <text>, leave <userId>, close.
-- Unbuffered, so that what select says of the descriptor is what is left to read.
io.stdin:setvbuf("no")
local stdin = { getfd = function() return 0 end, dirty = function() return false end }
scheduler.watch(stdin, function()
  local line = io.stdin:read("*l")
  if line == nil then return scheduler.unwatch(stdin) end
  local command, rest = line:match("^(%S+)%s*(.*)$")
  if command == "close" then
    scheduler.unwatch(stdin)
    close()
  elseif command == "join" then
    local userId, name = rest:match("^(%d+)%s+(%S+)$")
    console.join(tonumber(userId), name)
  elseif command == "chat" then
    local userId, text = rest:match("^(%d+)%s(.*)$")
    console.chat(tonumber(userId), text)
  elseif command == "leave" then
    console.leave(tonumber(rest))
  elseif command ~= nil then
    io.stderr:write("console: unknown command " .. line .. "\n")
  end
end)

main = coroutine.create(chunk)
env.task.spawn(main)
if not mainFailed then scheduler.run() end
io.stdout:flush()
os.exit(mainFailed and 1 or 0)
