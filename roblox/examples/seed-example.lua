local HttpService = game:GetService("HttpService")
local SERVER_URL = "https://your-replit-url.repl.co"

-- Send a message
local function sendMessage(playerName, messageText)
    local data = {
        player_name = playerName,
        message = messageText
    }
    
    local success, response = pcall(function()
        return HttpService:PostAsync(
            SERVER_URL .. "/api/send",
            HttpService:JSONEncode(data),
            Enum.HttpContentType.ApplicationJson
        )
    end)
    
    if success then
        local result = HttpService:JSONDecode(response)
        print("Message sent! Auto-reply:", result.auto_reply.message)
        return result
    else
        warn("Failed to send message:", response)
        return nil
    end
end

-- Fetch messages
local function getMessages(limit)
    local url = SERVER_URL .. "/api/messages"
    if limit then
        url = url .. "?limit=" .. tostring(limit)
    end
    
    local success, response = pcall(function()
        return HttpService:GetAsync(url)
    end)
    
    if success then
        local result = HttpService:JSONDecode(response)
        return result.messages
    else
        warn("Failed to get messages:", response)
        return nil
    end
end

-- Usage
sendMessage("Player123", "Hello from Roblox!")
local messages = getMessages(10)
