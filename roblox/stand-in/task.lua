-- Roblox's task scheduler and `task` library, for the stand-in: every script thread is a coroutine, and one loop
-- (run) resumes them when their time comes or their socket is ready, as Roblox's scheduler resumes yielded threads.
--
-- What it keeps from Roblox (create.roblox.com/docs/reference/engine/libraries/task):
--   * task.spawn(functionOrThread, ...) runs it now, until it yields, and returns the thread; a thread given to it
--     (one that yielded with coroutine.yield) is resumed with the arguments.
--   * task.defer(functionOrThread, ...) runs it later in this cycle; task.delay(seconds, functionOrThread, ...)
--     after `seconds` (at least one frame); task.cancel(thread) stops a thread from being resumed.
--   * task.wait(seconds) yields the calling thread for at least `seconds` (nil or 0: one frame, 1/60 s) and returns the
--     time that actually passed; other threads run meanwhile.
--   * A thread that raises stops; the error goes to the output (stderr here) and the others go on.
--   * pcall and xpcall may yield (Luau's can; Lua 5.1's cannot): `protect` gives the script versions that pass a
--     yield through to the thread, and `running` the thread coroutine.running names in Roblox, the script's own.
-- Threads also wait here for a socket (`waitFor`), which is how the HttpService stand-in yields while a request is
-- on the wire. `run` returns once nothing is left to resume: no thread waits for a time or a socket.

local socket = require("socket")

local FRAME = 1 / 60

local function pack(...)
  return { n = select("#", ...), ... }
end

return function(options)
  options = options or {}
  -- Told of a thread that raised (the thread and its traceback); writes it to stderr by default, as Roblox's output shows it.
  local report = options.report or function(_, message) io.stderr:write(tostring(message) .. "\n") end

  -- The thread a script's code runs in, for each coroutine a yieldable pcall created on its behalf.
  local ownerOf = setmetatable({}, { __mode = "k" })
  local function owner(co)
    while ownerOf[co] do co = ownerOf[co] end
    return co
  end
  local function running()
    local co = coroutine.running()
    return co and owner(co)
  end

  local deferred = {}      -- { thread, args } to resume in the next cycle, in order
  local timers = {}        -- { at, thread, args } to resume at a time
  local sockets = {}       -- thread -> { socket, mode ("read" | "write"), deadline }
  local cancelled = setmetatable({}, { __mode = "k" })
  local stopped = false

  local function resume(thread, args)
    if cancelled[thread] or coroutine.status(thread) ~= "suspended" then return end
    local results = pack(coroutine.resume(thread, unpack(args, 1, args.n)))
    if not results[1] then report(thread, debug.traceback(thread, tostring(results[2]))) end
  end

  local function threadOf(what, caller)
    if type(what) == "thread" then return what end
    if type(what) ~= "function" then
      error("invalid argument #1 to '" .. caller .. "' (function or thread expected, got " .. type(what) .. ")", 3)
    end
    return coroutine.create(what)
  end

  local task = {}

  function task.spawn(what, ...)
    local thread = threadOf(what, "spawn")
    if coroutine.status(thread) ~= "suspended" then error("cannot resume non-suspended coroutine", 2) end
    resume(thread, pack(...))
    return thread
  end

  function task.defer(what, ...)
    local thread = threadOf(what, "defer")
    deferred[#deferred + 1] = { thread = thread, args = pack(...) }
    return thread
  end

  local function after(seconds, thread, args)
    timers[#timers + 1] = { at = socket.gettime() + math.max(seconds, FRAME), thread = thread, args = args }
  end

  function task.delay(seconds, what, ...)
    local duration = tonumber(seconds or 0)
    if duration == nil then error("invalid argument #1 to 'delay' (number expected, got " .. type(seconds) .. ")", 2) end
    local thread = threadOf(what, "delay")
    after(duration, thread, pack(...))
    return thread
  end

  function task.wait(seconds)
    local duration = 0
    if seconds ~= nil then
      duration = tonumber(seconds)
      if duration == nil then
        error("invalid argument #1 to 'wait' (number expected, got " .. type(seconds) .. ")", 2)
      end
    end
    local thread = running()
    if thread == nil then error("task.wait cannot be called outside a thread", 2) end
    local started = socket.gettime()
    after(duration, thread, pack())
    coroutine.yield()
    return socket.gettime() - started
  end

  function task.cancel(thread)
    if type(thread) ~= "thread" then error("invalid argument #1 to 'cancel' (thread expected, got " .. type(thread) .. ")", 2) end
    cancelled[thread] = true
    sockets[thread] = nil
    for _, list in ipairs({ timers, deferred }) do
      for i = #list, 1, -1 do
        if list[i].thread == thread then table.remove(list, i) end
      end
    end
  end

  -- pcall and xpcall that a yield may pass through: the function runs in a coroutine of its own, and whatever it
  -- yields is yielded by the caller in turn, whatever resumes the caller resumes it (the technique of coxpcall).
  local function protect(f, handler, ...)
    if type(f) ~= "function" then
      local message = "attempt to call a " .. type(f) .. " value"
      if handler then return false, handler(message) end
      return false, message
    end
    local co = coroutine.create(f)
    ownerOf[co] = coroutine.running()
    local results = pack(coroutine.resume(co, ...))
    while true do
      if not results[1] then
        if handler then return false, handler(results[2]) end
        return false, results[2]
      end
      if coroutine.status(co) == "dead" then return true, unpack(results, 2, results.n) end
      results = pack(coroutine.resume(co, coroutine.yield(unpack(results, 2, results.n))))
    end
  end

  local scheduler = { task = task, running = running }

  function scheduler.pcall(f, ...)
    return protect(f, nil, ...)
  end

  function scheduler.xpcall(f, handler, ...)
    return protect(f, handler, ...)
  end

  -- Yields the calling thread until `sock` can be read or written ("read" | "write"), or `deadline` (socket.gettime())
  -- passes; returns true when it can, false when the deadline came first.
  function scheduler.waitFor(sock, mode, deadline)
    local thread = running()
    if thread == nil then error("cannot wait for a socket outside a thread", 2) end
    local waiting = { socket = sock, mode = mode, deadline = deadline, ready = false }
    sockets[thread] = waiting
    coroutine.yield()
    return waiting.ready
  end

  -- Something else the loop watches for reading while threads run (the runner's stdin): `onReadable` is called when
  -- it can be read, until unwatch. It keeps nothing alive: `run` still returns once no thread waits.
  local watched = {}
  function scheduler.watch(object, onReadable)
    watched[#watched + 1] = { object = object, onReadable = onReadable }
  end
  function scheduler.unwatch(object)
    for i = #watched, 1, -1 do
      if watched[i].object == object then table.remove(watched, i) end
    end
  end

  function scheduler.stop()
    stopped = true
  end

  local function busy()
    return #deferred > 0 or #timers > 0 or next(sockets) ~= nil
  end

  -- Resumes threads as their times come and their sockets get ready, until nothing is left to resume or stop() is called.
  function scheduler.run()
    while busy() and not stopped do
      local now = socket.gettime()
      local due = deferred
      deferred = {}
      -- Timers due now, earliest first (a few at a time: a list scanned is enough).
      local waiting = {}
      for _, timer in ipairs(timers) do
        if timer.at <= now then due[#due + 1] = timer else waiting[#waiting + 1] = timer end
      end
      timers = waiting
      table.sort(due, function(a, b) return (a.at or 0) < (b.at or 0) end)
      for _, entry in ipairs(due) do
        if stopped then return end
        resume(entry.thread, entry.args)
      end
      -- Then wait for a socket, the next timer, or a deadline, whichever comes first.
      local readers, writers, byObject = {}, {}, {}
      local wake = math.huge
      for _, timer in ipairs(timers) do wake = math.min(wake, timer.at) end
      if #deferred > 0 then wake = now end
      for thread, w in pairs(sockets) do
        byObject[w.socket] = byObject[w.socket] or {}
        table.insert(byObject[w.socket], thread)
        if w.mode == "read" then readers[#readers + 1] = w.socket else writers[#writers + 1] = w.socket end
        if w.deadline then wake = math.min(wake, w.deadline) end
      end
      for _, w in ipairs(watched) do readers[#readers + 1] = w.object end
      if stopped or not busy() then break end
      local timeout = wake == math.huge and -1 or math.max(0, wake - socket.gettime())
      local readable, writable = socket.select(readers, writers, timeout)
      local ready = {}
      for _, list in ipairs({ readable or {}, writable or {} }) do
        for _, object in ipairs(list) do
          for _, thread in ipairs(byObject[object] or {}) do ready[thread] = true end
          for _, w in ipairs({ unpack(watched) }) do
            if w.object == object then w.onReadable() end
          end
        end
      end
      now = socket.gettime()
      local resumable = {}
      for thread, w in pairs(sockets) do
        if ready[thread] then
          w.ready = true
          resumable[#resumable + 1] = thread
        elseif w.deadline and w.deadline <= now then
          resumable[#resumable + 1] = thread
        end
      end
      for _, thread in ipairs(resumable) do
        sockets[thread] = nil
        if stopped then return end
        resume(thread, pack())
      end
    end
  end

  return scheduler
end
