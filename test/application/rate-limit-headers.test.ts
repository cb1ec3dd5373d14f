import { expect } from 'chai'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { rateLimitHeaders, rateLimitText } from '../../application/rate-limit-headers'
import type { RateDecision } from '../../domain/rate-limit'
import { run } from '../contracts/message-repository.contract'

const asObject = (flat: ReadonlyArray<string>): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) headers[flat[i] as string] = flat[i + 1] as string
  return headers
}

describe('rate-limit headers (draft-ietf-httpapi-ratelimit-headers)', () => {
  let now: number
  const limiter = () => createMemoryRateLimiter({ maxKeys: 100, now: () => now })
  const player = { limit: 5, windowMs: 10_000 }
  const client = { limit: 600, windowMs: 60_000 }
  beforeEach(() => {
    now = 1_700_000_000_000
  })

  it('writes the current draft’s RateLimit-Policy and RateLimit, and the earlier trio, for an allowed request', async () => {
    const l = limiter()
    const decision = await run(l.take('player:id:1', player))
    expect(rateLimitHeaders([{ policy: 'player', decision }])).to.deep.equal([
      'RateLimit-Policy',
      '"player";q=5;w=10',
      'RateLimit',
      '"player";r=4;t=2',
      'RateLimit-Limit',
      '5',
      'RateLimit-Remaining',
      '4',
      'RateLimit-Reset',
      '2',
    ])
    await run(l.take('player:id:1', player))
    await run(l.take('player:id:1', player))
    // 1 left, the next token in 2 s, full in 8 s.
    expect(asObject(rateLimitHeaders([{ policy: 'player', decision: await run(l.take('player:id:1', player)) }]))).to.deep.include({
      RateLimit: '"player";r=1;t=2',
      'RateLimit-Remaining': '1',
      'RateLimit-Reset': '8',
    })
  })

  it('adds Retry-After to a refusal, with RateLimit’s t and RateLimit-Reset at the same point in time', async () => {
    const l = limiter()
    for (let i = 0; i < 5; i++) await run(l.take('player:id:1', player))
    now += 500
    const decision = await run(l.take('player:id:1', player))
    expect(asObject(rateLimitHeaders([{ policy: 'player', decision }]))).to.deep.equal({
      'RateLimit-Policy': '"player";q=5;w=10',
      RateLimit: '"player";r=0;t=2',
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '2',
      'Retry-After': '2',
    })
  })

  it('lists every limit that applied in the draft’s fields, and gives the trio of the one closest to refusing', async () => {
    const l = limiter()
    const clientDecision = await run(l.take('client:key:game', client))
    for (let i = 0; i < 3; i++) await run(l.take('player:id:1', player))
    const playerDecision = await run(l.take('player:id:1', player))
    const headers = asObject(rateLimitHeaders([{ policy: 'client', decision: clientDecision }, { policy: 'player', decision: playerDecision }]))
    expect(headers).to.deep.equal({
      'RateLimit-Policy': '"client";q=600;w=60, "player";q=5;w=10',
      RateLimit: '"client";r=599;t=1, "player";r=1;t=2',
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '1',
      'RateLimit-Reset': '8',
    })
    await run(l.take('player:id:1', player))
    const refused = await run(l.take('player:id:1', player))
    const both = asObject(rateLimitHeaders([{ policy: 'client', decision: clientDecision }, { policy: 'player', decision: refused }]))
    expect(both).to.include({ 'RateLimit-Limit': '5', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '2', 'Retry-After': '2' })
  })

  it('writes nothing when no limit applied, and quotes a policy name as a Structured Field String', () => {
    expect(rateLimitHeaders([])).to.deep.equal([])
    const decision: RateDecision = { allowed: true, limit: 1, windowSeconds: 1, remaining: 0, resetSeconds: 1, nextSeconds: 1, retryAfterSeconds: 0 }
    expect(rateLimitHeaders([{ policy: 'a"b\\c', decision }])[1]).to.equal('"a\\"b\\\\c";q=1;w=1')
  })

  it('names the limit in words for the JSON error', () => {
    const decision: RateDecision = { allowed: false, limit: 5, windowSeconds: 10, remaining: 0, resetSeconds: 10, nextSeconds: 2, retryAfterSeconds: 2 }
    expect(rateLimitText('player', decision)).to.equal('too many messages from this player: at most 5 every 10 seconds; retry in 2 seconds')
    expect(rateLimitText('client', { ...decision, limit: 600, windowSeconds: 60, retryAfterSeconds: 1 })).to.equal(
      'too many requests from this client: at most 600 every 60 seconds; retry in 1 second',
    )
  })
})
