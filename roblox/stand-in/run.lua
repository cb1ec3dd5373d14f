-- Runs a Roblox server script under Lua 5.1 with the HttpService stand-in. Tests only.
--
--   MESSAGING_SERVER_URL=http://127.0.0.1:5000 lua5.1 roblox/stand-in/run.lua roblox/examples/seed-example.lua
--   lua5.1 roblox/stand-in/run.lua --rewrite https://api.example.com=http://127.0.0.1:5000 script.lua
--
-- MESSAGING_SERVER_URL replaces the seed's placeholder https://your-replit-url.repl.co; each --rewrite
-- FROM=TO replaces another URL prefix. ROBLOX_PLACE_ID sets game.PlaceId and the Roblox-Id header;
-- ROBLOX_HTTP_ENABLED=false turns HTTP off as the game setting would.
-- Exit status: 0 when the script ran to its end, 1 when it raised (the error goes to stderr), 2 on bad usage.

local PLACEHOLDER = "https://your-replit-url.repl.co"
local DEFAULT_PLACE_ID = 1234567890

local here = arg[0]:match("^(.*)[/\\][^/\\]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local roblox = require("roblox")

local function usage(message)
  io.stderr:write(message .. "\nusage: lua5.1 run.lua [--rewrite FROM=TO]... SCRIPT.lua\n")
  os.exit(2)
end

local rewrites, script = {}, nil
local serverUrl = os.getenv("MESSAGING_SERVER_URL")
if serverUrl and serverUrl ~= "" then rewrites[PLACEHOLDER] = serverUrl end

local i = 1
while arg[i] do
  if arg[i] == "--rewrite" then
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

setfenv(chunk, roblox.environment({
  rewrites = rewrites,
  placeId = placeId,
  httpEnabled = os.getenv("ROBLOX_HTTP_ENABLED") ~= "false",
  secrets = secrets,
}))

local ok, failure = xpcall(chunk, debug.traceback)
io.stdout:flush()
if not ok then
  io.stderr:write(tostring(failure) .. "\n")
  os.exit(1)
end
os.exit(0)
