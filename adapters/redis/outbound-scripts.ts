import { DEFAULT_ROUTE_TYPES, type OutboundRoute } from '../../domain/outbound'

/*
 * The outbound queues on Redis (redis-outbound-queues.ts): for a prefix P
 * and a target T, every key shares the hash tag {P:out:T}:
 *
 *   P:{P:out:T}:q      sorted set: the queued messages, score the id, member the message's JSON as the channel log keeps it
 *   P:{P:out:T}:s      hash: d (messages dropped since the queue was made), state (the DeliveryState JSON its holder reported)
 *   P:{P:out:T}:lease  string: the holder of the target's lease, with its expiry (PX)
 *
 * The append script queues (`outboundQueueing`, written into it): each
 * stored message is added to the queue of every target that wants it, in
 * the script that stores it, so queues are in id order and a message is
 * queued once whichever process sent it; past a target's bound the oldest
 * are popped and counted. The late-reply and removal scripts queue what
 * they store the same way, and a removal takes what it removed off every
 * queue (`withdraw`): a message removed before it was delivered is never
 * delivered. The routes are written into the script's source (names and
 * channels are [A-Za-z0-9_-], types player, reply or removal: nothing that
 * could break out of a Lua string), so a deployment's script names its
 * targets and its SHA follows their configuration.
 */

export const outboundKeys = (prefix: string, target: string) => {
  const base = `${prefix}:{${prefix}:out:${target}}:`
  return { queue: `${base}q`, stats: `${base}s`, lease: `${base}lease` }
}

const SAFE = /^[A-Za-z0-9_-]+$/

/** A Lua set literal of safe names: `{["a"]=true,["b"]=true}`, or nil for every one. */
const luaSet = (names: ReadonlyArray<string> | undefined): string => {
  if (names === undefined) return 'nil'
  for (const name of names) if (!SAFE.test(name)) throw new Error(`not a safe name for a Lua literal: ${JSON.stringify(name)}`)
  return `{${names.map((n) => `["${n}"]=true`).join(',')}}`
}

/**
 * The Lua a script that stores runs for each entry it stores,
 * `outbound(channel, type, id, json)`, and a removal for each id it takes
 * out, `withdraw(id)`, with P (the prefix) in scope. No routes: functions
 * that do nothing.
 */
export const outboundQueueing = (routes: ReadonlyArray<OutboundRoute>): string => {
  if (routes.length === 0) return 'local function outbound(ch, kind, id, json) end\nlocal function withdraw(id) end'
  const table = routes
    .map((r) => {
      if (!SAFE.test(r.name)) throw new Error(`not a safe target name: ${JSON.stringify(r.name)}`)
      // A route without types gets what routeWants gives it (domain/outbound.ts): never removal entries unless named.
      return `{name="${r.name}",channels=${luaSet(r.channels)},types=${luaSet(r.types ?? DEFAULT_ROUTE_TYPES)},max=${Math.floor(r.maxQueue)}}`
    })
    .join(',')
  return `local ROUTES = {${table}}
local function withdraw(id)
  for i = 1, #ROUTES do
    redis.call('ZREMRANGEBYSCORE', P .. ':{' .. P .. ':out:' .. ROUTES[i].name .. '}:q', id, id)
  end
end
local function outbound(ch, kind, id, json)
  for i = 1, #ROUTES do
    local r = ROUTES[i]
    if (r.channels == nil or r.channels[ch]) and r.types[kind] then
      local b = P .. ':{' .. P .. ':out:' .. r.name .. '}:'
      redis.call('ZADD', b .. 'q', id, json)
      local over = redis.call('ZCARD', b .. 'q') - r.max
      if over > 0 then
        redis.call('ZPOPMIN', b .. 'q', over)
        redis.call('HINCRBY', b .. 's', 'd', over)
      end
    end
  end
end`
}

/**
 * KEYS: lease
 * ARGV: holder, ms
 * Takes the lease, or renews it for its holder. Returns 1, or 0 while another holds it.
 */
export const LEASE_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`

/** KEYS: lease. ARGV: holder. Gives the lease up if this holder has it. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

/**
 * KEYS: lease, queue, stats
 * ARGV: holder, through id, '1' to count what is taken off as dropped ('' not)
 * Takes the queued messages with ids up to the one given off the queue, if this holder has the lease.
 * Returns 1, or 0 (and nothing removed) when it does not.
 */
export const ACK_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if ARGV[3] == '1' and removed > 0 then redis.call('HINCRBY', KEYS[3], 'd', removed) end
return 1
`
