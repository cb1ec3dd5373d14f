--[[
MessagingClient: a Roblox game server's client for the Roblox Messaging Server.

One ModuleScript, written in the part of Luau that Lua 5.1 runs too (no type annotations, no `continue`, no
compound assignment), so the file that runs in a game is the file the test suite runs against a live server.
Put it in ServerScriptService: it makes HTTP requests, which only game servers may.

    local MessagingClient = require(game:GetService("ServerScriptService").MessagingClient)
    local client = MessagingClient.new({
        baseUrl = "https://your-server.example.com",
        apiKey = game:GetService("HttpService"):GetSecret("messaging_api_key"),
        channels = { "global", "lobby" },
    })
    client:send(player.Name, text, { userId = player.UserId })
    local connection = client:subscribe(function(message) print(message.player_name, message.message) end)
    game:BindToClose(function() client:flush(25) end)

What it does for the game:
  * Sends with RequestAsync, so a refusal's reason is read, with an Idempotency-Key: a send whose answer may not
    have been seen (a network error, a timeout, 429, 5xx) is retried a few times with the same key, after an
    exponential backoff with jitter or the server's Retry-After, and is stored once. Any other 4xx is not retried.
  * Follows its channels with one long poll, whatever their number, and its own cursor: every message once, in
    order; a gap (messages evicted or cleared before they were read, or a server that restarted) is reported.
  * Never spends more than `requestBudget` requests a minute (300 by default, of the 500 Roblox gives a game server
    for all its scripts): a busy channel is read in batches, polls at most every 60 / (requestBudget / 2) seconds.
    A send goes out at once while the budget allows, several under way together; only one made while the budget is
    spent waits, in a bounded queue, rather than fail. flush() finishes what is under way or waiting.
What it cannot do: filter text for Roblox. A player's text must be filtered on the server where that player is
before it is sent (MessagingClient.filterForBroadcast, client:sendFiltered), and text that came from outside
Roblox (a web page, a bot) must be filtered before it is shown; see roblox/README.md.
]]

local MessagingClient = {}
MessagingClient.__index = MessagingClient

MessagingClient.VERSION = "0.1.0"

-- Roblox's budget for a game server, every script together.
local ROBLOX_REQUESTS_PER_MINUTE = 500
local DEFAULT_BUDGET = 300
-- os.time() counts whole seconds, so a minute measured with it may be up to a second short: 61 is a minute at least.
local BUDGET_WINDOW = 61
-- The share of the budget polls may take, paced: the rest is for sends.
local POLL_SHARE = 0.5
local DEFAULT_WAIT = 25
local DEFAULT_RETRIES = 3
local DEFAULT_QUEUE_SIZE = 50
local PAGE_LIMIT = 100
local MAX_CHANNELS = 10
local BACKOFF_FIRST = 0.5
local SEND_BACKOFF_MAX = 8
local POLL_BACKOFF_MAX = 30
-- A Retry-After longer than this ends a send's retries: the caller hears of it rather than wait that long.
local RETRY_AFTER_MAX = 60

local typeOf = typeof or type

local function isChannelName(name)
  return type(name) == "string" and #name >= 1 and #name <= 32 and name:match("^[A-Za-z0-9_%-]+$") ~= nil
end

local function checkChannels(channels, where)
  if type(channels) ~= "table" or #channels < 1 or #channels > MAX_CHANNELS then
    error(where .. " must be a list of 1 to " .. MAX_CHANNELS .. " channel names", 3)
  end
  for _, name in ipairs(channels) do
    if not isChannelName(name) then
      error(where .. ": " .. tostring(name) .. " is not a channel name (1-32 of A-Z a-z 0-9 _ -)", 3)
    end
  end
  return channels
end

local function headerOf(response, name)
  local wanted = name:lower()
  for key, value in pairs(response.Headers or {}) do
    if type(key) == "string" and key:lower() == wanted then return value end
  end
  return nil
end

-- Seconds the server asked for (Retry-After in seconds), or nil.
local function retryAfterOf(response)
  local value = tonumber(headerOf(response, "Retry-After") or "")
  if value == nil or value < 0 then return nil end
  return value
end

-- An exponential delay for the nth failure (1, 2, ...), with jitter, and at least what the server asked for.
local function backoff(failure, most, retryAfter)
  local delay = math.min(most, BACKOFF_FIRST * 2 ^ (failure - 1))
  delay = delay * (0.5 + math.random() * 0.5)
  if retryAfter ~= nil and retryAfter > delay then delay = retryAfter end
  return delay
end

-- Resumes a thread that yielded to wait for this, once: whichever of several wakers comes first.
local function waker(thread)
  local woken = false
  return function(...)
    if woken then return end
    woken = true
    task.spawn(thread, ...)
  end
end

--[[
MessagingClient.new(options) -> client
  baseUrl        required: the server's address, e.g. "https://your-server.example.com"
  apiKey         a string, or a Secret from HttpService:GetSecret (sent as Authorization: Bearer, never in a body or URL)
  channels       the channels to follow and fetch, { "global" } by default (1 to 10)
  wait           seconds a long poll is held, 25 by default (the server's LONG_POLL_MAX_SECONDS is the most)
  requestBudget  requests a minute this client allows itself, 300 by default, at most 500
  httpService    the HttpService to use, the game's by default
  fromStart      true: the first poll reads the stored history from its start; by default it starts after the newest
  maxRetries     retries of a send whose answer may not have been seen, 3 by default
  queueSize      sends that may wait for the budget, 50 by default; past it the oldest waiting is dropped
  warn           where warnings go, the global warn by default
]]
function MessagingClient.new(options)
  if type(options) ~= "table" then error("MessagingClient.new takes a table of options", 2) end
  local baseUrl = options.baseUrl
  if type(baseUrl) ~= "string" or not baseUrl:match("^https?://[^/]") then
    error("baseUrl is required: the server's address, such as https://your-server.example.com", 2)
  end
  local apiKey = options.apiKey
  if apiKey ~= nil and type(apiKey) ~= "string" and typeOf(apiKey) ~= "Secret" then
    error("apiKey must be a string or a Secret (HttpService:GetSecret)", 2)
  end
  local budget = options.requestBudget or DEFAULT_BUDGET
  if type(budget) ~= "number" or budget < 1 or budget > ROBLOX_REQUESTS_PER_MINUTE or budget ~= math.floor(budget) then
    error("requestBudget must be a whole number from 1 to " .. ROBLOX_REQUESTS_PER_MINUTE
      .. " (Roblox allows a game server " .. ROBLOX_REQUESTS_PER_MINUTE .. " requests a minute, all its scripts together)", 2)
  end
  local wait = options.wait or DEFAULT_WAIT
  if type(wait) ~= "number" or wait < 1 then error("wait must be a number of seconds, 1 or more", 2) end
  local maxRetries = options.maxRetries or DEFAULT_RETRIES
  if type(maxRetries) ~= "number" or maxRetries < 0 then error("maxRetries must be a number, 0 or more", 2) end
  local queueSize = options.queueSize or DEFAULT_QUEUE_SIZE
  if type(queueSize) ~= "number" or queueSize < 1 then error("queueSize must be a number, 1 or more", 2) end
  if options.onRemoved ~= nil and type(options.onRemoved) ~= "function" then
    error("onRemoved must be a function, called with the ids a moderator's removal took down", 2)
  end

  local self = setmetatable({}, MessagingClient)
  self.baseUrl = baseUrl:gsub("/+$", "")
  self.channels = checkChannels(options.channels or { "global" }, "channels")
  self.wait = wait
  self.requestBudget = budget
  self.maxRetries = maxRetries
  self.queueSize = queueSize
  self.fromStart = options.fromStart == true
  self._http = options.httpService or game:GetService("HttpService")
  self._warn = options.warn or warn
  self._clock = options.clock or os.time
  self._onRemoved = options.onRemoved
  -- A poll answered with messages is followed by this pause, so a busy channel is read in batches within its share.
  self._pollInterval = 60 / (budget * POLL_SHARE)
  if apiKey ~= nil then
    self._authorization = type(apiKey) == "string" and ("Bearer " .. apiKey) or apiKey:AddPrefix("Bearer ")
  end
  self._made = {}        -- when each request of the last budget window was made (self._clock()), oldest first
  self._queue = {}       -- sends waiting for the budget, oldest first
  self._inFlight = 0     -- sends under way: a request made, or a retry's backoff
  self._draining = false -- whether a thread is sending the queue as the budget allows
  self._drained = {}     -- wakers of flush() calls, for when nothing is left to send
  self._after = nil      -- the cursor: the last id this client accounts for, and the store life it belongs to
  self._epoch = nil
  return self
end

-- ── the budget ─────────────────────────────────────────────────────────────

-- Seconds until a request may be made within the budget (0: now).
function MessagingClient:_budgetWait()
  local made, now = self._made, self._clock()
  while made[1] ~= nil and made[1] <= now - BUDGET_WINDOW do table.remove(made, 1) end
  if #made < self.requestBudget then return 0 end
  return made[1] + BUDGET_WINDOW - now
end

-- Waits (yielding) until a request may be made within the budget, and counts it.
function MessagingClient:_spend()
  local wait = self:_budgetWait()
  while wait > 0 do
    task.wait(wait)
    wait = self:_budgetWait()
  end
  table.insert(self._made, self._clock())
end

-- How many requests this client may still make in the current minute.
function MessagingClient:budgetLeft()
  self:_budgetWait()
  return self.requestBudget - #self._made
end

-- ── requests ───────────────────────────────────────────────────────────────

local function queryString(http, pairsList)
  local parts = {}
  for _, pair in ipairs(pairsList) do
    if pair[2] ~= nil then parts[#parts + 1] = pair[1] .. "=" .. http:UrlEncode(tostring(pair[2])) end
  end
  return #parts == 0 and "" or ("?" .. table.concat(parts, "&"))
end

-- One request within the budget. Returns true and Roblox's response (any status), or false and HttpService's error.
function MessagingClient:_request(method, path, body, headers)
  self:_spend()
  local outgoing = {}
  for name, value in pairs(headers or {}) do outgoing[name] = value end
  if self._authorization ~= nil then outgoing["Authorization"] = self._authorization end
  if body ~= nil then outgoing["Content-Type"] = "application/json" end
  local http = self._http
  return pcall(function()
    return http:RequestAsync({ Url = self.baseUrl .. path, Method = method, Headers = outgoing, Body = body })
  end)
end

-- What a refusal says: the server's error text when it gave one, the status, and how long it asked us to wait.
function MessagingClient:_refusal(response)
  local ok, decoded = pcall(function() return self._http:JSONDecode(response.Body) end)
  local text = ok and type(decoded) == "table" and type(decoded.error) == "string" and decoded.error
    or (tostring(response.StatusCode) .. " " .. tostring(response.StatusMessage))
  return { status = response.StatusCode, error = text, retryAfter = retryAfterOf(response) }
end

-- The decoded answer of a GET, or false and what went wrong.
function MessagingClient:_get(path, query)
  local ok, response = self:_request("GET", path .. queryString(self._http, query))
  if not ok then return false, { error = tostring(response) } end
  if not response.Success then return false, self:_refusal(response) end
  local decoded, page = pcall(function() return self._http:JSONDecode(response.Body) end)
  if not decoded or type(page) ~= "table" then
    return false, { status = response.StatusCode, error = "the answer is not JSON: is baseUrl the messaging server?" }
  end
  return true, page
end

-- ── sending ────────────────────────────────────────────────────────────────

-- Whether a failed attempt may be tried again: only when its answer may not have been seen.
local function mayRetry(ok, response, refusal, attempt)
  if not ok then return true end -- no answer: a network error or a timeout (the server may have stored it)
  local status = response.StatusCode
  if status == 429 or status >= 500 then return true end
  -- The first attempt with this key is still being processed (its answer was lost on the way): the server says when to ask again.
  return status == 409 and attempt > 1 and refusal.retryAfter ~= nil
end

-- Sends one queued message, retrying with its key while its answer may not have been seen.
function MessagingClient:_deliver(entry)
  local attempts = 1 + self.maxRetries
  for attempt = 1, attempts do
    local ok, response = self:_request("POST", "/api/send", entry.body, { ["Idempotency-Key"] = entry.key })
    local refusal
    if ok and response.Success then
      local decoded, answer = pcall(function() return self._http:JSONDecode(response.Body) end)
      if decoded and type(answer) == "table" then return true, answer end
      return false, { status = response.StatusCode, error = "the answer is not JSON: is baseUrl the messaging server?" }
    elseif ok then
      refusal = self:_refusal(response)
    else
      refusal = { error = tostring(response) }
    end
    if attempt == attempts or not mayRetry(ok, response, refusal, attempt) then return false, refusal end
    if refusal.retryAfter ~= nil and refusal.retryAfter > RETRY_AFTER_MAX then return false, refusal end
    task.wait(backoff(attempt, SEND_BACKOFF_MAX, refusal.retryAfter))
  end
end

local function finish(entry, ok, result)
  entry.done, entry.ok, entry.result = true, ok, result
  if entry.wake ~= nil then entry.wake() end
end

-- Wakes the flush() calls waiting, once nothing is queued or under way: deferred, so that the last send's caller
-- hears its answer first.
function MessagingClient:_settle()
  if self:pending() > 0 then return end
  local drained = self._drained
  self._drained = {}
  for _, wake in ipairs(drained) do task.defer(wake, true) end
end

-- Sends one message now, in the calling thread, and tells its caller how it went.
function MessagingClient:_dispatch(entry)
  self._inFlight = self._inFlight + 1
  -- Protected, so that a bug cannot leave the send counted as under way and flush() waiting for ever.
  local ran, ok, result = pcall(self._deliver, self, entry)
  self._inFlight = self._inFlight - 1
  if ran then finish(entry, ok, result) else finish(entry, false, { error = tostring(ok) }) end
  self:_settle()
end

-- The queue's sender: while sends wait for the budget, it sends the oldest each time the budget allows one more,
-- each in a thread of its own (so a slow or retried send holds up none behind it).
function MessagingClient:_drain()
  self._draining = true
  while #self._queue > 0 do
    local wait = self:_budgetWait()
    if wait > 0 then
      task.wait(wait)
    else
      local entry = table.remove(self._queue, 1)
      -- task.spawn runs it until its request is made (and counted), so the next turn sees the budget it left.
      task.spawn(function() self:_dispatch(entry) end)
    end
  end
  self._draining = false
  self:_settle()
end

--[[
client:send(playerName, text, options) -> true, { message, auto_reply } | false, { status, error, retryAfter }
  options.userId   the sender's Roblox UserId (names change, UserIds never do)
  options.channel  the channel to send to; the server's default ("global") when absent
Yields until the message is stored or refused. While the budget allows, it goes out at once, whatever else is under
way (each send's request yields only its own thread). While the budget is spent it waits in the queue, and leaves it
in turn, oldest first, as the budget allows; when queueSize wait already, the oldest waiting is dropped
(false, { error = "dropped: ..." }) with a warning.
Order: a thread's sends are stored in the order it makes them (each yields until it is done). Sends made at once from
several threads are under way together, and may be stored in any order among themselves, as may a send being retried
and the sends made after it; the order every reader sees is the server's (message ids).
]]
function MessagingClient:send(playerName, text, options)
  if type(playerName) ~= "string" then error("send: playerName must be a string", 2) end
  if type(text) ~= "string" then error("send: text must be a string", 2) end
  options = options or {}
  if options.userId ~= nil and type(options.userId) ~= "number" then error("send: options.userId must be a number", 2) end
  if options.channel ~= nil and not isChannelName(options.channel) then
    error("send: options.channel " .. tostring(options.channel) .. " is not a channel name (1-32 of A-Z a-z 0-9 _ -)", 2)
  end
  local body = { player_name = playerName, message = text, channel = options.channel, user_id = options.userId }
  local entry = { body = self._http:JSONEncode(body), key = self._http:GenerateGUID(false), done = false }
  -- Out at once, in this thread, while the budget allows and no earlier send waits for it.
  if #self._queue == 0 and self:_budgetWait() == 0 then
    self:_dispatch(entry)
    return entry.ok, entry.result
  end
  if #self._queue >= self.queueSize then
    local dropped = table.remove(self._queue, 1)
    self._warn("MessagingClient: " .. self.queueSize .. " sends are waiting for the request budget; the oldest was dropped")
    finish(dropped, false, { error = "dropped: the send queue was full (queueSize " .. self.queueSize .. ")" })
  end
  table.insert(self._queue, entry)
  if not self._draining then task.spawn(function() self:_drain() end) end
  if not entry.done then
    entry.wake = waker(coroutine.running())
    coroutine.yield()
  end
  return entry.ok, entry.result
end

-- Sends waiting for the budget or under way.
function MessagingClient:pending()
  return #self._queue + self._inFlight
end

--[[
client:flush(timeout) -> true | false, pending
Waits (yielding) until every send made so far has been sent or refused, at most `timeout` seconds (25 by default):
wire it to game:BindToClose, which gives the server 30 s to shut down. The budget still holds meanwhile.
]]
function MessagingClient:flush(timeout)
  timeout = timeout or 25
  if self:pending() == 0 then return true, 0 end
  local wake = waker(coroutine.running())
  table.insert(self._drained, wake)
  local timer = task.delay(timeout, wake, false)
  local drained = coroutine.yield()
  if drained then
    task.cancel(timer)
    return true, 0
  end
  return false, self:pending()
end

-- ── reading ────────────────────────────────────────────────────────────────

--[[
client:fetch(options) -> true, page | false, { status, error }
  options.limit     how many (the newest, or the oldest after `after`)
  options.after     a message id: only those after it
  options.player    only this player's messages (by name, in any case)
  options.channels  the channels to read, the client's own by default
page: { messages = {...}, count, next_after, has_more, gap, epoch }, as the server answers GET /api/messages.
]]
function MessagingClient:fetch(options)
  options = options or {}
  local channels = options.channels and checkChannels(options.channels, "fetch: options.channels") or self.channels
  local path = "/api/messages"
  if options.player ~= nil then path = path .. "/" .. self._http:UrlEncode(tostring(options.player)) end
  return self:_get(path, {
    { "channels", table.concat(channels, ",") },
    { "limit", options.limit },
    { "after", options.after },
  })
end

-- The next page after the cursor, held up to `wait` seconds, without moving the cursor.
function MessagingClient:_nextPage()
  if self._after == nil then
    if self.fromStart then
      self._after = 0
    else
      -- Start after the newest stored message: a list without a cursor answers the newest id as next_after.
      local ok, head = self:_get("/api/messages", { { "channels", table.concat(self.channels, ",") }, { "limit", 1 } })
      if not ok then return false, head end
      self._after, self._epoch = head.next_after, head.epoch
    end
  end
  return self:_get("/api/messages", {
    { "channels", table.concat(self.channels, ",") },
    { "after", self._after },
    { "epoch", self._epoch },
    { "wait", self.wait },
    { "limit", PAGE_LIMIT },
  })
end

-- Moves the cursor past a page and returns its messages, each new one once.
function MessagingClient:_advance(page)
  local messages, after = {}, self._after or 0
  -- A gap or another epoch means the server's ids started again: the page is the new history from its start.
  local fresh = page.gap == true or page.epoch ~= self._epoch
  for _, message in ipairs(page.messages or {}) do
    if fresh or message.id > after then messages[#messages + 1] = message end
  end
  self._after, self._epoch = page.next_after, page.epoch
  return messages
end

--[[
client:poll() -> true, messages, info | false, { status, error }
One long-poll step: waits (up to `wait` seconds) for messages after the client's cursor, in its channels, and moves
the cursor past them: each new message is returned once, in order. info.gap is true when the server reported
messages lost before they were read (evicted, cleared, or the server restarted), info.hasMore when more wait.
The first poll starts after the newest stored message (or at the start of history, with fromStart).
]]
function MessagingClient:poll()
  if self._subscription ~= nil then error("poll: this client is subscribed, and its subscription polls for it", 2) end
  local ok, page = self:_nextPage()
  if not ok then return false, page end
  return true, self:_advance(page), { gap = page.gap == true, hasMore = page.has_more == true, epoch = page.epoch }
end

--[[
client:subscribe(callback, onRemoved) -> connection
Calls callback(message) for each new message of the client's channels, in order, from a thread of its own that
long-polls within the budget; backs off (up to 30 s, or what the server asks) while the server cannot be reached
or refuses. connection:Disconnect() stops it: a poll held then is let go unread, its messages left for the next.
When a moderator removes messages, the server sends a removal entry in their place in the order (type "removal",
removes = the ids taken down): onRemoved(ids, removal) is called with it (or options.onRemoved, given to new), so
the game can take those messages off its screens; callback never sees removal entries.
]]
function MessagingClient:subscribe(callback, onRemoved)
  if type(callback) ~= "function" then error("subscribe takes a function, called with each message", 2) end
  onRemoved = onRemoved or self._onRemoved
  if onRemoved ~= nil and type(onRemoved) ~= "function" then error("subscribe: onRemoved must be a function, called with the ids a removal took down", 2) end
  if self._subscription ~= nil then error("subscribe: this client is subscribed already; Disconnect that first", 2) end
  local client = self
  local connection = { Connected = true }
  function connection.Disconnect()
    connection.Connected = false
    if client._subscription == connection then client._subscription = nil end
  end
  self._subscription = connection
  task.spawn(function()
    local failures = 0
    while connection.Connected do
      local ok, page = client:_nextPage()
      if not connection.Connected then break end
      if ok then
        failures = 0
        if page.gap == true then client._warn("MessagingClient: some messages were missed (evicted, cleared, or the server restarted)") end
        local messages = client:_advance(page)
        for _, message in ipairs(messages) do
          if not connection.Connected then break end
          if message.type == "removal" then
            if onRemoved ~= nil then
              local told, failure = pcall(onRemoved, message.removes or {}, message)
              if not told then client._warn("MessagingClient: the onRemoved callback raised: " .. tostring(failure)) end
            end
          else
            local delivered, failure = pcall(callback, message)
            if not delivered then client._warn("MessagingClient: the subscribe callback raised: " .. tostring(failure)) end
          end
        end
        -- Answered with messages: the channel is busy, so the next poll waits its turn and brings a batch.
        if #messages > 0 or page.has_more == true then task.wait(client._pollInterval) end
      else
        failures = failures + 1
        local delay = backoff(failures, POLL_BACKOFF_MAX, page.retryAfter)
        client._warn(string.format("MessagingClient: poll failed (%s%s); trying again in %.1f s",
          page.status and (page.status .. ": ") or "", tostring(page.error), delay))
        task.wait(delay)
      end
    end
  end)
  return connection
end

-- ── filtering ──────────────────────────────────────────────────────────────

--[[
MessagingClient.filterForBroadcast(text, fromUserId, textService) -> filtered | nil, error
Roblox's filter for text every user may see (TextService:FilterStringAsync, then GetNonChatStringForBroadcastAsync),
for a message a player wrote, on the server where that player is (the filter needs them there). Returns nil and the
error when the filter fails: then the text must not be sent or shown (Roblox asks games not to retry it).
]]
function MessagingClient.filterForBroadcast(text, fromUserId, textService)
  textService = textService or game:GetService("TextService")
  local ok, result = pcall(function()
    return textService:FilterStringAsync(text, fromUserId):GetNonChatStringForBroadcastAsync()
  end)
  if not ok then return nil, tostring(result) end
  return result
end

--[[
client:sendFiltered(player, text, options) -> as send
Filters what the player wrote for broadcast, then sends the filtered text with the player's name and UserId.
A text the filter fails on is not sent: false, { error = "filtering failed: ..." }.
]]
function MessagingClient:sendFiltered(player, text, options)
  local filtered, failure = MessagingClient.filterForBroadcast(text, player.UserId, options and options.textService)
  if filtered == nil then return false, { error = "filtering failed: " .. failure } end
  local sendOptions = { userId = player.UserId, channel = options and options.channel }
  return self:send(player.Name, filtered, sendOptions)
end

return MessagingClient
