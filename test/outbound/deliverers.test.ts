import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDiscordDeliverer, discordContent, discordUsername, DISCORD_CONTENT_MAX } from '../../adapters/outbound/discord'
import { createOpenCloudDeliverer, MESSAGING_SERVICE_MESSAGE_MAX, TOPIC_MAX, TOPIC_PREFIX_MAX } from '../../adapters/outbound/roblox-open-cloud'
import { delivererOf } from '../../composition/outbound'
import { parseTargets, type TargetConfig } from '../../composition/webhooks'
import * as E from 'fp-ts/Either'
import { createWebhookDeliverer } from '../../adapters/outbound/webhook'
import { channelName, CHANNEL_NAME_MAX, type ChannelName, type Message, type MessageText, type PlayerName } from '../../domain/message'
import type { DeliveryOutcome } from '../../domain/outbound'
import { startReceiver, type Receiver } from '../support/receiver'

/*
 * Each target kind against a local receiver that stands in for it: what is
 * sent (shape, headers, signature, escaping, limits) and how every kind of
 * answer is read (taken, retried with the wait the target asked for,
 * refused for good, no answer at all).
 */

const NOW = 1_700_000_000_000
const clock = { now: () => NOW }
const message = (more: Partial<Message> = {}): Message => ({
  id: 41,
  channel: 'lobby' as ChannelName,
  playerName: 'Builderman' as PlayerName,
  text: 'Hello from Roblox!' as MessageText,
  sentAt: NOW,
  type: 'player',
  replyTo: undefined,
  userId: 156,
  ...more,
})

describe('outbound deliverers', function () {
  this.timeout(20_000)
  let receiver: Receiver
  beforeEach(async () => {
    receiver = await startReceiver()
  })
  afterEach(async () => {
    await receiver.close()
  })

  describe('http webhook', () => {
    const deliverer = (secret?: string, timeoutMs = 5_000) =>
      createWebhookDeliverer({ name: 'audit', url: `${receiver.url}/hook`, timeoutMs, clock, userAgent: 'test', ...(secret === undefined ? {} : { secret }) })

    it('posts { event, message } with the message as the API shows it, and says which target and message', async () => {
      expect(await deliverer().deliver(message())()).to.deep.equal({ _tag: 'Delivered' })
      const [got] = receiver.received
      expect(got?.path).to.equal('/hook')
      expect(got?.headers['content-type']).to.match(/^application\/json/)
      expect(got?.headers['x-webhook-target']).to.equal('audit')
      expect(got?.headers['x-message-id']).to.equal('41')
      expect(got?.headers['x-signature']).to.equal(undefined)
      expect(JSON.parse(got?.body ?? '')).to.deep.equal({
        event: 'message.created',
        message: { id: 41, player_name: 'Builderman', message: 'Hello from Roblox!', timestamp: new Date(NOW).toISOString(), type: 'player', channel: 'lobby', user_id: 156 },
      })
    })

    it('posts a removal entry as { event: "message.removed", message } with the ids it removed', async () => {
      const entry: Message = { ...message(), id: 42, type: 'removal', playerName: 'Server' as PlayerName, text: '' as MessageText, userId: undefined, removes: [40, 41] }
      expect(await deliverer().deliver(entry)()).to.deep.equal({ _tag: 'Delivered' })
      const [got] = receiver.received
      expect(got?.headers['x-message-id']).to.equal('42')
      expect(JSON.parse(got?.body ?? '')).to.deep.equal({
        event: 'message.removed',
        message: { id: 42, player_name: 'Server', message: '', timestamp: new Date(NOW).toISOString(), type: 'removal', channel: 'lobby', removes: [40, 41] },
      })
    })

    it('signs the raw body with the secret as documented, verified here with WebCrypto', async () => {
      await deliverer('whsec-0123456789').deliver(message())()
      const [got] = receiver.received
      const signature = String(got?.headers['x-signature'])
      const parts = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature)
      expect(parts, signature).to.not.equal(null)
      expect(Number(parts?.[1])).to.equal(Math.floor(NOW / 1000))
      const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('whsec-0123456789'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${parts?.[1]}.${got?.body}`))
      expect(Buffer.from(mac).toString('hex')).to.equal(parts?.[2])
    })

    it("is verified by the README's verification function, which refuses a changed body, another secret and an old timestamp", async () => {
      const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')
      const code = /<!-- webhook-verify:start -->\s*```js\n([\s\S]*?)```\s*<!-- webhook-verify:end -->/.exec(readme)?.[1]
      expect(code, 'the README has the verification snippet').to.be.a('string')
      const verify = new Function('require', `${code}\nreturn verify`)(require) as (secret: string, header: string, body: string, tolerance?: number) => boolean
      const fresh = createWebhookDeliverer({ name: 'audit', url: `${receiver.url}/hook`, timeoutMs: 5_000, clock: { now: Date.now }, userAgent: 'test', secret: 'whsec-0123456789' })
      await fresh.deliver(message())()
      const [got] = receiver.received
      const header = String(got?.headers['x-signature'])
      expect(verify('whsec-0123456789', header, got?.body ?? '')).to.equal(true)
      expect(verify('whsec-0123456789', header, `${got?.body} `)).to.equal(false)
      expect(verify('another-secret-000', header, got?.body ?? '')).to.equal(false)
      await deliverer('whsec-0123456789').deliver(message())()
      expect(verify('whsec-0123456789', String(receiver.received[1]?.headers['x-signature']), receiver.received[1]?.body ?? '')).to.equal(false)
    })

    it('reads answers: 5xx and 429 are tried again (with the Retry-After asked), 400 refuses the message, 404 is tried again', async () => {
      const cases: Array<[number, Record<string, string>, DeliveryOutcome['_tag'], number | undefined]> = [
        [503, {}, 'Retry', undefined],
        [429, { 'retry-after': '7' }, 'Retry', 7_000],
        [400, {}, 'Refused', undefined],
        [422, {}, 'Refused', undefined],
        [404, {}, 'Retry', undefined],
      ]
      for (const [status, headers, tag, afterMs] of cases) {
        receiver.script.push({ status, headers, body: '{"error":"no"}' })
        const outcome = await deliverer().deliver(message())()
        expect(outcome._tag, `${status}`).to.equal(tag)
        if (outcome._tag === 'Retry') expect(outcome.afterMs, `${status}`).to.equal(afterMs)
        if (outcome._tag !== 'Delivered') expect(outcome.reason).to.equal(`answered ${status}: {"error":"no"}`)
      }
    })

    it('gives up on an attempt that gets no answer within its timeout, to try again', async () => {
      receiver.script.push('hang')
      const started = Date.now()
      const outcome = await deliverer(undefined, 300).deliver(message())()
      expect(outcome).to.deep.equal({ _tag: 'Retry', reason: 'no answer within 300 ms' })
      expect(Date.now() - started).to.be.below(3_000)
    })

    it('is cut short by the shutdown signal', async () => {
      receiver.script.push('hang')
      const cut = new AbortController()
      const delivering = deliverer().deliver(message(), cut.signal)()
      await receiver.waitFor(1)
      cut.abort()
      expect(await delivering).to.deep.equal({ _tag: 'Retry', reason: 'cut short by the shutdown' })
    })

    it('tries again when the connection drops or nothing listens', async () => {
      receiver.script.push('close')
      expect((await deliverer().deliver(message())())._tag).to.equal('Retry')
      const gone = createWebhookDeliverer({ name: 'x', url: 'http://127.0.0.1:1/hook', timeoutMs: 2_000, clock, userAgent: 'test' })
      expect((await gone.deliver(message())())._tag).to.equal('Retry')
    })
  })

  describe('discord', () => {
    const deliverer = (avatarUrl?: string) =>
      createDiscordDeliverer({ url: `${receiver.url}/api/webhooks/1/token`, timeoutMs: 5_000, clock, userAgent: 'test', ...(avatarUrl === undefined ? {} : { avatarUrl }) })
    const body = (i = 0) => JSON.parse(receiver.received[i]?.body ?? '') as { content: string; username: string; avatar_url?: string; allowed_mentions: unknown; flags: number }

    it("posts Discord's webhook shape: the text, the player as the username, mentions disabled, link previews off", async () => {
      receiver.fallback = { status: 204 }
      expect((await deliverer('https://example.com/a.png').deliver(message())())._tag).to.equal('Delivered')
      expect(receiver.received[0]?.path).to.equal('/api/webhooks/1/token')
      expect(body()).to.deep.equal({
        content: 'Hello from Roblox\\!',
        username: 'Builderman',
        avatar_url: 'https://example.com/a.png',
        allowed_mentions: { parse: [] },
        flags: 4,
      })
    })

    it('escapes markdown, mentions and emoji so that the text shows as typed', () => {
      expect(discordContent('@everyone **bold** <@123> :smile: [x](http://e.vil) # h > q `c` ||s|| ~~t~~ _i_')).to.equal(
        '\\@everyone \\*\\*bold\\*\\* \\<\\@123\\> \\:smile\\: \\[x\\]\\(http\\://e\\.vil\\) \\# h \\> q \\`c\\` \\|\\|s\\|\\| \\~\\~t\\~\\~ \\_i\\_',
      )
      // A backslash before any punctuation shows the punctuation: unescaping gives the text back.
      const text = 'a\\b *c* @here'
      expect(discordContent(text).replace(/\\([^0-9A-Za-z\s])/g, '$1')).to.equal(text)
    })

    it("keeps within Discord's 2,000 characters, never cutting an escape or a character in two", () => {
      const long = discordContent('*'.repeat(1500))
      expect(long.length).to.be.at.most(DISCORD_CONTENT_MAX)
      expect(long.endsWith('…')).to.equal(true)
      expect(long.slice(0, -1).replace(/\\\*/g, '')).to.equal('')
      const emoji = discordContent('😀'.repeat(1200))
      expect(emoji.length).to.be.at.most(DISCORD_CONTENT_MAX)
      expect(emoji.slice(0, -1)).to.equal('😀'.repeat((emoji.length - 1) / 2))
      expect(discordContent('x'.repeat(2000))).to.equal('x'.repeat(2000))
    })

    it('makes a username Discord accepts from any player name', () => {
      expect(discordUsername('Builderman')).to.equal('Builderman')
      expect(discordUsername('@everyone')).to.equal('Player')
      expect(discordUsername('here')).to.equal('Player')
      expect(discordUsername('Discord Staff')).to.equal('Staff')
      expect(discordUsername('clyde')).to.equal('Player')
      expect(discordUsername('a#b:c```d')).to.equal('abcd')
    })

    it('waits for a spent bucket: X-RateLimit-Remaining 0 makes the next message wait X-RateLimit-Reset-After', async () => {
      receiver.script.push({ status: 204, headers: { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '1.25' } })
      expect(await deliverer().deliver(message())()).to.deep.equal({ _tag: 'Delivered', waitMs: 1250 })
      receiver.script.push({ status: 204, headers: { 'x-ratelimit-remaining': '3', 'x-ratelimit-reset-after': '1.25' } })
      expect(await deliverer().deliver(message())()).to.deep.equal({ _tag: 'Delivered' })
    })

    it("honours a 429's retry_after (seconds, in the body) or its Retry-After, whichever is longer", async () => {
      receiver.script.push({ status: 429, body: '{"message":"You are being rate limited.","retry_after":2.5,"global":false}' })
      const fromBody = await deliverer().deliver(message())()
      expect(fromBody).to.deep.include({ _tag: 'Retry', afterMs: 2500 })
      receiver.script.push({ status: 429, headers: { 'retry-after': '4' }, body: '{"retry_after":1.2}' })
      expect(await deliverer().deliver(message())()).to.deep.include({ _tag: 'Retry', afterMs: 4000 })
      receiver.script.push({ status: 429, headers: { 'retry-after': '3' }, body: 'not json' })
      expect(await deliverer().deliver(message())()).to.deep.include({ _tag: 'Retry', afterMs: 3000 })
    })

    it('refuses a message Discord rejects (400), and tries again when the webhook is gone (404)', async () => {
      receiver.script.push({ status: 400, body: '{"content":["Must be 2000 or fewer in length."]}' }, { status: 404, body: '{"message":"Unknown Webhook","code":10015}' })
      expect((await deliverer().deliver(message())())._tag).to.equal('Refused')
      expect((await deliverer().deliver(message())())._tag).to.equal('Retry')
    })
  })

  describe('roblox open cloud', () => {
    const deliverer = () =>
      createOpenCloudDeliverer({ universeId: '1234567', apiKey: 'oc-key-secret', topicPrefix: 'chat-', apiBase: receiver.url, timeoutMs: 5_000, clock, userAgent: 'test' })

    it('publishes to the universe with the key header, a topic per channel, the message as its JSON', async () => {
      expect((await deliverer().deliver(message())())._tag).to.equal('Delivered')
      const [got] = receiver.received
      expect(got?.method).to.equal('POST')
      expect(got?.path).to.equal('/cloud/v2/universes/1234567:publishMessage')
      expect(got?.headers['x-api-key']).to.equal('oc-key-secret')
      const sent = JSON.parse(got?.body ?? '') as { topic: string; message: string }
      expect(sent.topic).to.equal('chat-lobby')
      expect(JSON.parse(sent.message)).to.deep.include({ id: 41, player_name: 'Builderman', message: 'Hello from Roblox!', channel: 'lobby' })
    })

    it('never publishes a topic longer than 80 characters: the longest prefix the configuration takes, then the longest channel name', async () => {
      const targets = parseTargets(JSON.stringify([{ name: 'live', kind: 'roblox', universe_id: '1', api_key: 'oc-key-secret-0123', topic_prefix: 'p'.repeat(TOPIC_PREFIX_MAX), api_base: receiver.url }]), 'WEBHOOKS')
      expect(E.isRight(targets), JSON.stringify(targets)).to.equal(true)
      expect(E.isLeft(parseTargets(JSON.stringify([{ name: 'live', kind: 'roblox', universe_id: '1', api_key: 'oc-key-secret-0123', topic_prefix: 'p'.repeat(TOPIC_PREFIX_MAX + 1) }]), 'WEBHOOKS'))).to.equal(true)
      const longest = channelName('c'.repeat(CHANNEL_NAME_MAX))
      expect(E.isRight(longest) && E.isLeft(channelName('c'.repeat(CHANNEL_NAME_MAX + 1)))).to.equal(true)
      const [target] = E.isRight(targets) ? targets.right : []
      expect((await delivererOf(target as TargetConfig).deliver(message({ channel: 'c'.repeat(CHANNEL_NAME_MAX) as ChannelName }))())._tag).to.equal('Delivered')
      const sent = JSON.parse(receiver.received[0]?.body ?? '') as { topic: string }
      expect(sent.topic).to.equal('p'.repeat(TOPIC_PREFIX_MAX) + 'c'.repeat(CHANNEL_NAME_MAX))
      expect(sent.topic.length).to.be.at.most(TOPIC_MAX).and.to.equal(80)
    })

    it('sends a notice with the id in place of a message that does not fit in 1 KB', async () => {
      await deliverer().deliver(message({ text: 'é'.repeat(600) as MessageText }))()
      const sent = JSON.parse(receiver.received[0]?.body ?? '') as { topic: string; message: string }
      expect(Buffer.byteLength(sent.message)).to.be.at.most(MESSAGING_SERVICE_MESSAGE_MAX)
      expect(JSON.parse(sent.message)).to.deep.equal({ id: 41, channel: 'lobby', truncated: true })
      await deliverer().deliver(message({ text: 'x'.repeat(800) as MessageText }))()
      const fits = JSON.parse(receiver.received[1]?.body ?? '') as { message: string }
      expect(Buffer.byteLength(fits.message)).to.be.at.most(MESSAGING_SERVICE_MESSAGE_MAX)
      expect(JSON.parse(fits.message)).to.deep.include({ id: 41, message: 'x'.repeat(800) })
    })

    it("honours Open Cloud's limits: a 429's Retry-After or x-ratelimit-reset, and a spent quota before it is refused", async () => {
      receiver.script.push({ status: 429, headers: { 'retry-after': '2' } }, { status: 429, headers: { 'x-ratelimit-reset': '5' } }, { status: 200, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' } })
      expect(await deliverer().deliver(message())()).to.deep.include({ _tag: 'Retry', afterMs: 2000 })
      expect(await deliverer().deliver(message())()).to.deep.include({ _tag: 'Retry', afterMs: 5000 })
      expect(await deliverer().deliver(message())()).to.deep.equal({ _tag: 'Delivered', waitMs: 3000 })
    })

    it('tries again when the key is refused (401, 403), so that fixing it resumes delivery; refuses a 400', async () => {
      receiver.script.push({ status: 401 }, { status: 403 }, { status: 400 })
      expect((await deliverer().deliver(message())())._tag).to.equal('Retry')
      expect((await deliverer().deliver(message())())._tag).to.equal('Retry')
      expect((await deliverer().deliver(message())())._tag).to.equal('Refused')
    })
  })
})
