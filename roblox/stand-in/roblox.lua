-- The globals a Roblox server script sees, as far as HTTP scripts need them, for running under Lua 5.1.
--
-- environment(config) returns a fresh global table holding Luau's everyday globals plus
--   game      game:GetService("HttpService"), game.PlaceId, game.JobId
--   Enum      Enum.HttpContentType.*, Enum.HttpCompression.*
--   print     Roblox joins its arguments with spaces (not tabs), one line on stdout
--   warn      the same on stderr
--   typeof    Luau's typeof, knowing EnumItem and Enum
--   task      task.wait(seconds), returning the time that passed (task.lua)
-- and nothing Luau lacks (io, require, dofile, loadfile, loadstring, package, debug), so a script that
-- leans on plain-Lua globals fails here as it would in Roblox.
--
-- config: { rewrites = { [prefix] = replacement }, placeId = number, httpEnabled = boolean }

local enum = require("enum")
local createHttpService = require("http-service")
local createTask = require("task")

local roblox = {}

local function line(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  return table.concat(parts, " ") .. "\n"
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

function roblox.environment(config)
  config = config or {}
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))

  local httpService = createHttpService(config)
  local services = { HttpService = httpService }
  local placeId = config.placeId or 0

  local game = {
    Name = "Game",
    ClassName = "DataModel",
    PlaceId = placeId,
    JobId = httpService:GenerateGUID(false):lower(),
  }
  function game:GetService(name)
    if self ~= game then error("Expected ':' not '.' calling member function GetService", 0) end
    local service = services[name]
    if service == nil then
      error("'" .. tostring(name) .. "' is not a valid Service name (the stand-in has HttpService only)", 0)
    end
    return service
  end

  local env = {
    _VERSION = "Luau",
    assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs, next = next,
    pairs = pairs, pcall = pcall, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
    setmetatable = setmetatable, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    xpcall = xpcall,
    string = copy(string), math = copy(math), coroutine = copy(coroutine),
    table = copy(table),
    os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
    game = game,
    Enum = enum.Enum,
    task = createTask(),
  }
  env.table.unpack = unpack
  env._G = env

  function env.print(...)
    io.stdout:write(line(...))
    io.stdout:flush()
  end

  function env.warn(...)
    io.stderr:write(line(...))
    io.stderr:flush()
  end

  function env.typeof(value)
    if enum.isItem(value) then return "EnumItem" end
    if enum.isType(value) then return "Enum" end
    if value == game or value == httpService then return "Instance" end
    return type(value)
  end

  return env
end

return roblox
