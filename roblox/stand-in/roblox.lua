-- The globals a Roblox server script sees, as far as HTTP scripts need them, for running under Lua 5.1.
--
-- environment(config) returns a fresh global table holding Luau's everyday globals plus
--   game      game:GetService("HttpService"), game.PlaceId, game.JobId, game:BindToClose(callback)
--   Enum      Enum.HttpContentType.*, Enum.HttpCompression.*
--   print     Roblox joins its arguments with spaces (not tabs), one line on stdout
--   warn      the same on stderr
--   typeof    Luau's typeof, knowing EnumItem, Enum and Secret
--   task      spawn, defer, delay, wait, cancel (task.lua), with the scheduler that runs the threads
--   pcall, xpcall  Luau's, which a yield may pass through (Lua 5.1's cannot), and coroutine.running naming
--             the script's thread inside them
--   require   Roblox's, of a ModuleScript: game:GetService("ServerScriptService").<Name> for each config.modules entry
--   TextService  FilterStringAsync and its TextFilterResult (config.filteredWords are what it hides)
--   Players   PlayerAdded, PlayerRemoving, GetPlayers, GetPlayerByUserId; each player's Chatted (the console's players)
--   ReplicatedStorage, Instance.new("RemoteEvent") (FireClient prints "FireClient <name>: <arguments>"),
--   TextChatService:CanUserChatAsync (every player here may chat)
-- and nothing Luau lacks (io, dofile, loadfile, loadstring, package, debug), so a script that
-- leans on plain-Lua globals fails here as it would in Roblox.
--
-- config: { rewrites = { [prefix] = replacement }, placeId = number, httpEnabled = boolean, secrets = table,
--           requestLimit = number, dropResponses = { { method, path, count } }, scheduler = from task.lua,
--           modules = { [name] = path }, filteredWords = { word } }
-- Returns the environment and its console: join(userId, name), chat(userId, text), leave(userId) for the players, and
-- closing, the callbacks given to game:BindToClose, for the runner to call at a shutdown.

local enum = require("enum")
local createHttpService = require("http-service")

-- An RBXScriptSignal: Connect(callback) -> a connection with Disconnect; each firing calls every callback in a
-- thread of its own, as Roblox does.
local function newSignal(task)
  local connections = {}
  local signal = {}
  function signal:Connect(callback)
    if type(callback) ~= "function" then error("Attempt to connect failed: Passed value is not a function", 2) end
    local connection = { Connected = true }
    function connection:Disconnect()
      connection.Connected = false
      for i, c in ipairs(connections) do
        if c == connection then table.remove(connections, i) break end
      end
    end
    connection.callback = callback
    connections[#connections + 1] = connection
    return connection
  end
  local function fire(...)
    for _, connection in ipairs({ unpack(connections) }) do
      if connection.Connected then task.spawn(connection.callback, ...) end
    end
  end
  return signal, fire
end

-- TextService's filter, as far as scripts that filter before they send or show need it: FilterStringAsync(text,
-- fromUserId) yields a TextFilterResult whose GetNonChatStringForBroadcastAsync() and GetNonChatStringForUserAsync()
-- return the text with each word of config.filteredWords (ROBLOX_FILTERED_WORDS) replaced by #s, as Roblox's filter
-- hides what it refuses. It raises, as Roblox's does, when the user id is not a number.
local function createTextService(config)
  local words = config.filteredWords or {}
  local function filtered(text)
    for _, word in ipairs(words) do
      text = text:gsub("%f[%w]" .. word:gsub("%W", "%%%0") .. "%f[%W]", string.rep("#", #word))
    end
    return text
  end
  local service = { Name = "TextService", ClassName = "TextService" }
  function service:FilterStringAsync(text, fromUserId)
    if self ~= service then error("Expected ':' not '.' calling member function FilterStringAsync", 0) end
    if type(text) ~= "string" then error("Unable to cast " .. type(text) .. " to string", 0) end
    if type(fromUserId) ~= "number" then error("Unable to cast " .. type(fromUserId) .. " to int64", 0) end
    local result = { ClassName = "TextFilterResult" }
    function result:GetNonChatStringForBroadcastAsync() return filtered(text) end
    function result:GetNonChatStringForUserAsync(toUserId)
      if type(toUserId) ~= "number" then error("Unable to cast " .. type(toUserId) .. " to int64", 0) end
      return filtered(text)
    end
    return result
  end
  return service
end

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

  local scheduler = config.scheduler
  local httpService, secrets = createHttpService(config)
  -- ModuleScripts the runner was given (--module Name=path), as children of ServerScriptService, for require.
  local serverScriptService = { Name = "ServerScriptService", ClassName = "ServerScriptService" }
  local moduleSources = {}
  for name, path in pairs(config.modules or {}) do
    local moduleScript = { Name = name, ClassName = "ModuleScript" }
    moduleSources[moduleScript] = path
    serverScriptService[name] = moduleScript
  end
  -- The players in this server: joined, chatting and leaving as the runner's console says (join, chat, leave).
  local task = scheduler.task
  local playerList = {}
  local players = { Name = "Players", ClassName = "Players" }
  local firePlayerAdded, firePlayerRemoving
  players.PlayerAdded, firePlayerAdded = newSignal(task)
  players.PlayerRemoving, firePlayerRemoving = newSignal(task)
  function players:GetPlayers()
    return { unpack(playerList) }
  end
  function players:GetPlayerByUserId(userId)
    for _, player in ipairs(playerList) do
      if player.UserId == userId then return player end
    end
    return nil
  end
  -- The other side of a RemoteEvent, players' devices, is not here: what a server fires to one is printed.
  local function remoteEvent()
    local event = { ClassName = "RemoteEvent", Name = "RemoteEvent" }
    event.OnServerEvent = newSignal(task)
    function event:FireClient(player, ...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      io.stdout:write("FireClient " .. player.Name .. ": " .. table.concat(parts, " ") .. "\n")
      io.stdout:flush()
    end
    function event:FireAllClients(...)
      for _, player in ipairs(playerList) do event:FireClient(player, ...) end
    end
    return event
  end
  local textChatService = { Name = "TextChatService", ClassName = "TextChatService" }
  function textChatService:CanUserChatAsync(userId)
    if type(userId) ~= "number" then error("Unable to cast " .. type(userId) .. " to int64", 0) end
    return true
  end
  local services = {
    HttpService = httpService,
    ServerScriptService = serverScriptService,
    TextService = createTextService(config),
    Players = players,
    ReplicatedStorage = { Name = "ReplicatedStorage", ClassName = "ReplicatedStorage" },
    TextChatService = textChatService,
  }
  -- The runner's console: what players do in this server.
  local console = {}
  local chatted = {}
  function console.join(userId, name)
    local player = { Name = name, DisplayName = name, UserId = userId, ClassName = "Player" }
    local fireChatted
    player.Chatted, fireChatted = newSignal(task)
    chatted[player] = fireChatted
    playerList[#playerList + 1] = player
    firePlayerAdded(player)
  end
  function console.chat(userId, text)
    local player = players:GetPlayerByUserId(userId)
    if player == nil then return io.stderr:write("console: no player " .. tostring(userId) .. " here\n") end
    chatted[player](text)
  end
  function console.leave(userId)
    local player = players:GetPlayerByUserId(userId)
    if player == nil then return end
    firePlayerRemoving(player)
    for i, p in ipairs(playerList) do
      if p == player then table.remove(playerList, i) break end
    end
  end
  local closing = {}
  local placeId = config.placeId or 0

  local game = {
    Name = "Game",
    ClassName = "DataModel",
    PlaceId = placeId,
    JobId = httpService:GenerateGUID(false):lower(),
  }
  -- What a server runs as it shuts down (the runner calls them when told to close): each in a thread of its own.
  function game:BindToClose(callback)
    if self ~= game then error("Expected ':' not '.' calling member function BindToClose", 0) end
    if type(callback) ~= "function" then error("Unable to cast " .. type(callback) .. " to function", 0) end
    closing[#closing + 1] = callback
  end
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
    pairs = pairs, pcall = scheduler.pcall, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
    setmetatable = setmetatable, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    xpcall = scheduler.xpcall,
    string = copy(string), math = copy(math), coroutine = copy(coroutine),
    table = copy(table),
    os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time },
    game = game,
    Enum = enum.Enum,
    task = scheduler.task,
  }
  env.coroutine.running = scheduler.running
  env.Instance = {
    new = function(className)
      if className == "RemoteEvent" then return remoteEvent() end
      error('Unable to create an Instance of type "' .. tostring(className) .. '" (the stand-in makes RemoteEvents only)', 2)
    end,
  }

  -- Roblox's require, which takes a ModuleScript: its source runs once, in this environment, and what it returns
  -- is what every require of it gets.
  local loaded = {}
  function env.require(moduleScript)
    local path = moduleSources[moduleScript]
    if path == nil then error("Attempted to call require with invalid argument(s).", 2) end
    if loaded[moduleScript] == nil then
      local chunk, loadError = loadfile(path)
      if not chunk then error(loadError, 0) end
      setfenv(chunk, env)
      local ok, result = scheduler.pcall(chunk)
      if not ok then error("Requested module experienced an error while loading: " .. tostring(result), 2) end
      loaded[moduleScript] = { value = result }
    end
    return loaded[moduleScript].value
  end
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
    if secrets.isSecret(value) then return "Secret" end
    if value == game or value == httpService then return "Instance" end
    return type(value)
  end

  console.closing = closing
  return env, console
end

return roblox
