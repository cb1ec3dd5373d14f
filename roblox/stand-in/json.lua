-- JSON the way Roblox's HttpService:JSONEncode and :JSONDecode do it, for the test stand-in.
--
-- Roblox behaviours kept here:
--   * JSONEncode turns an empty table into "[]" (it cannot tell an empty object from an empty array).
--   * A table whose keys are exactly 1..n is an array; a table whose keys are all strings is an object;
--     anything else (mixed or sparse keys), cyclic tables, and functions or userdata cannot be encoded.
--   * JSONDecode drops JSON null: an object key whose value is null is absent from the table.
--   * Every number decodes as a double (Lua 5.1 has nothing else).
-- The exact error texts Roblox uses for unencodable values are not documented; those below are close.

local cjson = require("cjson")

local decoder = cjson.new()
-- Roblox's decoder refuses NaN, Infinity and hex numbers, which cjson accepts by default.
decoder.decode_invalid_numbers(false)
local null = decoder.null

local json = {}

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}

local function encodeString(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encodeNumber(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("Cannot convert " .. tostring(n) .. " to JSON", 0)
  end
  if n == math.floor(n) and math.abs(n) < 2 ^ 63 then
    return string.format("%.0f", n)
  end
  -- 17 significant digits always reads back as the same double.
  return string.format("%.17g", n)
end

-- "array", "object" or "empty"; raises for a table JSON cannot express.
local function shapeOf(t)
  local count, strings, maxIndex = 0, 0, 0
  for k in pairs(t) do
    count = count + 1
    if type(k) == "string" then
      strings = strings + 1
    elseif type(k) == "number" and k >= 1 and k == math.floor(k) then
      if k > maxIndex then maxIndex = k end
    end
  end
  if count == 0 then return "empty" end
  if strings == count then return "object" end
  if strings == 0 and maxIndex == count then return "array" end
  error("Can't convert mixed or sparse tables to JSON: keys must be all strings or exactly 1..n", 0)
end

local function encodeValue(value, seen, out)
  local kind = type(value)
  if value == nil then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = value and "true" or "false"
  elseif kind == "number" then
    out[#out + 1] = encodeNumber(value)
  elseif kind == "string" then
    out[#out + 1] = encodeString(value)
  elseif kind == "table" then
    if seen[value] then error("Tables cannot be cyclic", 0) end
    seen[value] = true
    local shape = shapeOf(value)
    if shape == "empty" then
      out[#out + 1] = "[]"
    elseif shape == "array" then
      out[#out + 1] = "["
      for i = 1, #value do
        if i > 1 then out[#out + 1] = "," end
        encodeValue(value[i], seen, out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      for k, v in pairs(value) do
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = encodeString(k)
        out[#out + 1] = ":"
        encodeValue(v, seen, out)
      end
      out[#out + 1] = "}"
    end
    seen[value] = nil
  else
    error("Cannot convert a value of type " .. kind .. " to JSON", 0)
  end
end

function json.encode(value)
  local out = {}
  encodeValue(value, {}, out)
  return table.concat(out)
end

-- Removes every JSON null, as Roblox does: the key (or array slot) is simply absent.
local function dropNulls(value)
  if value == null then return nil end
  if type(value) == "table" then
    for k, v in pairs(value) do
      -- Assigning an existing key during pairs() is allowed, including setting it to nil.
      value[k] = dropNulls(v)
    end
  end
  return value
end

function json.decode(text)
  if type(text) ~= "string" then
    error("Can't parse JSON: expected a string, got " .. type(text), 0)
  end
  local ok, value = pcall(decoder.decode, text)
  if not ok then error("Can't parse JSON", 0) end
  return dropNulls(value)
end

return json
