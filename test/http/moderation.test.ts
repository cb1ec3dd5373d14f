import { expect } from 'chai'
import * as TE from 'fp-ts/TaskEither'
import { randomBytes } from 'node:crypto'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES, type KeyConfig } from '../../adapters/http/auth'
import type { RedisMessageStore } from '../../adapters/redis/redis-message-store'
import type { AuditLog } from '../../domain/audit-log'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { openEventStream } from '../support/sse'
import { rawRequest, type RawAnswer } from './raw'

/*
 * Moderation over real HTTP, through both entries and on both stores:
 * removals every reader learns of exactly once (lists, long polls, streams,
 * a player's reader), erasures, mutes refusing sends until they end (time
 * moved by an injected clock, never slept for), the audit log, and the
 * routes' own refusals.
 */

const ADMIN_KEY = 'admin-key-0123456789abcdef'
const GAME_KEY = 'game-key-0123456789abcdef'
const LOBBY_ADMIN_KEY = 'lobby-admin-0123456789abcdef'
const KEYS: ReadonlyArray<KeyConfig> = [
  { label: 'ops', secret: ADMIN_KEY, scopes: ADMIN_SCOPES },
  { label: 'game', secret: GAME_KEY, scopes: PLAIN_SCOPES },
  { label: 'lobby-ops', secret: LOBBY_ADMIN_KEY, scopes: ADMIN_SCOPES, channels: ['lobby'] },
]

type Wire = { id: number; player_name: string; message: string; type: string; channel: string; reply_to?: number; user_id?: number; removes?: number[] }
type Page = { count: number; messages: Wire[]; next_after: number; gap: boolean; epoch: string; has_more: boolean }

const NOW = Date.UTC(2025, 10, 22, 10, 0, 0)

for (const store of ['memory', 'redis'] as const)
  describe(`HTTP: moderation (${store})`, function () {
    let redis: TestRedis | undefined
    if (store === 'redis') {
      before(async function () {
        requireRedis.call(this)
        redis = await startRedis()
      })
      after(async () => {
        await redis?.close()
      })
    }
    for (const via of ['listener', 'koa'] as const)
      describe(`HTTP: moderation (${store}, ${via})`, function () {
        this.timeout(30_000)
        let t: TestServer
        let now = NOW
        const start = async (options: TestServerOptions = {}) => {
          now = NOW
          t = await startTestServer({
            via,
            auth: createAuth({ keys: KEYS }),
            clock: { now: () => now },
            ...(store === 'redis'
              ? { config: { STORE: 'redis', REDIS_URL: (redis as TestRedis).url, REDIS_PREFIX: `t-${randomBytes(6).toString('hex')}` } }
              : {}),
            ...options,
          })
          expect(t.ports.status().store).to.equal(store)
          if (store === 'redis') await (t.ports.feed as RedisMessageStore).whenSubscribed(5_000)
        }
        beforeEach(() => start())
        afterEach(async () => {
          await t.close()
        })

        const call = (method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<RawAnswer> =>
          rawRequest(t.url, {
            method,
            path,
            headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
          })
        const send = async (player_name: string, message: string, more: Record<string, unknown> = {}) => {
          const answer = await call('POST', '/api/send', { player_name, message, ...more }, GAME_KEY)
          expect(answer.status, answer.text).to.equal(200)
          return answer.json as { message: Wire; auto_reply: Wire | null }
        }
        const page = async (query: string, path = '/api/messages') => {
          const answer = await call('GET', `${path}${query}`, undefined, GAME_KEY)
          expect(answer.status, answer.text).to.equal(200)
          return answer.json as Page
        }
        const texts = (p: Page) => p.messages.map((m) => m.message)
        /** Resolves once the server holds `count` long polls and streams: a reader is waiting. */
        const waiting = async (count: number) => {
          for (let i = 0; i < 2_000 && t.holding() < count; i++) await new Promise((resolve) => setImmediate(resolve))
          expect(t.holding()).to.equal(count)
        }

        describe('removing one message', () => {
          it('takes it and its reply off every list, answers the removal entry, and refuses it again with 404', async () => {
            const keep = await send('Ann', 'hello')
            const rude = await send('Bob', 'something rude')
            const removed = await call('DELETE', `/api/messages/${rude.message.id}`)
            expect(removed.status, removed.text).to.equal(200)
            const body = removed.json as { removed: number[]; removals: Wire[]; audited: boolean }
            expect(body.removed).to.deep.equal([rude.message.id, rude.auto_reply!.id])
            expect(body.audited).to.equal(true)
            const [entry] = body.removals
            expect(entry).to.deep.include({ type: 'removal', player_name: 'Server', message: '', channel: 'global', removes: [rude.message.id, rude.auto_reply!.id] })
            expect(entry!.id).to.be.greaterThan(rude.auto_reply!.id)
            expect(texts(await page(''))).to.deep.equal(['hello', 'Hello Ann!'])
            expect((await page('')).count).to.equal(2)
            expect((await page('', '/api/messages/Bob')).messages).to.deep.equal([])
            const followed = await page(`?after=${keep.auto_reply!.id}`)
            expect(followed.messages).to.deep.equal([entry])
            expect(followed.gap).to.equal(false)
            const again = await call('DELETE', `/api/messages/${rude.message.id}`)
            expect(again.status).to.equal(404)
            expect(again.json).to.deep.include({ success: false })
            expect((again.json as { error: string }).error).to.match(/^id: no message \d+ is stored/)
            expect((await call('DELETE', `/api/messages/${entry!.id}`)).status, 'a removal entry is not a message').to.equal(404)
          })

          it('refuses an id that is not a positive integer with a 400 naming the id, and leaves the player route to GET', async () => {
            await send('Bob', 'hi')
            for (const bad of ['Bob', '0', '-1', '1.5', '01', '9007199254740993', '%20'])
              expect((await call('DELETE', `/api/messages/${bad}`)).json, bad).to.deep.include({ success: false, error: 'id: DELETE /api/messages/<id> removes one message by its id, a positive integer such as /api/messages/42' })
            expect(texts(await page('', '/api/messages/bob'))).to.deep.equal(['hi'])
          })

          it('tells a held long poll of the removal once, without a gap, and the next poll waits for what comes after', async () => {
            const first = await send('Bob', 'b1')
            const head = await page('')
            const held = page(`?after=${head.next_after}&epoch=${head.epoch}&wait=10`)
            const bobHeld = page(`?after=${head.next_after}&epoch=${head.epoch}&wait=10`, '/api/messages/Ann')
            await waiting(2)
            await call('DELETE', `/api/messages/${first.message.id}`)
            const [woken, bobWoken] = await Promise.all([held, bobHeld])
            expect(woken.messages.map((m) => m.type)).to.deep.equal(['removal'])
            expect(woken.messages[0]!.removes).to.deep.equal([first.message.id, first.auto_reply!.id])
            expect(woken.gap).to.equal(false)
            expect(bobWoken.messages, "a player's reader hears every removal of its channel").to.deep.equal(woken.messages)
            // Exactly once: polling on from the cursor it gave waits for the next message, and gets only that.
            const next = page(`?after=${woken.next_after}&epoch=${woken.epoch}&wait=10`)
            await waiting(1)
            await send('Ann', 'after')
            expect(texts(await next)).to.deep.equal(['after', 'Hello Ann!'])
          })

          it('streams it as event: removal with its id, once, and a stream resumed past it by Last-Event-ID does not repeat it', async () => {
            const first = await send('Bob', 'b1')
            const head = await page('')
            const stream = await openEventStream(`${t.url}/api/stream?after=${head.next_after}&epoch=${head.epoch}`, { 'x-api-key': GAME_KEY })
            try {
              await stream.nextOf('ready')
              await call('DELETE', `/api/messages/${first.message.id}`)
              const event = await stream.next()
              expect(event.event).to.equal('removal')
              const entry = JSON.parse(event.data) as Wire
              expect(event.id).to.equal(String(entry.id))
              expect(entry.removes).to.deep.equal([first.message.id, first.auto_reply!.id])
              await send('Ann', 'after')
              const [message, reply] = [await stream.next(), await stream.next()]
              expect([message.event, JSON.parse(message.data).message, reply.event]).to.deep.equal(['message', 'after', 'message'])
              // Resumed from before the removal, it comes again (once); from its id, it does not.
              const before = await openEventStream(`${t.url}/api/stream`, { 'x-api-key': GAME_KEY, 'last-event-id': String(head.next_after) })
              const past = await openEventStream(`${t.url}/api/stream`, { 'x-api-key': GAME_KEY, 'last-event-id': event.id! })
              try {
                expect((await before.next()).event).to.equal('removal')
                expect(JSON.parse((await before.next()).data).message).to.equal('after')
                expect(JSON.parse((await past.next()).data).message).to.equal('after')
              } finally {
                await before.close()
                await past.close()
              }
            } finally {
              await stream.close()
            }
          })

          it('counts the removal entry in the channel, as toward its bound', async () => {
            const sent = await send('Bob', 'b1')
            await call('DELETE', `/api/messages/${sent.message.id}`)
            const channels = (await call('GET', '/api/channels')).json as { channels: Array<{ channel: string; count: number; newest_id: number }> }
            expect(channels.channels).to.deep.equal([{ channel: 'global', count: 1, newest_id: sent.auto_reply!.id + 1 }])
          })
        })

        describe('erasing a player', () => {
          it('removes what they wrote in every channel, by name in any case and by user id, with the replies, one entry per channel', async () => {
            await send('Bob', 'global 1', { user_id: 156 })
            await send('Ann', 'stays')
            await send('BOB', 'lobby 1', { channel: 'lobby' })
            await send('Robert', 'renamed, same user', { channel: 'trade', user_id: 156 })
            const erased = await call('POST', '/api/players/bob/erase', { user_id: 156 })
            expect(erased.status, erased.text).to.equal(200)
            const body = erased.json as { removed: number[]; removals: Wire[] }
            expect(body.removed).to.have.length(6)
            expect(body.removals.map((r) => r.channel)).to.deep.equal(['global', 'lobby', 'trade'])
            expect(texts(await page(''))).to.deep.equal(['stays', 'Hello Ann!'])
            expect(texts(await page('?channel=lobby'))).to.deep.equal([])
            expect(texts(await page('?channel=trade'))).to.deep.equal([])
            const repeat = await call('POST', '/api/players/Bob/erase', { user_id: 156 })
            expect(repeat.json).to.deep.include({ success: true, removed: [], removals: [] })
          })

          it('takes a name in either Unicode spelling (composed or decomposed) as one name, and a look-alike as another', async () => {
            await send('Zoe\u0308', 'decomposed')
            await send('Zoë', 'composed')
            await send('Z\u043e\u00eb', 'cyrillic o')
            expect(texts(await page('', `/api/messages/${encodeURIComponent('ZOË')}`))).to.deep.equal(['decomposed', 'composed'])
            const erased = await call('POST', `/api/players/${encodeURIComponent('zoe\u0308')}/erase`)
            expect((erased.json as { removed: number[] }).removed).to.have.length(4)
            expect(texts(await page(''))).to.deep.equal(['cyrillic o', 'Hello Z\u043e\u00eb!'])
          })

          it('takes no body, an empty one, or a JSON object; refuses another body naming what is wrong', async () => {
            await send('Bob', 'b1')
            expect((await call('POST', '/api/players/Bob/erase')).json).to.deep.include({ success: true })
            expect((await call('POST', '/api/players/Bob/erase', '{}')).status).to.equal(200)
            expect((await call('POST', '/api/players/Bob/erase', { user_id: 0 })).json).to.deep.include({ error: 'user_id must be a positive integer (a Roblox UserId)' })
            expect((await call('POST', '/api/players/Bob/erase', '[1]')).status).to.equal(400)
            const text = await rawRequest(t.url, { method: 'POST', path: '/api/players/Bob/erase', headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'text/plain' }, body: 'user_id=1' })
            expect(text.status).to.equal(415)
            expect((await call('POST', '/api/players/%20/erase')).json).to.deep.include({ error: 'player_name must not be blank' })
            expect((await call('POST', '/api/players/a%2Fb/erase')).status, 'a name with a slash, escaped').to.equal(200)
          // No one sends as Server (the replies' name), so no one erases or mutes as it: the replies go with their messages.
          expect(((await call('POST', '/api/players/SERVER/erase')).json as { error: string }).error).to.match(/^player_name SERVER is reserved/)
          expect(((await call('POST', '/api/players/Server/mute', { seconds: 60, reason: 'x' })).json as { error: string }).error).to.match(/is reserved/)
          })
        })

        describe('mutes', () => {
          it("refuses a muted player's sends with 403, the reason and Retry-After, until the mute ends", async () => {
            const muted = await call('POST', '/api/players/Bob/mute', { seconds: 600, reason: 'spamming the lobby' })
            expect(muted.status, muted.text).to.equal(200)
            expect((muted.json as { mute: unknown }).mute).to.deep.equal({
              player_name: 'Bob',
              reason: 'spamming the lobby',
              since: new Date(NOW).toISOString(),
              until: new Date(NOW + 600_000).toISOString(),
              by: 'ops',
            })
            const refused = await call('POST', '/api/send', { player_name: 'BOB', message: 'let me talk' }, GAME_KEY)
            expect(refused.status).to.equal(403)
            expect(refused.json).to.deep.equal({ success: false, error: `player_name Bob is muted until ${new Date(NOW + 600_000).toISOString()}: spamming the lobby` })
            expect(refused.headers['retry-after']).to.equal('600')
            expect((await page('')).count, 'nothing stored').to.equal(0)
            now += 599_000
            expect((await call('POST', '/api/send', { player_name: 'Bob', message: 'still?' }, GAME_KEY)).headers['retry-after']).to.equal('1')
            now += 1_000
            await send('Bob', 'free again')
          })

          it('refuses by user id under any name when the mute has one, and lists the mutes with their ends', async () => {
            await call('POST', '/api/players/OldName/mute', { seconds: 60, reason: 'griefing', user_id: 156 })
            await call('POST', '/api/players/Cat/mute', { seconds: 30, reason: 'caps' })
            expect((await call('POST', '/api/send', { player_name: 'NewName', message: 'hi', user_id: 156 }, GAME_KEY)).status).to.equal(403)
            await send('NewName', 'no user id, no match')
            await send('Dan', 'another user id', { user_id: 157 })
            const listed = (await call('GET', '/api/mutes')).json as { count: number; mutes: Array<{ player_name: string; until: string; user_id?: number }> }
            expect(listed.count).to.equal(2)
            expect(listed.mutes.map((m) => [m.player_name, m.until, m.user_id])).to.deep.equal([
              ['Cat', new Date(NOW + 30_000).toISOString(), undefined],
              ['OldName', new Date(NOW + 60_000).toISOString(), 156],
            ])
            now += 30_000
            expect(((await call('GET', '/api/mutes')).json as { count: number }).count, 'an ended mute is not listed').to.equal(1)
          })

          it('lifts a mute with DELETE, after which the player sends; lifting again is a 404', async () => {
            await call('POST', '/api/players/Bob/mute', { seconds: 600, reason: 'spam' })
            const lifted = await call('DELETE', '/api/players/bob/mute')
            expect(lifted.status).to.equal(200)
            expect(lifted.json).to.deep.include({ success: true, audited: true })
            await send('Bob', 'hello again')
            const again = await call('DELETE', '/api/players/Bob/mute')
            expect(again.status).to.equal(404)
            expect(again.json).to.deep.equal({ success: false, error: 'player_name Bob is not muted' })
          })

          it('refuses a mute without what it needs, naming the field', async () => {
            const cases: Array<[unknown, string]> = [
              [undefined, 'the request body is required: a JSON object such as {"seconds": 600, "reason": "spamming"}'],
              [{ reason: 'x' }, 'seconds is required and must be a whole number from 1 to 315360000'],
              [{ seconds: 0, reason: 'x' }, 'seconds must be a whole number from 1 to 315360000'],
              [{ seconds: 1.5, reason: 'x' }, 'seconds must be a whole number from 1 to 315360000'],
              [{ seconds: 60 }, 'reason is required and must be a text of 1–200 characters without control characters'],
              [{ seconds: 60, reason: '   ' }, 'reason must be a text of 1–200 characters without control characters'],
              [{ seconds: 60, reason: 'x'.repeat(201) }, 'reason must be a text of 1–200 characters without control characters'],
              [{ seconds: 60, reason: 'a\u0000b' }, 'reason must be a text of 1–200 characters without control characters'],
              [{ seconds: 60, reason: 'x', user_id: 'me' }, 'user_id must be a positive integer (a Roblox UserId)'],
            ]
            for (const [body, error] of cases) {
              const answer = await call('POST', '/api/players/Bob/mute', body)
              expect(answer.status, JSON.stringify(body)).to.equal(400)
              expect(answer.json, JSON.stringify(body)).to.deep.equal({ success: false, error })
            }
            expect(((await call('GET', '/api/mutes')).json as { count: number }).count).to.equal(0)
          })
        })

        describe('the audit log', () => {
          it('records every removal, erasure, mute, unmute and clear: who, what, when, on what; newest first, paged back', async () => {
            const sent = await send('Bob', 'b1')
            await call('DELETE', `/api/messages/${sent.message.id}`)
            now += 1_000
            await call('POST', '/api/players/Ann/erase', { user_id: 7 })
            await call('POST', '/api/players/Cat/mute', { seconds: 60, reason: 'caps', user_id: 9 })
            await call('DELETE', '/api/players/Cat/mute')
            await call('POST', '/api/clear?channel=lobby')
            await call('POST', '/api/clear')
            const read = (await call('GET', '/api/admin/audit')).json as { count: number; entries: Array<Record<string, unknown>>; next_before: number | null }
            expect(read.count).to.equal(6)
            const [clearAll, clearLobby, unmute, mute, erase, remove] = read.entries
            expect(remove).to.deep.include({ actor: 'ops', action: 'remove', message_id: sent.message.id, removed: [sent.message.id, sent.auto_reply!.id], at: new Date(NOW).toISOString() })
            expect(erase).to.deep.include({ action: 'erase', player_name: 'Ann', user_id: 7, removed: 0, channels: [], at: new Date(NOW + 1_000).toISOString() })
            expect(mute).to.deep.include({ action: 'mute', player_name: 'Cat', user_id: 9, reason: 'caps', until: new Date(NOW + 61_000).toISOString() })
            expect(unmute).to.deep.include({ action: 'unmute', player_name: 'Cat' })
            expect(clearLobby).to.deep.include({ action: 'clear', channel: 'lobby' })
            expect(clearAll).to.deep.include({ action: 'clear', channel: null })
            expect(read.next_before).to.equal(null)
            const ids = read.entries.map((e) => e.id as number)
            expect(ids).to.deep.equal([...ids].sort((a, b) => b - a))
            const first = (await call('GET', '/api/admin/audit?limit=4')).json as { entries: Array<{ id: number }>; next_before: number }
            expect(first.entries.map((e) => e.id)).to.deep.equal(ids.slice(0, 4))
            const rest = (await call('GET', `/api/admin/audit?limit=4&before=${first.next_before}`)).json as { entries: Array<{ id: number }> }
            expect(rest.entries.map((e) => e.id)).to.deep.equal(ids.slice(4))
            expect((await call('GET', '/api/admin/audit?limit=0')).json).to.deep.include({ success: false, error: 'limit must be a positive integer' })
            // Refused actions are not actions: nothing recorded for a 404 or a 400.
            await call('DELETE', '/api/messages/999999')
            await call('POST', '/api/players/Bob/mute', { seconds: 0, reason: 'x' })
            expect(((await call('GET', '/api/admin/audit')).json as { count: number }).count).to.equal(6)
          })
        })

        describe('who may', () => {
          it('keeps every moderation route to admin keys, and a key limited to channels out of the ones that act on every channel', async () => {
            const sent = await send('Bob', 'in lobby', { channel: 'lobby' })
            for (const [method, path, body] of [
              ['DELETE', `/api/messages/${sent.message.id}`],
              ['POST', '/api/players/Bob/erase'],
              ['POST', '/api/players/Bob/mute', { seconds: 60, reason: 'x' }],
              ['DELETE', '/api/players/Bob/mute'],
              ['GET', '/api/mutes'],
              ['GET', '/api/admin/audit'],
            ] as Array<[string, string, unknown?]>) {
              const plain = await call(method, path, body, GAME_KEY)
              expect(plain.status, `${method} ${path}`).to.equal(403)
              expect((plain.json as { error: string }).error).to.match(/game may not clear messages or moderate/)
              const limited = await call(method, path, body, LOBBY_ADMIN_KEY)
              if (method === 'GET') expect(limited.status, `${method} ${path}`).to.equal(200)
              else expect((limited.json as { error: string }).error, `${method} ${path}`).to.match(/lobby-ops is limited to some channels/)
            }
            expect(texts(await page('?channel=lobby'))).to.deep.equal(['in lobby', 'Hello Bob!'])
          })

          it('answers OPTIONS with DELETE among the methods, a CORS preflight for DELETE, and 405 with Allow for another method', async () => {
            const options = await rawRequest(t.url, { method: 'OPTIONS', path: '/api/messages/12' })
            expect(options.headers.allow).to.equal('GET, HEAD, DELETE, OPTIONS')
            expect((await rawRequest(t.url, { method: 'OPTIONS', path: '/api/players/Bob/mute' })).headers.allow).to.equal('POST, DELETE, OPTIONS')
            const preflight = await rawRequest(t.url, { method: 'OPTIONS', path: '/api/messages/12', headers: { origin: 'https://dash.example', 'access-control-request-method': 'DELETE' } })
            expect(preflight.status).to.equal(204)
            expect(String(preflight.headers['access-control-allow-methods'])).to.include('DELETE')
            const put = await call('PUT', '/api/players/Bob/mute')
            expect(put.status).to.equal(405)
            expect(put.headers.allow).to.equal('POST, DELETE, OPTIONS')
            expect((await call('DELETE', '/api/mutes')).headers.allow).to.equal('GET, HEAD, OPTIONS')
          })
        })
      })

  })

describe('HTTP: moderation on an open server', () => {
  let t: TestServer
  afterEach(async () => {
    await t.close()
  })

  it('acts for anyone who can reach it, as `open` in the audit log, but never for a page on another site', async () => {
    t = await startTestServer({ auth: createAuth({ keys: [] }) })
    const sent = (await (await fetch(`${t.url}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Bob', message: 'hi' }) })).json()) as { message: Wire }
    const crossSite = await rawRequest(t.url, { method: 'DELETE', path: `/api/messages/${sent.message.id}`, headers: { origin: 'https://evil.example' } })
    expect(crossSite.status).to.equal(403)
    expect((crossSite.json as { error: string }).error).to.match(/another site/)
    expect((await rawRequest(t.url, { method: 'DELETE', path: `/api/messages/${sent.message.id}` })).status).to.equal(200)
    const audit = (await rawRequest(t.url, { path: '/api/admin/audit' })).json as { entries: Array<{ actor: string }> }
    expect(audit.entries.map((e) => e.actor)).to.deep.equal(['open'])
  })
})

describe('HTTP: moderation when the audit log cannot keep a record', () => {
  it('answers audited: false and logs what was done, by whom and to which ids, never the name, user id or reason', async () => {
    const refusing: AuditLog = {
      record: () => TE.left({ _tag: 'StoreUnavailable', detail: 'the audit log is away' }),
      read: () => TE.right([]),
    }
    const t = await startTestServer({ auth: createAuth({ keys: KEYS }), audit: refusing })
    try {
      const call = (method: string, path: string, body?: unknown) =>
        rawRequest(t.url, { method, path, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
      const sent = (await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'x-api-key': GAME_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Zoë Private', message: 'hello', user_id: 4242 }) })).json as { message: Wire }
      const muted = await call('POST', `/api/players/${encodeURIComponent('Zoë Private')}/mute`, { seconds: 60, reason: 'a reason only moderators read', user_id: 4242 })
      expect(muted.json).to.deep.include({ success: true, audited: false })
      expect((await call('DELETE', `/api/players/${encodeURIComponent('Zoë Private')}/mute`)).json).to.deep.include({ audited: false })
      expect((await call('DELETE', `/api/messages/${sent.message.id}`)).json).to.deep.include({ audited: false })
      expect((await call('POST', `/api/players/${encodeURIComponent('Zoë Private')}/erase`, { user_id: 4242 })).json).to.deep.include({ audited: false })
      const logged = JSON.stringify(t.logged)
      expect(t.logged.length, logged).to.equal(4)
      for (const secret of ['Zoë', 'Private', '4242', 'a reason only moderators read']) expect(logged, secret).not.to.include(secret)
      for (const action of ['"mute"', '"unmute"', '"remove"', '"erase"']) expect(logged, action).to.include(action)
      expect(logged).to.include(`"message_id":${sent.message.id}`)
    } finally {
      await t.close()
    }
  })
})
