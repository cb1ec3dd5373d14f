-- A stand-in for Roblox's HttpService, for tests only, built on LuaSocket.
--
-- What it keeps from Roblox (create.roblox.com/docs/reference/engine/classes/HttpService):
--   * GetAsync(url, nocache, headers) and PostAsync(url, data, contentType, compress, headers) return the
--     body on 2xx and raise "HTTP <code> (<reason>)" otherwise, so the error body is lost to the script.
--   * RequestAsync{Url, Method, Headers, Body} returns {Success, StatusCode, StatusMessage, Headers, Body}
--     for every status; Success is true for 200..299 only. It raises only when no answer came back.
--   * Network failures raise "HttpError: ConnectFail", "HttpError: TimedOut", "HttpError: DnsResolve" ...
--   * Locked headers (User-Agent, Roblox-Id, Host, Content-Length, ...) raise 'Header "X" is not allowed!';
--     Content-Type and Content-Encoding are allowed by RequestAsync only.
--   * Every request carries User-Agent "RobloxGameCloud/1.0 (+http://www.roblox.com)" and Roblox-Id
--     (the place id), plus Accept "*/*" and Cache-Control "no-cache" unless the script overrides them.
--   * Ports: 80, 443 and 1024 up except 1194, judged on the URL the script wrote.
--   * JSONEncode / JSONDecode as in json.lua; UrlEncode and GenerateGUID as Roblox formats them.
--   * Methods must be called with ':'.
--   * GetSecret(name) returns a Secret (from the experience's Secrets store; here, from the table the
--     runner reads from ROBLOX_SECRETS) that a script cannot print or read, only extend with
--     AddPrefix / AddSuffix and put into a request header; an unknown name raises.
--   * Requests yield the calling thread (other threads run meanwhile, task.lua), and raise "HttpError: TimedOut" when
--     no answer came within 60 s.
--   * More than 500 requests in any 60 s (all methods together) raise "Number of requests exceeded limit", and the
--     refused request is not made.
-- Where it differs, on purpose:
--   * URLs are rewritten through a table (prefix -> replacement) before sending, so that a script written
--     for "https://your-replit-url.repl.co" runs unchanged against a local http:// test server.
--   * No https (LuaSocket has no TLS here), no gzip (no zlib), no response cache (nocache is moot),
--     no Accept-Encoding, and loopback addresses are allowed (live game servers cannot reach them).
--   * For tests, the limit can be set lower (config.requestLimit), and answers can be lost on the way back
--     (config.dropResponses: { method, path, count } rules; a matching request reaches the server, its answer is read
--     and thrown away, and the script sees "HttpError: TimedOut", as when a network drops an answer).

local socket = require("socket")
local socketUrl = require("socket.url")
local json = require("json")
local enum = require("enum")

local Enum = enum.Enum

local USER_AGENT = "RobloxGameCloud/1.0 (+http://www.roblox.com)"
local REQUEST_TIMEOUT = 60
local REQUESTS_PER_MINUTE = 500

-- Lower-cased header name -> true for locked everywhere, "request" for allowed in RequestAsync only.
local LOCKED = {
  ["accept-encoding"] = true, ["connection"] = true, ["content-length"] = true, ["expect"] = true,
  ["forwarded"] = true, ["host"] = true, ["proxy-connection"] = true, ["user-agent"] = true,
  ["roblox-id"] = true, ["via"] = true, ["x-att-deviceid"] = true, ["x-forwarded-for"] = true,
  ["x-forwarded-host"] = true, ["x-forwarded-proto"] = true, ["x-wap-profile"] = true,
  ["content-type"] = "request", ["content-encoding"] = "request",
}

local CONTENT_TYPES = {
  ApplicationJson = "application/json",
  ApplicationXml = "application/xml",
  ApplicationUrlEncoded = "application/x-www-form-urlencoded",
  TextPlain = "text/plain",
  TextXml = "text/xml",
}

local METHODS = { GET = true, HEAD = true, POST = true, PUT = true, DELETE = true, OPTIONS = true, TRACE = true, PATCH = true }

local REASONS = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [304] = "Not Modified",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict", [413] = "Payload Too Large",
  [415] = "Unsupported Media Type", [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function fail(message)
  error(message, 0)
end

local function startsWithPrefix(s, prefix)
  if s:sub(1, #prefix) ~= prefix then return false end
  local next = s:sub(#prefix + 1, #prefix + 1)
  return next == "" or next == "/" or next == "?" or next == "#"
end

local function allowedPort(port)
  return port == 80 or port == 443 or (port >= 1024 and port <= 65535 and port ~= 1194)
end

return function(config)
  local rewrites = config.rewrites or {}
  local placeId = tostring(config.placeId or 0)

  local service = { Name = "HttpService", ClassName = "HttpService", HttpEnabled = config.httpEnabled ~= false }

  local function checkSelf(self, method)
    if self ~= service then fail("Expected ':' not '.' calling member function " .. method) end
  end

  -- The URL actually dialled: checked as Roblox would check what the script wrote, then rewritten.
  local function resolve(url)
    if type(url) ~= "string" then fail("Unable to cast " .. type(url) .. " to string") end
    local parsed = socketUrl.parse(url)
    if not parsed or (parsed.scheme ~= "http" and parsed.scheme ~= "https") or not parsed.host then
      fail("HttpError: InvalidUrl")
    end
    local port = tonumber(parsed.port) or (parsed.scheme == "https" and 443 or 80)
    if not allowedPort(port) then
      fail("HttpError: InvalidUrl (Roblox allows ports 80, 443 and 1024-65535 except 1194; got " .. port .. ")")
    end
    local target = url
    for prefix, replacement in pairs(rewrites) do
      if startsWithPrefix(url, prefix) then
        target = replacement:gsub("/+$", "") .. url:sub(#prefix + 1)
        break
      end
    end
    if target:sub(1, 8) == "https://" then
      fail("stand-in: cannot reach " .. target .. " (no TLS here); rewrite it to an http:// server, "
        .. "e.g. MESSAGING_SERVER_URL for https://your-replit-url.repl.co")
    end
    return target
  end

  -- A Secret's value, kept out of the script's reach: only a header unwraps it.
  local secretValues = setmetatable({}, { __mode = "k" })
  local SecretMeta = {}
  SecretMeta.__index = SecretMeta
  SecretMeta.__tostring = function() return "Secret" end
  local function newSecret(value)
    local secret = setmetatable({}, SecretMeta)
    secretValues[secret] = value
    return secret
  end
  function SecretMeta:AddPrefix(prefix)
    if secretValues[self] == nil then fail("Expected ':' not '.' calling member function AddPrefix") end
    return newSecret(tostring(prefix) .. secretValues[self])
  end
  function SecretMeta:AddSuffix(suffix)
    if secretValues[self] == nil then fail("Expected ':' not '.' calling member function AddSuffix") end
    return newSecret(secretValues[self] .. tostring(suffix))
  end

  function service:GetSecret(name)
    if self ~= service then fail("Expected ':' not '.' calling member function GetSecret") end
    local value = (config.secrets or {})[name]
    if value == nil then fail("Can't find secret with given key") end
    return newSecret(value)
  end

  local function scriptHeaders(headers, allowContent)
    local out = {}
    if headers == nil then return out end
    if type(headers) ~= "table" then fail("Unable to cast " .. type(headers) .. " to Dictionary") end
    for name, value in pairs(headers) do
      if secretValues[value] ~= nil then value = secretValues[value] end
      if type(name) ~= "string" or type(value) ~= "string" then
        fail("Header names and values must be strings")
      end
      local locked = LOCKED[name:lower()]
      if locked == true or (locked == "request" and not allowContent) then
        fail('Header "' .. name .. '" is not allowed!')
      end
      out[name:lower()] = value
    end
    return out
  end

  local scheduler = config.scheduler
  local requestLimit = config.requestLimit or REQUESTS_PER_MINUTE
  local made = {} -- when each request of the last minute was made, oldest first
  local dropRules = config.dropResponses or {}

  -- The budget Roblox keeps per game server: over it, a request is refused before it is made.
  local function countRequest()
    local now = socket.gettime()
    while made[1] ~= nil and made[1] <= now - 60 do table.remove(made, 1) end
    if #made >= requestLimit then fail("Number of requests exceeded limit") end
    made[#made + 1] = now
  end

  local function dropsAnswer(method, path)
    for _, rule in ipairs(dropRules) do
      if (rule.count or 0) > 0 and (rule.method == nil or rule.method == method) and path:sub(1, #(rule.path or "")) == (rule.path or "") then
        rule.count = rule.count - 1
        return true
      end
    end
    return false
  end

  -- Waits (yielding the thread) until the socket can be used, or raises TimedOut at the deadline.
  local function await(tcp, mode, deadline)
    if not scheduler.waitFor(tcp, mode, deadline) then
      tcp:close()
      fail("HttpError: TimedOut")
    end
  end

  local function decodeChunked(body)
    local out, at = {}, 1
    while true do
      local size, after = body:match("^(%x+)[^\r\n]*\r\n()", at)
      if size == nil then return nil end
      size = tonumber(size, 16)
      if size == 0 then return table.concat(out) end
      out[#out + 1] = body:sub(after, after + size - 1)
      at = after + size + 2
    end
  end

  -- One HTTP/1.1 exchange on a socket of its own, closed after the answer; the thread yields while it waits.
  local function exchange(target, method, headers, body)
    local parsed = socketUrl.parse(target)
    local host = parsed.host
    local port = tonumber(parsed.port) or 80
    local path = (parsed.path and parsed.path ~= "" and parsed.path or "/") .. (parsed.query and ("?" .. parsed.query) or "")
    local deadline = socket.gettime() + REQUEST_TIMEOUT
    local address = socket.dns.toip(host)
    if address == nil then fail("HttpError: DnsResolve") end
    local tcp = socket.tcp()
    tcp:settimeout(0)
    local connected, connectError = tcp:connect(address, port)
    if not connected and connectError == "timeout" then
      await(tcp, "write", deadline)
      connected, connectError = tcp:connect(address, port)
      if connectError == "already connected" then connected = true end
    end
    if not connected then
      tcp:close()
      if tostring(connectError):find("refused") then fail("HttpError: ConnectFail") end
      fail("HttpError: NetFail (" .. tostring(connectError) .. ")")
    end
    local lines = { method .. " " .. path .. " HTTP/1.1", "host: " .. host .. (parsed.port and (":" .. parsed.port) or "") }
    for name, value in pairs(headers) do lines[#lines + 1] = name .. ": " .. value end
    local request = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
    local sent = 0
    while sent < #request do
      local last, sendError, partial = tcp:send(request, sent + 1)
      if last then
        sent = last
      elseif sendError == "timeout" then
        sent = partial
        await(tcp, "write", deadline)
      else
        tcp:close()
        fail("HttpError: NetFail (" .. tostring(sendError) .. ")")
      end
    end
    local chunks = {}
    while true do
      local data, receiveError, partial = tcp:receive(65536)
      if data then
        chunks[#chunks + 1] = data
      else
        if partial and partial ~= "" then chunks[#chunks + 1] = partial end
        if receiveError == "closed" then break end
        if receiveError ~= "timeout" then
          tcp:close()
          fail("HttpError: NetFail (" .. tostring(receiveError) .. ")")
        end
        await(tcp, "read", deadline)
      end
    end
    tcp:close()
    local raw = table.concat(chunks)
    local headEnd = raw:find("\r\n\r\n", 1, true)
    if headEnd == nil then fail("HttpError: NetFail (the connection closed before an answer came)") end
    local head = raw:sub(1, headEnd - 1)
    local code, message = head:match("^HTTP/%d%.%d (%d%d%d) ?([^\r\n]*)")
    if code == nil then fail("HttpError: NetFail (not an HTTP answer)") end
    local responseHeaders = {}
    for name, value in head:gmatch("\r\n([^:\r\n]+):[ \t]*([^\r\n]*)") do
      local key = name:lower()
      responseHeaders[key] = responseHeaders[key] and (responseHeaders[key] .. ", " .. value) or value
    end
    local responseBody = raw:sub(headEnd + 4)
    if (responseHeaders["transfer-encoding"] or ""):lower():find("chunked") then
      responseBody = decodeChunked(responseBody)
      if responseBody == nil then fail("HttpError: NetFail (a chunked answer cut short)") end
    elseif responseHeaders["content-length"] then
      responseBody = responseBody:sub(1, tonumber(responseHeaders["content-length"]))
    end
    if dropsAnswer(method, path) then fail("HttpError: TimedOut") end
    return tonumber(code), message, responseHeaders, responseBody
  end

  local function send(method, url, headers, body)
    if not service.HttpEnabled then fail("Http requests are not enabled. Enable via game settings") end
    local target = resolve(url)
    countRequest()
    local outgoing = { ["accept"] = "*/*", ["cache-control"] = "no-cache", ["connection"] = "close" }
    for name, value in pairs(headers) do outgoing[name] = value end
    outgoing["user-agent"] = USER_AGENT
    outgoing["roblox-id"] = placeId
    if body ~= nil or (method ~= "GET" and method ~= "HEAD") then
      body = body or ""
      outgoing["content-length"] = tostring(#body)
    end
    local code, message, responseHeaders, responseBody = exchange(target, method, outgoing, body)
    if message == "" then message = REASONS[code] or "Unknown" end
    return {
      Success = code >= 200 and code <= 299,
      StatusCode = code,
      StatusMessage = message,
      Headers = responseHeaders,
      Body = method == "HEAD" and "" or responseBody,
    }
  end

  local function bodyOrRaise(response)
    if not response.Success then
      fail("HTTP " .. response.StatusCode .. " (" .. response.StatusMessage .. ")")
    end
    return response.Body
  end

  function service:GetAsync(url, nocache, headers)
    checkSelf(self, "GetAsync")
    return bodyOrRaise(send("GET", url, scriptHeaders(headers, false), nil))
  end

  function service:PostAsync(url, data, contentType, compress, headers)
    checkSelf(self, "PostAsync")
    if type(data) ~= "string" then fail("Unable to cast " .. type(data) .. " to string") end
    contentType = contentType or Enum.HttpContentType.ApplicationJson
    if not enum.isItem(contentType) or contentType.EnumType ~= Enum.HttpContentType then
      fail("Unable to cast " .. tostring(contentType) .. " to HttpContentType")
    end
    if compress then fail("stand-in: compress = true is not supported (no zlib here)") end
    local outgoing = scriptHeaders(headers, false)
    outgoing["content-type"] = CONTENT_TYPES[contentType.Name]
    return bodyOrRaise(send("POST", url, outgoing, data))
  end

  function service:RequestAsync(options)
    checkSelf(self, "RequestAsync")
    if type(options) ~= "table" then fail("Unable to cast " .. type(options) .. " to Dictionary") end
    if type(options.Url) ~= "string" then fail("Url field is required and must be a string") end
    local method = (options.Method or "GET")
    if type(method) ~= "string" or not METHODS[method:upper()] then
      fail("Invalid HTTP method: " .. tostring(method))
    end
    method = method:upper()
    local body = options.Body
    if body ~= nil and type(body) ~= "string" then fail("Body must be a string") end
    if body ~= nil and (method == "GET" or method == "HEAD") then
      fail("Body cannot be sent with " .. method .. " requests")
    end
    local compress = options.Compress
    if compress ~= nil and compress ~= Enum.HttpCompression.None then
      fail("stand-in: Compress other than Enum.HttpCompression.None is not supported (no zlib here)")
    end
    return send(method, options.Url, scriptHeaders(options.Headers, true), body)
  end

  function service:JSONEncode(value)
    checkSelf(self, "JSONEncode")
    return json.encode(value)
  end

  function service:JSONDecode(text)
    checkSelf(self, "JSONDecode")
    return json.decode(text)
  end

  function service:UrlEncode(text)
    checkSelf(self, "UrlEncode")
    return (tostring(text):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
  end

  function service:GenerateGUID(wrapInCurlyBraces)
    checkSelf(self, "GenerateGUID")
    local guid = ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"):gsub("[xy]", function(c)
      local v = c == "x" and math.random(0, 15) or math.random(8, 11)
      return string.format("%X", v)
    end)
    if wrapInCurlyBraces == false then return guid end
    return "{" .. guid .. "}"
  end

  function service:GetUserAgent()
    checkSelf(self, "GetUserAgent")
    return USER_AGENT
  end

  -- For typeof, which tells a Secret by its type, as Roblox does.
  return service, { isSecret = function(value) return secretValues[value] ~= nil end }
end
