-- The slice of Roblox's global `Enum` that HTTP scripts use, with Roblox's names and values.
-- Reading a member that does not exist raises, as in Roblox, so a typo fails the test.

local ITEM, TYPE = {}, {}

local function readOnly()
  error("Enum values cannot be changed", 2)
end

local function enumType(name, members)
  local items, byName = {}, {}
  local kind = setmetatable({}, {
    __kind = TYPE,
    __tostring = function() return name end,
    __index = function(_, key)
      if key == "GetEnumItems" then
        return function()
          local copy = {}
          for i, item in ipairs(items) do copy[i] = item end
          return copy
        end
      end
      local item = byName[key]
      if item == nil then error(tostring(key) .. ' is not a valid member of "Enum.' .. name .. '"', 2) end
      return item
    end,
    __newindex = readOnly,
  })
  for _, member in ipairs(members) do
    local fields = { Name = member[1], Value = member[2], EnumType = kind }
    local item = setmetatable({}, {
      __kind = ITEM,
      __tostring = function() return "Enum." .. name .. "." .. fields.Name end,
      __index = function(_, key)
        local value = fields[key]
        if value == nil then error(tostring(key) .. " is not a valid member of EnumItem", 2) end
        return value
      end,
      __newindex = readOnly,
    })
    byName[member[1]] = item
    items[#items + 1] = item
  end
  return kind
end

local types = {
  HttpContentType = enumType("HttpContentType", {
    { "ApplicationJson", 0 }, { "ApplicationXml", 1 }, { "ApplicationUrlEncoded", 2 },
    { "TextPlain", 3 }, { "TextXml", 4 },
  }),
  HttpCompression = enumType("HttpCompression", { { "None", 0 }, { "Gzip", 1 } }),
}

local Enum = setmetatable({}, {
  __tostring = function() return "Enums" end,
  __index = function(_, key)
    local kind = types[key]
    if kind == nil then error(tostring(key) .. " is not a valid member of \"Enums\"", 2) end
    return kind
  end,
  __newindex = readOnly,
})

local function kindOf(value)
  if type(value) ~= "table" then return nil end
  local meta = getmetatable(value)
  return meta and meta.__kind
end

return {
  Enum = Enum,
  isItem = function(value) return kindOf(value) == ITEM end,
  isType = function(value) return kindOf(value) == TYPE end,
}
