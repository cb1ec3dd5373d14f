import { SERVER_NAME } from '../../domain/message'
import { outboundQueueing } from './outbound-scripts'

/*
 * The Lua scripts of the Redis message store (redis-message-store.ts), one
 * per port operation, each run atomically by Redis in one round trip
 * (EVALSHA). They keep exactly the bookkeeping of the memory store
 * (adapters/memory/memory-message-store.ts): a ring per channel, a queue per
 * player, the highest removed id per channel and per player, and floors for
 * the players and channels that were dropped.
 *
 * Why sorted sets and not streams: measured on Redis 7.0, a list of the
 * newest 50 from a stream cost Redis 87 µs (each entry comes back into Lua as
 * nested tables of fields), from a sorted set of plain strings 30 µs; an
 * append evicts with one ZPOPMIN, which hands back what it removed. Every
 * read is by score (the id) or by rank, O(log N); `since` is found by
 * bisection over ranks (sentAt never decreases in id order), never by a scan.
 * Appends come in batches (those one process asked for in one turn of its
 * event loop): a message with its reply cost Redis 36 µs alone, about 19 µs
 * in batches of ~30, as the script's fixed costs and each channel's
 * bookkeeping reads and writes are shared.
 *
 * Keys, for a prefix P and a channel C (C is [A-Za-z0-9_-], P [A-Za-z0-9_.:-]: neither holds a brace):
 *
 *   P:meta                 hash: e (epoch), id (newest id handed out), t (newest sentAt),
 *                          f (highest id removed from a channel since dropped: the floor for absent channels)
 *   P:channels             set: the channels that hold a log (the MAX_CHANNELS bound), emptied ones included
 *   P:emptied              set: the channels emptied by a clear, dropped first when room is needed
 *   P:{P:C}:log            sorted set: the channel's newest MAX_MESSAGES entries, score the id, member
 *                          `<player key>\n<the message's JSON>` (the key, for eviction, never holds a line feed),
 *                          or `\n<JSON>` for a removal entry, which belongs to no player
 *   P:{P:C}:gaps           hash: r (highest id evicted or cleared from the channel), d (floor for its dropped
 *                          players), x (highest id of a removal entry evicted or cleared)
 *   P:{P:C}:players        hash: player key -> highest id of theirs evicted (a field while they hold messages)
 *   P:{P:C}:p:<player key> sorted set: that player's ids in the channel (member and score the id)
 *   P:{P:C}:removals       sorted set: the ids of the removal entries the log holds (what a player's reader reads too)
 *   P:{P:C}:answers        hash: message id -> the ids of the late replies to it (appendReply), comma-separated;
 *                          entries for messages the log no longer holds are let go by the next late reply
 *   P:feed                 the pub/sub channel: '<epoch>\n[<message JSON>,…]' per batch of appends (a late reply
 *                          and a removal entry are published the same way), '<epoch>\nclear' and '<epoch>\nclear:<C>'
 *                          per clear
 *
 * Redis Cluster: every key of one channel shares the hash tag {P:C}, so a
 * channel lives on one slot; P:meta, P:channels and P:emptied are global. The
 * append script touches the global keys and one channel's keys together (ids
 * are global: a reader's cursor moves past other channels' messages), and the
 * channel bound and a clear of everything touch every channel's keys, so these
 * scripts are cross-slot and a Cluster refuses them (CROSSSLOT). Some keys are
 * also found inside the scripts rather than declared in KEYS (an evicted
 * message's player index, the channels dropped or cleared), which a Cluster
 * tolerates only within the declared keys' slot. The supported
 * deployment is one Redis (with replicas and Sentinel for failover if wanted).
 * On a Cluster, every key of a prefix would have to share one hash tag instead
 * (`{P}` in place of `{P:C}` in `channelKeys`, redis-message-store.ts, and in
 * `base` below), which puts one deployment on one shard: the same as a single
 * Redis, with Cluster's failover. Sharding one deployment by channel would need
 * ids that are not global, which the ports do not allow.
 *
 * Removals: a removal is one script per channel it touches: the messages
 * (and the replies to them) out of the log, their players' indexes and the
 * outbound queues, a removal entry in, with an id from the same counter,
 * published on the feed. The gap bookkeeping does not move: a removal is
 * not an eviction, and its entry tells every reader behind it. Finding a
 * player's messages by name reads their index; by user id it reads the
 * channel's log through (an index of user ids would cost every send a write
 * and every eviction another, for an operation of moderators): a channel of
 * 1,000 messages costs Redis about 1 ms. A removal of one message by id
 * looks it up in each channel (ids are global, its channel unknown).
 *
 * Redis 6.2 or later (ZRANGE … BYSCORE). Redis must keep every key it is given (maxmemory-policy noeviction, the
 * default): a key evicted by Redis would silently lose bookkeeping. If P:meta
 * is gone, the store's life is over (a Redis that restarted empty): the next
 * script starts a new epoch, ids start again from 1, and whatever channel keys
 * were left are dropped.
 */

const PREAMBLE = `
local P = ARGV[1]
local META = P .. ':meta'
local CHANNELS = P .. ':channels'
local EMPTIED = P .. ':emptied'
local FEED = P .. ':feed'
local function base(ch) return P .. ':{' .. P .. ':' .. ch .. '}:' end
local function fmt(n) return string.format('%d', n) end
local function num(s) return tonumber(s) or 0 end
-- A member's sentAt, from the JSON the append script wrote after the player key ('…\\n{"id":…,"sentAt":…,'); 0 for one that is not ours.
local function sentAtOf(member) return tonumber(member and string.match(member, '\\n{"id":%d+,"sentAt":([^,}]+)')) or 0 end
local function dropChannel(ch)
  local b = base(ch)
  local players = redis.call('HKEYS', b .. 'players')
  for i = 1, #players do redis.call('UNLINK', b .. 'p:' .. players[i]) end
  redis.call('UNLINK', b .. 'log', b .. 'gaps', b .. 'players', b .. 'removals', b .. 'answers')
end
-- Whether a log member is a removal entry's (no player key before its line feed).
local function isRemoval(member) return string.byte(member, 1) == 10 end
-- The member of the entry with this id in a channel's log, or nil.
local function byId(LOG, id) return redis.call('ZRANGE', LOG, id, id, 'BYSCORE')[1] end
-- The store's life: epoch, newest id, floor for absent channels, newest sentAt. Started afresh when P:meta is gone.
local function life(candidate)
  local m = redis.call('HMGET', META, 'e', 'id', 'f', 't')
  if m[1] then return m[1], num(m[2]), num(m[3]), m[4] or '0' end
  local left = redis.call('SMEMBERS', CHANNELS)
  for i = 1, #left do dropChannel(left[i]) end
  redis.call('UNLINK', CHANNELS, EMPTIED)
  redis.call('HSET', META, 'e', candidate, 'id', '0', 'f', '0', 't', '0')
  return candidate, 0, 0, '0'
end
`

/** No outbound targets: the functions the scripts call do nothing. */
const NO_OUTBOUND = outboundQueueing([])

/**
 * As the memory store stores one entry: into the ring (evicting the oldest
 * when full), then into its player's queue. The append and late-reply
 * scripts share it; `c` is what the script knows of the channel (held, its
 * gap bookkeeping r, d, x, dirty once changed, the players known to have a
 * field), and `maxMessages` its bound.
 */
const STORE = `
-- How many messages the script evicted (the metrics count them: the append script returns it).
local evicted = 0
local function store(c, ch, LOG, PLAYERS, mid, pkey, pindex, json)
  redis.call('ZADD', LOG, mid, pkey .. '\\n' .. json)
  c.held = c.held + 1
  if c.held > maxMessages then
    local gone = redis.call('ZPOPMIN', LOG, c.held - maxMessages)
    evicted = evicted + #gone / 2
    c.held = maxMessages
    c.dirty = true
    for i = 1, #gone, 2 do
      local gid = tonumber(gone[i + 1])
      c.r = math.max(c.r, gid)
      local k = string.match(gone[i], '^([^\\n]*)\\n')
      if k == '' then
        -- A removal entry: out of the channel's list of them; a player's reader behind it has a gap now.
        redis.call('ZREM', base(ch) .. 'removals', fmt(gid))
        c.x = math.max(c.x, gid)
      elseif k then
        local gindex = base(ch) .. 'p:' .. k
        redis.call('ZREM', gindex, fmt(gid))
        if redis.call('ZCARD', gindex) == 0 then
          c.d = math.max(c.d, gid)
          redis.call('HDEL', PLAYERS, k)
          c.known[k] = nil
        else
          redis.call('HSET', PLAYERS, k, fmt(gid))
        end
      end
    end
  end
  redis.call('ZADD', pindex, mid, fmt(mid))
  if not c.known[pkey] then
    redis.call('HSETNX', PLAYERS, pkey, fmt(c.d))
    c.known[pkey] = true
  end
end
`

/**
 * Appends a batch: the appends one process asked for in one turn of its event loop, in order, each as
 * the memory store appends one (a message and its optional reply, or a refusal by the channel bound),
 * and queues each stored message for the outbound targets that want it (the Lua of `outboundQueueing`,
 * outbound-scripts.ts, written into the script: the queues are filled in the step that stores).
 * KEYS: meta, channels, emptied, then for each append: log, gaps, players, player index, reply player index
 *       (the player index again without a reply)
 * ARGV: prefix, epoch candidate, maxMessages, maxChannels, then for each append: channel, sentAt, player key,
 *       the message's JSON after its '{' without id and sentAt, reply player key or '', the reply's JSON likewise or ''
 * Returns {epoch, then for each append: first id and sentAt, or 0 and '' when the channel bound refuses it,
 *          then how many messages the batch evicted}.
 */
export const appendScript = (outboundQueueing: string = NO_OUTBOUND): string => `${PREAMBLE}
-- Queues a stored message for the outbound targets that want it (outbound-scripts.ts); nothing without targets.
${outboundQueueing}
local epoch, lastId, floor, lastT = life(ARGV[2])
local startId, startT, startFloor = lastId, lastT, floor
local maxMessages = tonumber(ARGV[3])
local maxChannels = tonumber(ARGV[4])
local out = {epoch}
local told = {}
-- What this batch knows of each channel it admitted: how many messages it holds, its gap bookkeeping (written back
-- at the end), and the players it knows to have a field in the players hash.
local open = {}
local function admit(ch, LOG, GAPS)
  local c = open[ch]
  if c then return c end
  local held = redis.call('ZCARD', LOG)
  -- A channel holding messages is in the set; one that holds none may be (emptied by a clear) or not.
  if held == 0 then
    if redis.call('SISMEMBER', CHANNELS, ch) == 0 then
      if redis.call('SCARD', CHANNELS) >= maxChannels then
        -- Channels emptied by a clear keep their place until room is needed.
        local empty = redis.call('SMEMBERS', EMPTIED)
        for i = 1, #empty do
          floor = math.max(floor, num(redis.call('HGET', base(empty[i]) .. 'gaps', 'r')))
          dropChannel(empty[i])
          redis.call('SREM', CHANNELS, empty[i])
        end
        if #empty > 0 then redis.call('DEL', EMPTIED) end
        if redis.call('SCARD', CHANNELS) >= maxChannels then return nil end
      end
      redis.call('SADD', CHANNELS, ch)
      redis.call('HSET', GAPS, 'r', fmt(floor), 'd', fmt(floor), 'x', fmt(floor))
    else
      redis.call('SREM', EMPTIED, ch)
    end
  end
  local gaps = redis.call('HMGET', GAPS, 'r', 'd', 'x')
  c = { held = held, r = num(gaps[1]), d = num(gaps[2]), x = num(gaps[3]), dirty = false, gaps = GAPS, known = {} }
  open[ch] = c
  return c
end
${STORE}
for a = 0, (#ARGV - 4) / 6 - 1 do
  local arg, key = 4 + a * 6, 3 + a * 5
  local ch = ARGV[arg + 1]
  local LOG, PLAYERS = KEYS[key + 1], KEYS[key + 3]
  local c = admit(ch, LOG, KEYS[key + 2])
  if c then
    -- Timestamps follow id order even if a clock steps back.
    local t = ARGV[arg + 2]
    if tonumber(t) < tonumber(lastT) then t = lastT else lastT = t end
    local id = lastId + 1
    local message = '{"id":' .. fmt(id) .. ',"sentAt":' .. t .. ',' .. ARGV[arg + 4]
    store(c, ch, LOG, PLAYERS, id, ARGV[arg + 3], KEYS[key + 4], message)
    told[#told + 1] = message
    outbound(ch, 'player', id, message)
    lastId = id
    if ARGV[arg + 5] ~= '' then
      lastId = id + 1
      local reply = '{"id":' .. fmt(lastId) .. ',"sentAt":' .. t .. ',"replyTo":' .. fmt(id) .. ',' .. ARGV[arg + 6]
      store(c, ch, LOG, PLAYERS, lastId, ARGV[arg + 5], KEYS[key + 5], reply)
      told[#told + 1] = reply
      outbound(ch, 'reply', lastId, reply)
    end
    out[#out + 1] = id
    out[#out + 1] = t
  else
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
end
for _, c in pairs(open) do
  if c.dirty then redis.call('HSET', c.gaps, 'r', fmt(c.r), 'd', fmt(c.d), 'x', fmt(c.x)) end
end
if lastId ~= startId then redis.call('HSET', META, 'id', fmt(lastId)) end
if lastT ~= startT then redis.call('HSET', META, 't', lastT) end
if floor ~= startFloor then redis.call('HSET', META, 'f', fmt(floor)) end
-- Published inside the script, once for the batch: every process hears every message in id order.
if #told > 0 then redis.call('PUBLISH', FEED, epoch .. '\\n[' .. table.concat(told, ',') .. ']') end
out[#out + 1] = evicted
return out
`

/**
 * Reads a page of one or more channels under one cursor (ids are global, so
 * the channels' messages merge by id into one history). A read without a
 * cursor passes over removal entries; a player's read after a cursor merges
 * the channel's removal entries into the player's messages.
 * KEYS: meta, channels, then for each channel: log, gaps, players, player index (the log again without a player), removals
 * ARGV: prefix, epoch candidate, limit, player key or '', since or '', cursor id or '', cursor epoch or '', then the channels
 * Returns {epoch, nextAfter, hasMore (0/1), gap (0/1), {member…}} oldest first, each member `<player key>\n<JSON>`.
 */
export const LIST_SCRIPT = `${PREAMBLE}
local epoch, lastId, floor = life(ARGV[2])
local limit = tonumber(ARGV[3])
local player = ARGV[4] ~= '' and ARGV[4] or nil
local since = ARGV[5] ~= '' and tonumber(ARGV[5]) or nil
local n = #ARGV - 7
-- The first rank sent after since, by bisection: in the channel's log, or in an index of ids into it (a player's, the removal entries').
local function firstRankAfter(LOG, INDEX)
  local lo, hi = 0, redis.call('ZCARD', INDEX)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local at = redis.call('ZRANGE', INDEX, mid, mid)[1]
    if INDEX ~= LOG then at = byId(LOG, at) end
    if sentAtOf(at) > since then hi = mid else lo = mid + 1 end
  end
  return lo
end
-- What each channel gives the page: its log, and a run of index entries {member, score, …} read from its index.
local runs = {}
local gap = false
local cursor = ARGV[6] ~= ''
-- A cursor from another store life, or beyond anything this life handed out, is answered from the start.
local after = tonumber(ARGV[6]) or 0
local foreign = cursor and ((ARGV[7] ~= '' and ARGV[7] ~= epoch) or after > lastId)
if foreign then after = 0 end
local function addRun(LOG, items)
  if #items > 0 then runs[#runs + 1] = { log = LOG, items = items, first = 1, last = #items - 1 } end
end
-- One more than the page holds after the cursor: whether there is more.
local function afterCursor(LOG, INDEX)
  local start = redis.call('ZCOUNT', INDEX, '-inf', after)
  if since then start = math.max(start, firstRankAfter(LOG, INDEX)) end
  addRun(LOG, redis.call('ZRANGE', INDEX, start, start + limit, 'WITHSCORES'))
end
for c = 1, n do
  local k = 2 + 5 * (c - 1)
  local LOG, GAPS, PLAYERS, INDEX, REMOVALS = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local exists = redis.call('SISMEMBER', CHANNELS, ARGV[7 + c]) == 1
  if cursor then
    local removed
    if not exists then
      removed = floor
    elseif player then
      -- A player's reader reads the channel's removal entries too.
      local g = redis.call('HMGET', GAPS, 'd', 'x')
      removed = math.max(tonumber(redis.call('HGET', PLAYERS, player)) or num(g[1]), num(g[2]))
    else
      removed = num(redis.call('HGET', GAPS, 'r'))
    end
    if foreign or after < removed then gap = true end
  end
  if exists and limit >= 1 then
    if cursor then
      afterCursor(LOG, INDEX)
      if player and redis.call('ZCARD', REMOVALS) > 0 then afterCursor(LOG, REMOVALS) end
    else
      local entries = player and 0 or redis.call('ZCARD', REMOVALS)
      if entries == 0 then
        addRun(LOG, redis.call('ZRANGE', INDEX, -limit, -1, 'WITHSCORES'))
      else
        -- The newest limit but the removal entries, of which there are at most as many among them as the channel holds.
        local read = redis.call('ZRANGE', INDEX, -(limit + entries), -1, 'WITHSCORES')
        local kept = {}
        for i = 1, #read, 2 do
          if not isRemoval(read[i]) then
            kept[#kept + 1] = read[i]
            kept[#kept + 1] = read[i + 1]
          end
        end
        local items = {}
        for i = math.max(1, #kept - 2 * limit + 1), #kept do items[#items + 1] = kept[i] end
        addRun(LOG, items)
      end
    end
  end
end
-- The entries taken, oldest first, and the log each came from.
local taken, logs = {}, {}
local hasMore, nextAfter = 0, lastId
if #runs == 1 then
  -- One channel, the common read: its run is the page.
  local run = runs[1]
  local items = run.items
  local count = #items / 2
  if cursor and count > limit then
    hasMore = 1
    count = limit
    nextAfter = tonumber(items[2 * limit])
  end
  for i = 1, count do
    taken[i] = items[2 * i - 1]
    logs[i] = run.log
  end
elseif cursor then
  -- Merged by id from the runs' heads, one more than the page holds at most.
  while true do
    local pick, lowest = nil, nil
    for r = 1, #runs do
      local run = runs[r]
      if run.first <= #run.items then
        local id = tonumber(run.items[run.first + 1])
        if pick == nil or id < lowest then pick, lowest = run, id end
      end
    end
    if pick == nil then break end
    if #taken == limit then
      hasMore = 1
      break
    end
    taken[#taken + 1] = pick.items[pick.first]
    logs[#taken] = pick.log
    nextAfter = lowest
    pick.first = pick.first + 2
  end
  if hasMore == 0 then nextAfter = lastId end
else
  -- The newest limit of them all, merged by id from the runs' ends, then put oldest first.
  local newest, from = {}, {}
  while #newest < limit do
    local pick, highest = nil, nil
    for r = 1, #runs do
      local run = runs[r]
      if run.last >= 1 then
        local id = tonumber(run.items[run.last + 1])
        if pick == nil or id > highest then pick, highest = run, id end
      end
    end
    if pick == nil then break end
    newest[#newest + 1] = pick.items[pick.last]
    from[#newest] = pick.log
    pick.last = pick.last - 2
  end
  for i = #newest, 1, -1 do
    taken[#taken + 1] = newest[i]
    logs[#taken] = from[i]
  end
end
local out = taken
if player then
  -- A player's index (and the removal entries' one) holds ids: their members are in the channels' logs (a missing one, which the bookkeeping never leaves, is skipped).
  out = {}
  for i = 1, #taken do
    local m = byId(logs[i], taken[i])
    if m then out[#out + 1] = m end
  end
end
if not cursor and since and sentAtOf(out[1]) <= since then
  local first = 1
  while first <= #out and sentAtOf(out[first]) <= since do first = first + 1 end
  local kept = {}
  for i = first, #out do kept[#kept + 1] = out[i] end
  out = kept
end
return {epoch, nextAfter, hasMore, gap and 1 or 0, out}
`

/**
 * KEYS: meta, channels, emptied[, log, gaps, players]
 * ARGV: prefix, epoch candidate, channel or '' for all
 * Returns {epoch, how many messages it removed}.
 */
export const CLEAR_SCRIPT = `${PREAMBLE}
local epoch, lastId = life(ARGV[2])
local ch = ARGV[3]
if ch == '' then
  -- Everything up to the newest id is gone, in every channel; the counter stays.
  local all = redis.call('SMEMBERS', CHANNELS)
  local removed = 0
  for i = 1, #all do
    removed = removed + redis.call('ZCARD', base(all[i]) .. 'log')
    dropChannel(all[i])
  end
  redis.call('UNLINK', CHANNELS, EMPTIED)
  redis.call('HSET', META, 'f', fmt(lastId))
  redis.call('PUBLISH', FEED, epoch .. '\\nclear')
  return {epoch, removed}
end
if redis.call('SISMEMBER', CHANNELS, ch) == 0 then return {epoch, 0} end
local LOG, GAPS, PLAYERS = KEYS[4], KEYS[5], KEYS[6]
local removed = redis.call('ZCARD', LOG)
local r = num(redis.call('HGET', GAPS, 'r'))
local newest = redis.call('ZRANGE', LOG, -1, -1, 'WITHSCORES')
if newest[2] then r = math.max(r, tonumber(newest[2])) end
local b = base(ch)
local players = redis.call('HKEYS', PLAYERS)
for i = 1, #players do redis.call('UNLINK', b .. 'p:' .. players[i]) end
redis.call('UNLINK', LOG, PLAYERS, b .. 'removals', b .. 'answers')
redis.call('HSET', GAPS, 'r', fmt(r), 'd', fmt(r), 'x', fmt(r))
redis.call('SADD', EMPTIED, ch)
redis.call('PUBLISH', FEED, epoch .. '\\nclear:' .. ch)
return {epoch, removed}
`

/**
 * KEYS: meta, channels
 * ARGV: prefix, epoch candidate
 * Returns {epoch, channel, count, newest id, …} for each channel holding messages, in no order.
 */
export const CHANNELS_SCRIPT = `${PREAMBLE}
local epoch = life(ARGV[2])
local out = {epoch}
local all = redis.call('SMEMBERS', CHANNELS)
for i = 1, #all do
  local log = base(all[i]) .. 'log'
  local count = redis.call('ZCARD', log)
  if count > 0 then
    local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
    out[#out + 1] = all[i]
    out[#out + 1] = count
    out[#out + 1] = tonumber(newest[2])
  end
end
return out
`

/**
 * Stores a reply to a message the channel's log still holds (appendReply), as
 * the append script stores one, and lists it under that message in the
 * channel's answers, so that removing the message takes the reply with it.
 * KEYS: meta, channels, emptied, log, gaps, players, reply player index, answers
 * ARGV: prefix, epoch candidate, maxMessages, channel, sentAt, id answered, reply player key,
 *       the reply's JSON after its '{' without id, sentAt and replyTo
 * Returns {epoch, id, sentAt}, or {epoch, 0} when the message answered is not held.
 */
export const replyScript = (outboundQueueing: string = NO_OUTBOUND): string => `${PREAMBLE}
${outboundQueueing}
local epoch, lastId, floor, lastT = life(ARGV[2])
local maxMessages = tonumber(ARGV[3])
${STORE}
local ch, answered = ARGV[4], ARGV[6]
local LOG, GAPS, PLAYERS, INDEX, ANSWERS = KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
if redis.call('SISMEMBER', CHANNELS, ch) == 0 then return {epoch, 0} end
local target = byId(LOG, answered)
if not target or isRemoval(target) then return {epoch, 0} end
local g = redis.call('HMGET', GAPS, 'r', 'd', 'x')
local c = { held = redis.call('ZCARD', LOG), r = num(g[1]), d = num(g[2]), x = num(g[3]), dirty = false, known = {} }
local t = ARGV[5]
if tonumber(t) < tonumber(lastT) then t = lastT end
local id = lastId + 1
local reply = '{"id":' .. fmt(id) .. ',"sentAt":' .. t .. ',"replyTo":' .. answered .. ',' .. ARGV[8]
store(c, ch, LOG, PLAYERS, id, ARGV[7], INDEX, reply)
if c.dirty then redis.call('HSET', GAPS, 'r', fmt(c.r), 'd', fmt(c.d), 'x', fmt(c.x)) end
local listed = redis.call('HGET', ANSWERS, answered)
redis.call('HSET', ANSWERS, answered, listed and (listed .. ',' .. fmt(id)) or fmt(id))
-- Messages the log no longer holds (evicted meanwhile) need their entry no more: the hash holds what the window holds.
local oldest = tonumber(redis.call('ZRANGE', LOG, 0, 0, 'WITHSCORES')[2]) or id
local fields = redis.call('HKEYS', ANSWERS)
for i = 1, #fields do
  if tonumber(fields[i]) < oldest then redis.call('HDEL', ANSWERS, fields[i]) end
end
redis.call('HSET', META, 'id', fmt(id))
if t ~= lastT then redis.call('HSET', META, 't', t) end
redis.call('PUBLISH', FEED, epoch .. '\\n[' .. reply .. ']')
outbound(ch, 'reply', id, reply)
return {epoch, id, t}
`

/**
 * Removes from one channel: the message with an id (the channel found by
 * looking in each, when none is given), or every message of a player's key
 * and/or a user id; with the replies to what it takes (the automatic one,
 * right after its message, and the late ones in the answers hash, and
 * replies to those), out of the log, the players' indexes (a player left
 * with nothing is dropped, as after an eviction) and every outbound queue.
 * Appends the channel's removal entry with the next id, publishes it and
 * queues it for the targets that want removals. Never evicts: the channel
 * holds at least one entry fewer than before.
 * KEYS: meta, channels
 * ARGV: prefix, epoch candidate, sentAt, mode ('message' or 'player'), channel ('' to find the message's),
 *       message id or '', player key or '', user id or ''
 * Returns {epoch, removal id, sentAt, channel, {ids removed}}, or {epoch, 0} when nothing matched.
 */
export const removeScript = (outboundQueueing: string = NO_OUTBOUND): string => `${PREAMBLE}
${outboundQueueing}
local epoch, lastId, floor, lastT = life(ARGV[2])
local mode, ch = ARGV[4], ARGV[5]
local pkey = ARGV[7] ~= '' and ARGV[7] or nil
local uid = ARGV[8] ~= '' and ARGV[8] or nil
if mode == 'message' and ch == '' then
  local all = redis.call('SMEMBERS', CHANNELS)
  for i = 1, #all do
    local m = byId(base(all[i]) .. 'log', ARGV[6])
    if m and not isRemoval(m) then
      ch = all[i]
      break
    end
  end
  if ch == '' then return {epoch, 0} end
elseif redis.call('SISMEMBER', CHANNELS, ch) == 0 then
  return {epoch, 0}
end
local b = base(ch)
local LOG, GAPS, PLAYERS, ANSWERS = b .. 'log', b .. 'gaps', b .. 'players', b .. 'answers'
-- What is taken: its member by id, and its ids in the order found.
local chosen, order = {}, {}
local function choose(id, member)
  if member and not isRemoval(member) and not chosen[id] then
    chosen[id] = member
    order[#order + 1] = id
  end
end
if mode == 'message' then
  choose(tonumber(ARGV[6]), byId(LOG, ARGV[6]))
else
  if pkey then
    local ids = redis.call('ZRANGE', b .. 'p:' .. pkey, 0, -1)
    for i = 1, #ids do choose(tonumber(ids[i]), byId(LOG, ids[i])) end
  end
  if uid then
    -- The user id is the last field the append script writes, so it ends the member.
    local suffix = ',"userId":' .. uid .. '}'
    local all = redis.call('ZRANGE', LOG, 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
      if string.sub(all[i], -#suffix) == suffix then choose(tonumber(all[i + 1]), all[i]) end
    end
  end
end
-- The replies to what is taken, and to those replies.
local i = 1
while i <= #order do
  local id = order[i]
  local after = byId(LOG, id + 1)
  if after and tonumber(string.match(after, '\\n{"id":%d+,"sentAt":[^,]+,"replyTo":(%d+),')) == id then choose(id + 1, after) end
  local late = redis.call('HGET', ANSWERS, fmt(id))
  if late then
    for rid in string.gmatch(late, '%d+') do choose(tonumber(rid), byId(LOG, rid)) end
    redis.call('HDEL', ANSWERS, fmt(id))
  end
  i = i + 1
end
if #order == 0 then return {epoch, 0} end
table.sort(order)
local touched = {}
for j = 1, #order do
  local id = order[j]
  local member = chosen[id]
  redis.call('ZREM', LOG, member)
  local k = string.match(member, '^([^\\n]*)\\n')
  if k and k ~= '' then
    redis.call('ZREM', b .. 'p:' .. k, fmt(id))
    touched[k] = true
  end
  withdraw(id)
end
local d = num(redis.call('HGET', GAPS, 'd'))
local dropped = false
for k in pairs(touched) do
  -- A player left with nothing goes, as after an eviction: their name is not kept (an erasure must not leave it behind).
  if redis.call('ZCARD', b .. 'p:' .. k) == 0 then
    d = math.max(d, num(redis.call('HGET', PLAYERS, k)))
    redis.call('HDEL', PLAYERS, k)
    dropped = true
  end
end
if dropped then redis.call('HSET', GAPS, 'd', fmt(d)) end
local t = ARGV[3]
if tonumber(t) < tonumber(lastT) then t = lastT end
local id = lastId + 1
local removes = {}
for j = 1, #order do removes[j] = fmt(order[j]) end
local entry = '{"id":' .. fmt(id) .. ',"sentAt":' .. t .. ',"removes":[' .. table.concat(removes, ',') .. '],"channel":"' .. ch ..
  '","playerName":${JSON.stringify(SERVER_NAME)},"text":"","type":"removal"}'
redis.call('ZADD', LOG, id, '\\n' .. entry)
redis.call('ZADD', b .. 'removals', id, fmt(id))
redis.call('HSET', META, 'id', fmt(id))
if t ~= lastT then redis.call('HSET', META, 't', t) end
redis.call('PUBLISH', FEED, epoch .. '\\n[' .. entry .. ']')
outbound(ch, 'removal', id, entry)
return {epoch, id, t, ch, order}
`
