-- The slice of Roblox's `task` library that HTTP scripts use: task.wait, to back off between retries.
--
-- task.wait(seconds) blocks for `seconds` (nil or 0: one frame) and returns the time that actually
-- passed, as Roblox does. Roblox resumes the thread on the first Heartbeat (60 Hz) after the duration,
-- so the stand-in never waits less than one frame. Roblox suspends only the calling thread where this
-- blocks the process: with one script and no other threads, nothing can tell. spawn, defer, delay and
-- cancel are not here.

local socket = require("socket")

local FRAME = 1 / 60

return function()
  local task = {}

  function task.wait(seconds)
    local duration = 0
    if seconds ~= nil then
      duration = tonumber(seconds)
      if duration == nil then
        error("invalid argument #1 to 'wait' (number expected, got " .. type(seconds) .. ")", 2)
      end
    end
    local started = socket.gettime()
    socket.sleep(math.max(duration, FRAME))
    return socket.gettime() - started
  end

  return task
end
