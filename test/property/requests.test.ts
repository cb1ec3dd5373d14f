import fc from 'fast-check'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { startTestServer, type TestServer } from '../support/server'
import { anyRequest, sendRequest, toWire, validSendRequest, type GeneratedRequest } from './arbitraries'
import { answerProblems, listProblems, messageProblems, showOutcome, type Violation } from './invariants'
import { exchange, showRequest, type WireRequest } from './wire'

/*
 * Property-based: thousands of generated requests, over real HTTP on raw
 * sockets, against a real server through both entries (the request listener
 * `npm start` serves, and the Koa app alone). Whatever is asked, every
 * answer keeps the invariants in invariants.ts: no 5xx but a 503 with
 * Retry-After, no hang, every /api answer JSON with `success` (and `error`
 * when false) and nosniff, every message shown well-formed. Then the whole
 * history is read back and every stored message checked.
 *
 * PROPERTY_RUNS sets the runs of each property (1,500 by default; about
 * 15 s for the file when everything holds). The seed is random, so each run
 * explores new inputs; fast-check prints it with a failure, and
 * PROPERTY_SEED and PROPERTY_PATH replay it (with --grep for that one test):
 *
 *   PROPERTY_SEED=-595506444 PROPERTY_PATH=359 npx mocha test/property/requests.test.ts -g 'POST /api/send'
 *
 * A property stops at its first counterexample; `npx tsx test/property/survey.ts`
 * lists every distinct invariant broken, with the smallest request for each.
 */

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1500)
const SEED = process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED)
const PATH = process.env.PROPERTY_PATH
/** No answer may take longer: the longest wait generated is 1 s. */
const REQUEST_TIMEOUT_MS = 5_000
/** Shrinking a failure stops after this long and reports the smallest counterexample found so far. */
const PROPERTY_TIME_LIMIT_MS = 100_000

const report = (port: number, wire: WireRequest, problems: ReadonlyArray<Violation>, answer: string): string =>
  [
    'invariants broken:',
    ...problems.map((p) => `  - ${p.invariant}: ${p.detail}`),
    `request (replay in bash: exec 3<>/dev/tcp/127.0.0.1/<port>; printf <this> >&3; timeout 5 cat <&3):`,
    `  ${showRequest(`127.0.0.1:${port}`, wire)}`,
    'answer:',
    `  ${answer.replace(/\r\n/g, '\n  ')}`,
  ].join('\n')

const runProperty = async (arbitrary: fc.Arbitrary<GeneratedRequest>, numRuns: number, port: () => number): Promise<void> => {
  await fc.assert(
    fc.asyncProperty(arbitrary, async (request) => {
      const wire = toWire(request)
      const outcome = await exchange(port(), wire, REQUEST_TIMEOUT_MS)
      const problems = answerProblems(request, wire, outcome)
      if (problems.length > 0) throw new Error(report(port(), wire, problems, showOutcome(outcome)))
    }),
    {
      numRuns,
      ...(SEED === undefined ? {} : { seed: SEED }),
      ...(PATH === undefined ? {} : { path: PATH }),
      includeErrorInReport: true,
      plugins: [fc.interruptAfterTimeLimit(PROPERTY_TIME_LIMIT_MS)],
    },
  )
}

const getJson = async (port: number, target: string): Promise<Record<string, unknown>> => {
  const outcome = await exchange(port, { method: 'GET', target, headers: [] }, REQUEST_TIMEOUT_MS)
  if (outcome.kind !== 'answer' || outcome.answer.status !== 200) throw new Error(`GET ${target}: ${showOutcome(outcome)}`)
  return JSON.parse(outcome.answer.body.toString('utf8')) as Record<string, unknown>
}

for (const via of ['listener', 'koa'] as const) {
  describe(`property: generated requests over real HTTP (${via})`, function () {
    // Each property takes some seconds when it holds; a failure's shrinking is bounded by PROPERTY_TIME_LIMIT_MS.
    this.timeout(PROPERTY_TIME_LIMIT_MS + 20_000)
    let t: TestServer
    let port = 0
    before(async () => {
      t = await startTestServer({ via })
      port = Number(new URL(t.url).port)
    })
    after(async () => {
      await t?.close()
    })

    it('answers any method, path, query and headers within the invariants', async () => {
      await runProperty(anyRequest, RUNS, () => port)
    })

    it('answers POST /api/send with any body, type and encoding within the invariants', async () => {
      await runProperty(sendRequest, RUNS, () => port)
    })

    it('stores as sent a send valid in every respect (charsets, gzip/deflate/br, a BOM, chunked, Expect: 100-continue)', async () => {
      await runProperty(validSendRequest, Math.max(1, Math.ceil(RUNS / 5)), () => port)
    })

    it('closes or refuses CONNECT (on a raw socket), never hanging and never with a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constantFrom('127.0.0.1:80', 'example.com:443', '/api/send', '/api', '*', '[::1]:5000', 'localhost'), fc.domain().map((d) => `${d}:443`)),
          async (target) => {
            const wire: WireRequest = { method: 'CONNECT', target, headers: [] }
            const outcome = await exchange(port, wire, REQUEST_TIMEOUT_MS)
            const problems: Violation[] = []
            if (outcome.kind === 'timeout') problems.push({ invariant: 'never a hang', detail: `CONNECT neither answered nor closed after ${outcome.ms} ms` })
            if (outcome.kind === 'answer') {
              const { status, headers } = outcome.answer
              if (status >= 500 && !(status === 503 && headers['retry-after'] !== undefined)) problems.push({ invariant: 'never a 5xx', detail: `CONNECT answered ${status}` })
              if (status >= 200 && status < 300) problems.push({ invariant: 'no tunnel is offered', detail: `CONNECT answered ${status}` })
            }
            if (problems.length > 0) throw new Error(report(port, wire, problems, showOutcome(outcome)))
          },
        ),
        { numRuns: Math.max(1, Math.ceil(RUNS / 30)), includeErrorInReport: true },
      )
    })

    it('holds only well-formed messages in the whole history read back, ids strictly increasing per channel', async () => {
      // Sends of its own first, so that the history is worth reading even when a property above stopped early.
      const seed = SEED ?? Math.floor(Math.random() * 2 ** 31)
      const storedBy = new Map<number, string>()
      for (const request of fc.sample(sendRequest, { numRuns: Math.max(1, Math.ceil(RUNS / 3)), seed })) {
        const wire = toWire(request)
        const outcome = await exchange(port, wire, REQUEST_TIMEOUT_MS)
        if (outcome.kind !== 'answer') continue
        try {
          const sent = JSON.parse(outcome.answer.body.toString('utf8')) as { message?: { id?: unknown }; auto_reply?: { id?: unknown } | null }
          for (const id of [sent.message?.id, sent.auto_reply?.id]) if (typeof id === 'number') storedBy.set(id, showRequest(`127.0.0.1:${port}`, wire, 400))
        } catch {
          // Not JSON: the properties above say so; here only what was stored matters.
        }
      }
      const listed = await getJson(port, '/api/channels')
      const channels = (listed.channels as Array<{ channel: string }>).map((c) => c.channel)
      const problems: Violation[] = []
      let total = 0
      for (const channel of channels) {
        const page = await getJson(port, `/api/messages?channel=${encodeURIComponent(channel)}&limit=1000`)
        const messages = page.messages as Array<Record<string, unknown>>
        total += messages.length
        problems.push(...listProblems(messages, `channel ${channel}`).filter((p) => p.invariant !== 'every message is well-formed'))
        for (const m of messages) {
          const sender = typeof m.id === 'number' ? storedBy.get(m.id) : undefined
          const where = `channel ${channel}, id ${String(m.id)}`
          for (const p of messageProblems(m, where)) problems.push(sender === undefined ? p : { ...p, detail: `${p.detail}\n        stored by ${sender}` })
          if (m.channel !== channel) problems.push({ invariant: 'a channel lists its own messages', detail: `${where}: listed in ${channel} but of ${String(m.channel)}` })
        }
      }
      if (problems.length > 0) {
        const kinds = new Map<string, Violation[]>()
        for (const p of problems) kinds.set(p.invariant, [...(kinds.get(p.invariant) ?? []), p])
        throw new Error(
          [
            `${problems.length} problems in ${total} stored messages (${channels.length} channels; this test's own sends drawn with PROPERTY_SEED=${seed}):`,
            ...[...kinds].flatMap(([invariant, list]) => [`  ${invariant} (${list.length}):`, ...list.slice(0, 15).map((p) => `    - ${p.detail}`)]),
          ].join('\n'),
        )
      }
    })
  })
}

/** Keys of three kinds, and ways of presenting them right and wrong. */
const KEYS = {
  plain: 'property-plain-0123456789abcdef',
  admin: 'property-admin-0123456789abcdef',
  lobby: 'property-lobby-0123456789abcdef',
} as const

const READER_KEY = 'property-reader-0123456789abcdef'

const keyHeaders: fc.Arbitrary<ReadonlyArray<readonly [string, string]>> = fc.oneof(
  fc.constant([]),
  fc.constantFrom(...Object.values(KEYS)).map((key) => [['Authorization', `Bearer ${key}`] as const]),
  fc.constantFrom(...Object.values(KEYS)).map((key) => [['X-Api-Key', key] as const]),
  fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `bearer ${KEYS.plain}`, `Bearer ${KEYS.plain} extra`, 'Bearer not-a-key-0123456789').map((value) => [['Authorization', value] as const]),
  fc.string({ maxLength: 40 }).map((value) => [['X-Api-Key', value] as const]),
)

const withKey = (requests: fc.Arbitrary<GeneratedRequest>): fc.Arbitrary<GeneratedRequest> =>
  fc.tuple(requests, keyHeaders).map(([request, headers]) => ({ ...request, headers: [...request.headers, ...headers] }))

for (const via of ['listener', 'koa'] as const) {
  describe(`property: generated requests with keys and rate limits on (${via})`, function () {
    this.timeout(PROPERTY_TIME_LIMIT_MS + 20_000)
    let t: TestServer
    let port = 0
    before(async () => {
      t = await startTestServer({
        via,
        auth: createAuth({
          keys: [
            { label: 'plain', secret: KEYS.plain, scopes: PLAIN_SCOPES },
            { label: 'admin', secret: KEYS.admin, scopes: ADMIN_SCOPES },
            { label: 'lobby', secret: KEYS.lobby, scopes: PLAIN_SCOPES, channels: ['lobby'] },
            { label: 'reader', secret: READER_KEY, scopes: ADMIN_SCOPES },
          ],
        }),
        playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 10_000 }), limit: { limit: 5, windowMs: 10_000 } },
        clientRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 10_000 }), limit: { limit: 200, windowMs: 1_000 } },
      })
      port = Number(new URL(t.url).port)
    })
    after(async () => {
      await t?.close()
    })

    /** The invariants of any answer, and those of keys and limits: 401 says how to authenticate, 429 when to retry, no answer repeats a key. */
    const runWithKeys = (arbitrary: fc.Arbitrary<GeneratedRequest>) =>
      fc.assert(
        fc.asyncProperty(arbitrary, async (request) => {
          const wire = toWire(request)
          const outcome = await exchange(port, wire, REQUEST_TIMEOUT_MS)
          const problems = [...answerProblems(request, wire, outcome)]
          if (outcome.kind === 'answer') {
            const { status, headers, body } = outcome.answer
            if (status === 401 && !String(headers['www-authenticate'] ?? '').startsWith('Bearer realm='))
              problems.push({ invariant: 'a 401 says how to authenticate', detail: `WWW-Authenticate ${String(headers['www-authenticate'])}` })
            if (status === 429 && !/^[1-9][0-9]*$/.test(String(headers['retry-after'] ?? '')))
              problems.push({ invariant: 'a 429 says when to retry, in whole seconds', detail: `Retry-After ${String(headers['retry-after'])}` })
            const text = body.toString('utf8')
            for (const key of Object.values(KEYS)) if (text.includes(key)) problems.push({ invariant: 'no answer repeats a key', detail: `the answer holds ${key}` })
          }
          if (problems.length > 0) throw new Error(report(port, wire, problems, showOutcome(outcome)))
        }),
        {
          numRuns: RUNS,
          ...(SEED === undefined ? {} : { seed: SEED }),
          ...(PATH === undefined ? {} : { path: PATH }),
          includeErrorInReport: true,
          plugins: [fc.interruptAfterTimeLimit(PROPERTY_TIME_LIMIT_MS)],
        },
      )

    it('answers any request, with any key or none, within the invariants', async () => {
      await runWithKeys(withKey(anyRequest))
    })

    it('answers any send, with any key or none, within the invariants, and stores only well-formed messages', async () => {
      await runWithKeys(withKey(sendRequest))
      // A key of its own for reading back, which no generated request used: its client limit is untouched.
      const admin: ReadonlyArray<readonly [string, string]> = [['X-Api-Key', READER_KEY]]
      const read = async (target: string) => {
        const outcome = await exchange(port, { method: 'GET', target, headers: admin }, REQUEST_TIMEOUT_MS)
        if (outcome.kind !== 'answer' || outcome.answer.status !== 200) throw new Error(`GET ${target}: ${showOutcome(outcome)}`)
        return JSON.parse(outcome.answer.body.toString('utf8')) as Record<string, unknown>
      }
      const channels = ((await read('/api/channels')).channels as Array<{ channel: string }>).map((c) => c.channel)
      for (const channel of channels) {
        const messages = (await read(`/api/messages?channel=${encodeURIComponent(channel)}&limit=1000`)).messages as Array<Record<string, unknown>>
        const problems = messages.flatMap((m) => messageProblems(m, `channel ${channel}, id ${String(m.id)}`))
        if (problems.length > 0) throw new Error(problems.map((p) => `${p.invariant}: ${p.detail}`).join('\n'))
      }
    })
  })
}
