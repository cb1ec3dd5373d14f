import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { startTestServer, type TestServer } from '../support/server'
import { rawRequest, type RawAnswer } from './raw'

/*
 * Roblox's webhook (Right to Erasure) over real HTTP, through both entries.
 * Every notification here is signed as Roblox documents it (base64
 * HMAC-SHA256 of "<t>.<raw body>" with the webhook's secret), by WebCrypto or
 * by the openssl command line: never by the server's own code. The server's
 * clock is injected, so stale and replayed notifications need no waiting.
 */

const SECRET = 'roblox-webhook-secret-0123456789'
const NOW = Date.UTC(2025, 10, 22, 10, 0, 0)
const seconds = (ms: number) => String(Math.floor(ms / 1000))

/** Roblox's signature of a body at `t`, by WebCrypto. */
const webCryptoSignature = async (secret: string, t: string, body: string): Promise<string> => {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return Buffer.from(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.${body}`))).toString('base64')
}

/** The same by `openssl dgst`, or why openssl cannot be run here. */
const opensslSignature = (secret: string, t: string, body: string): { signature?: string; unavailable?: string } => {
  const run = spawnSync('openssl', ['dgst', '-sha256', '-hmac', secret, '-binary'], { input: `${t}.${body}` })
  if (run.error !== undefined) return { unavailable: `openssl cannot be run (${run.error.message}); install the Debian package openssl` }
  if (run.status !== 0) return { unavailable: `openssl dgst failed: ${run.stderr.toString()}` }
  return { signature: run.stdout.toString('base64') }
}

const erasure = (userId: unknown, notification = 'c0ffee-1') =>
  JSON.stringify({ NotificationId: notification, EventType: 'RightToErasureRequest', EventTime: '2025-11-22T10:00:00.0000000Z', EventPayload: { UserId: userId, GameIds: [1234, 2345] } })

for (const via of ['listener', 'koa'] as const)
  describe(`HTTP: Roblox's webhook (${via})`, () => {
    let t: TestServer
    let now = NOW
    /** A server with the secret, or (null) without one. */
    const start = async (secret: string | null = SECRET) => {
      now = NOW
      t = await startTestServer({ via, clock: { now: () => now }, autoReplyTemplate: '', ...(secret === null ? {} : { robloxWebhookSecret: secret }) })
    }
    afterEach(async () => {
      await t.close()
    })
    const notify = (body: string, signature: string | undefined): Promise<RawAnswer> =>
      rawRequest(t.url, { method: 'POST', path: '/api/roblox/webhook', headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'roblox-signature': signature }) }, body })
    const signed = async (body: string, at = now, secret = SECRET) => `t=${seconds(at)},v1=${await webCryptoSignature(secret, seconds(at), body)}`
    const send = async (player_name: string, message: string, user_id?: number) => {
      const answer = await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name, message, ...(user_id === undefined ? {} : { user_id }) }) })
      expect(answer.status).to.equal(200)
    }
    const stored = async () => ((await rawRequest(t.url, { path: '/api/messages' })).json as { messages: Array<{ message: string }> }).messages.map((m) => m.message)
    const expectRefused = (answer: RawAnswer, error: RegExp) => {
      expect(answer.status, answer.text).to.equal(401)
      expect(answer.headers['www-authenticate']).to.equal('Roblox-Signature realm="roblox-messaging-server"')
      expect(answer.json).to.deep.include({ success: false })
      expect((answer.json as { error: string }).error).to.match(error)
    }

    it('erases every message of the user id in a Right to Erasure request signed with the secret, and records it', async () => {
      await start()
      await send('Bob', 'in global', 156)
      await send('Bob', 'without an id')
      await send('Ann', 'another user', 157)
      const body = erasure(156)
      const answer = await notify(body, await signed(body))
      expect(answer.status, answer.text).to.equal(200)
      expect(answer.json).to.deep.equal({ success: true, event: 'RightToErasureRequest', user_id: 156, removed: 1 })
      expect(await stored()).to.deep.equal(['without an id', 'another user'])
      const audit = (await rawRequest(t.url, { path: '/api/admin/audit' })).json as { entries: Array<Record<string, unknown>> }
      expect(audit.entries[0]).to.deep.include({ actor: 'roblox', action: 'erase', user_id: 156, removed: 1, notification: 'c0ffee-1', at: new Date(NOW).toISOString() })
    })

    it('accepts a signature made by the openssl command line, and any of several v1 values', async function () {
      await start()
      await send('Bob', 'to erase', 156)
      const body = erasure(156)
      const { signature, unavailable } = opensslSignature(SECRET, seconds(now), body)
      if (unavailable !== undefined) {
        if (process.env.CI === 'true') throw new Error(`CI needs openssl for this test: ${unavailable}`)
        console.log(`      skipping: ${unavailable}`)
        return this.skip()
      }
      const wrong = await webCryptoSignature('another-secret-0123456789', seconds(now), body)
      const answer = await notify(body, `t=${seconds(now)},v1=${wrong},v1=${signature}`)
      expect(answer.status, answer.text).to.equal(200)
      expect(await stored()).to.deep.equal([])
    })

    it("answers Roblox's test notification (SampleNotification) and other events with a 200, erasing nothing", async () => {
      await start()
      await send('Bob', 'stays', 1)
      const sample = JSON.stringify({ NotificationId: 'n', EventType: 'SampleNotification', EventTime: '2023-12-30T16:24:24.2118874Z', EventPayload: { UserId: 1 } })
      const answered = await notify(sample, await signed(sample))
      expect(answered.status).to.equal(200)
      expect(answered.json).to.deep.equal({ success: true, event: 'SampleNotification', handled: true })
      const other = JSON.stringify({ NotificationId: 'm', EventType: 'SubscriptionPurchased', EventPayload: { UserId: 1 } })
      expect((await notify(other, await signed(other))).json).to.deep.equal({ success: true, event: 'SubscriptionPurchased', handled: false })
      expect(await stored()).to.deep.equal(['stays'])
    })

    it('refuses a missing, malformed or wrong signature, and a changed body, with 401, erasing nothing', async () => {
      await start()
      await send('Bob', 'stays', 156)
      const body = erasure(156)
      expectRefused(await notify(body, undefined), /the header is missing/)
      expectRefused(await notify(body, 'v1=abc'), /no timestamp/)
      expectRefused(await notify(body, `t=${seconds(now)}`), /no v1 signature/)
      expectRefused(await notify(body, `t=${seconds(now)},v1=not base64 at all`), /does not match/)
      expectRefused(await notify(body, await signed(body, now, 'another-secret-0123456789')), /does not match/)
      expectRefused(await notify(erasure(157), await signed(body)), /does not match/)
      // Hex is not what Roblox sends: the same MAC written otherwise is not its signature.
      const hex = Buffer.from(await webCryptoSignature(SECRET, seconds(now), body), 'base64').toString('hex')
      expectRefused(await notify(body, `t=${seconds(now)},v1=${hex}`), /does not match/)
      expect(await stored()).to.deep.equal(['stays'])
    })

    it('refuses a timestamp more than five minutes from its clock, either way, and takes one within', async () => {
      await start()
      const body = erasure(156)
      expectRefused(await notify(body, await signed(body, now - 301_000)), /more than 300 seconds/)
      expectRefused(await notify(body, await signed(body, now + 301_000)), /more than 300 seconds/)
      expect((await notify(body, await signed(body, now - 299_000))).status).to.equal(200)
      expect((await notify(body, await signed(body, now + 299_000))).status).to.equal(200)
    })

    it('answers a notification delivered again (a retry, a replay within the window) with a 200 that erases nothing more, and refuses a replay once stale', async () => {
      await start()
      await send('Bob', 'to erase', 156)
      const body = erasure(156)
      const signature = await signed(body)
      expect((await notify(body, signature)).json).to.deep.include({ success: true, removed: 1 })
      await send('Bob', 'sent after the erasure', 156)
      now += 60_000
      expect((await notify(body, signature)).json, 'the same notification, a minute later').to.deep.include({ success: true, removed: 1 })
      expect(await stored()).to.deep.equal([])
      now += 250_000
      expectRefused(await notify(body, signature), /more than 300 seconds/)
    })

    it('refuses a signed body that is not a Roblox notification, naming what is wrong', async () => {
      await start()
      const refuse = async (body: string, error: string) => {
        const answer = await notify(body, await signed(body))
        expect(answer.status, body).to.equal(400)
        expect(answer.json, body).to.deep.equal({ success: false, error })
      }
      await refuse('not json', 'the request body must be a Roblox notification: a JSON object with EventType and EventPayload')
      await refuse('[]', 'the request body must be a Roblox notification: a JSON object with EventType and EventPayload')
      await refuse('{"EventPayload":{}}', 'EventType must be a string, such as RightToErasureRequest')
      await refuse(erasure('156'), 'EventPayload.UserId must be a positive integer, the Roblox user id to erase')
      await refuse(erasure(0), 'EventPayload.UserId must be a positive integer, the Roblox user id to erase')
      await refuse('{"EventType":"RightToErasureRequest"}', 'EventPayload.UserId must be a positive integer, the Roblox user id to erase')
    })

    it('answers 404 saying how to set it up when ROBLOX_WEBHOOK_SECRET is not set', async () => {
      await start(null)
      const body = erasure(156)
      const answer = await notify(body, await signed(body))
      expect(answer.status).to.equal(404)
      expect(answer.json).to.deep.equal({
        success: false,
        error: "Roblox's webhook is not set up on this server: set ROBLOX_WEBHOOK_SECRET to the secret of the webhook on Roblox (Creator Dashboard → Webhooks), then point the webhook at /api/roblox/webhook",
      })
    })
  })

describe("configuration: Roblox's webhook secret", () => {
  it('takes ROBLOX_WEBHOOK_SECRET, and refuses one too short at start-up naming the variable, never the value', () => {
    const read = readConfig({ ROBLOX_WEBHOOK_SECRET: SECRET })
    expect(E.isRight(read) && read.right.ROBLOX_WEBHOOK_SECRET).to.equal(SECRET)
    const short = readConfig({ ROBLOX_WEBHOOK_SECRET: 'tiny-secret' })
    expect(E.isLeft(short)).to.equal(true)
    const problems = (short as E.Left<ReadonlyArray<string>>).left.join('\n')
    expect(problems).to.include('ROBLOX_WEBHOOK_SECRET must be 16–1024 characters without spaces')
    expect(problems).not.to.include('tiny-secret')
    expect(E.isRight(readConfig({ ROBLOX_WEBHOOK_SECRET: '' })) && (readConfig({ ROBLOX_WEBHOOK_SECRET: '' }) as E.Right<{ ROBLOX_WEBHOOK_SECRET: unknown }>).right.ROBLOX_WEBHOOK_SECRET).to.equal(undefined)
  })
})
