import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import type { Browser, Page, Request } from 'playwright-core'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES, type KeyConfig } from '../../adapters/http/auth'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { parseTargets } from '../../composition/webhooks'
import { launchChromium } from '../support/chromium'
import { startReceiver, type Receiver } from '../support/receiver'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'

/*
 * The admin dashboard (/admin) in Debian's Chromium, against a real server
 * with keys: signing in, the live view, removing and muting from it, the
 * outbound targets, the refusals and the audit log, hostile text, and a
 * phone's width. A second page shows the tester, to see a removal made from
 * the dashboard reach another reader.
 */

const ADMIN_KEY = 'admin-key-0123456789abcdef'
const NIGHT_KEY = 'night-shift-0123456789abcdef'
const GAME_KEY = 'game-key-0123456789abcdef'
const LOBBY_ADMIN_KEY = 'lobby-admin-0123456789abcdef'
const KEYS: ReadonlyArray<KeyConfig> = [
  { label: 'ops', secret: ADMIN_KEY, scopes: ADMIN_SCOPES },
  { label: 'night-shift', secret: NIGHT_KEY, scopes: ADMIN_SCOPES },
  { label: 'game', secret: GAME_KEY, scopes: PLAIN_SCOPES },
  { label: 'lobby-ops', secret: LOBBY_ADMIN_KEY, scopes: ADMIN_SCOPES, channels: ['lobby'] },
]
const KEY_STORAGE = 'roblox-messaging-server.admin-key'

type Wire = { id: number; player_name: string; message: string; channel: string }

/** The outbound targets as WEBHOOKS would configure them, through the configuration's own parser. */
const targets = (list: unknown[]) => {
  const parsed = parseTargets(JSON.stringify(list), 'WEBHOOKS')
  if (E.isLeft(parsed)) throw new Error(parsed.left.join('; '))
  return parsed.right
}

describe('web: the admin dashboard in Chromium', function () {
  this.timeout(60_000)
  let browser: Browser | undefined
  let server: TestServer | undefined
  const receivers: Receiver[] = []
  const pages: Page[] = []
  /** Uncaught errors, and what the CSP blocked (a violation is only told on the console). */
  let pageErrors: string[]

  before(async function () {
    browser = await launchChromium(this)
  })
  after(async () => {
    await browser?.close()
  })
  beforeEach(() => {
    pageErrors = []
  })
  afterEach(async () => {
    expect(pageErrors, 'errors in the pages').to.deep.equal([])
    await Promise.all(pages.splice(0).map((p) => p.close()))
    await server?.close()
    server = undefined
    await Promise.all(receivers.splice(0).map((r) => r.close()))
  })

  const start = async (options: TestServerOptions = {}): Promise<TestServer> => {
    server = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: KEYS }), ...options })
    return server
  }
  const url = (path: string): string => `${(server as TestServer).url}${path}`

  const newPage = async (): Promise<Page> => {
    const page = await (browser as Browser).newPage()
    pages.push(page)
    page.on('pageerror', (err) => pageErrors.push(err.message))
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) pageErrors.push(message.text())
    })
    return page
  }

  const live = (page: Page) => page.getByRole('list', { name: /^Messages in the watched channels/ })
  const status = (page: Page) => page.locator('header').getByRole('status')

  const signIn = async (page: Page, key = ADMIN_KEY): Promise<void> => {
    await page.goto(url('/admin'))
    await page.getByLabel('Admin key').fill(key)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await status(page).getByText('live', { exact: true }).waitFor()
  }

  /** A send as a game server makes it; `key` '': without a key. */
  const send = (key: string, body: Record<string, unknown>) =>
    fetch(url('/api/send'), { method: 'POST', headers: { 'content-type': 'application/json', ...(key === '' ? {} : { 'x-api-key': key }) }, body: JSON.stringify(body) })
  const sent = async (body: Record<string, unknown>, key = GAME_KEY): Promise<Wire> => {
    const answer = await send(key, body)
    expect(answer.status, JSON.stringify(body)).to.equal(200)
    return ((await answer.json()) as { message: Wire }).message
  }
  const admin = async (method: string, path: string, body?: unknown, key = ADMIN_KEY) => {
    const answer = await fetch(url(path), {
      method,
      headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> }
  }

  it('refuses an unknown key and a non-admin key, each with a message saying why, and keeps neither', async () => {
    await start()
    const page = await newPage()
    await page.goto(url('/admin'))
    const alert = page.locator('#sign-in-panel').getByRole('alert')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await alert.getByText('Enter an admin key').waitFor()

    await page.getByLabel('Admin key').fill('not-a-key-of-this-server-0123')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await alert.getByText(/not a key this server knows/).waitFor()

    await page.getByLabel('Admin key').fill(GAME_KEY)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await alert.getByText(/not an admin key/).waitFor()

    expect(await page.locator('#dashboard').isVisible()).to.equal(false)
    expect(await status(page).textContent()).to.equal('signed out')
    expect(await page.evaluate('sessionStorage.length + localStorage.length')).to.equal(0)
    // A reload does not sign in with a refused key.
    await page.reload()
    await page.getByLabel('Admin key').waitFor()
    expect(await page.locator('#dashboard').isVisible()).to.equal(false)
  })

  it('keeps the key in the tab: in session storage and a header, never in local storage, a cookie or a URL; the stream gets a token', async () => {
    await start()
    const page = await newPage()
    const requests: Request[] = []
    page.on('request', (request) => void requests.push(request))
    await signIn(page)

    expect(await page.evaluate(`sessionStorage.getItem(${JSON.stringify(KEY_STORAGE)})`)).to.equal(ADMIN_KEY)
    expect(await page.evaluate('JSON.stringify(localStorage)')).to.equal('{}')
    expect(await page.context().cookies()).to.deep.equal([])
    const api = requests.filter((r) => new URL(r.url()).pathname.startsWith('/api'))
    const stream = api.filter((r) => new URL(r.url()).pathname === '/api/stream')
    expect(stream, 'the stream was opened').to.have.length.greaterThan(0)
    for (const request of requests) {
      expect(decodeURIComponent(request.url()), request.url()).not.to.include(ADMIN_KEY)
      expect(request.postData() ?? '', request.url()).not.to.include(ADMIN_KEY)
    }
    for (const request of stream) expect(new URL(request.url()).searchParams.get('token'), 'the stream is opened with a token').to.match(/^[\w-]+\.[\w-]+$/)
    // Every other API request carries the key in its header: that is how the page is signed in.
    for (const request of api.filter((r) => !stream.includes(r))) expect((await request.allHeaders())['x-api-key'], request.url()).to.equal(ADMIN_KEY)

    // Kept for this tab: a reload stays signed in, another tab is not, and signing out forgets it.
    await page.reload()
    await status(page).getByText('live', { exact: true }).waitFor()
    const other = await newPage()
    await other.goto(url('/admin'))
    await other.getByLabel('Admin key').waitFor()
    expect(await other.locator('#dashboard').isVisible()).to.equal(false)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await status(page).getByText('signed out', { exact: true }).waitFor()
    expect(await page.evaluate('sessionStorage.length')).to.equal(0)
    expect(await page.locator('#dashboard').isVisible()).to.equal(false)
  })

  it('shows a message as it arrives, and removing it there takes it off the dashboard and off the tester in another page', async () => {
    await start({ autoReplyTemplate: 'Hello {player}!' })
    await sent({ player_name: 'Ann', message: 'stays on screen' })
    const dashboard = await newPage()
    const lists: string[] = []
    dashboard.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/messages') lists.push(request.url())
    })
    await signIn(dashboard)
    await live(dashboard).getByText('stays on screen').waitFor()

    const tester = await newPage()
    await tester.goto(url('/'))
    await tester.getByLabel(/API key/).fill(GAME_KEY)
    await tester.getByLabel(/API key/).dispatchEvent('change')
    await tester.getByRole('status').getByText('live').waitFor()
    const chat = tester.getByRole('list', { name: 'Chat log, oldest first' })
    await chat.getByText('stays on screen').waitFor()

    const listed = lists.length
    const rude = await sent({ player_name: 'Griefer', message: 'something rude' })
    await live(dashboard).getByText('something rude').waitFor()
    await live(dashboard).getByText('Hello Griefer!').waitFor()
    // It came over the stream: the page read no list after it was sent.
    expect(lists.length, lists.join('\n')).to.equal(listed)
    // Newest first.
    expect(await live(dashboard).locator('li .text').allTextContents()).to.deep.equal(['Hello Griefer!', 'something rude', 'Hello Ann!', 'stays on screen'])
    await chat.getByText('something rude').waitFor()
    await chat.getByText('Hello Griefer!').waitFor()

    await dashboard.getByRole('button', { name: `Remove message ${rude.id} by Griefer` }).click()
    // Gone from both pages, with its reply.
    for (const list of [live(dashboard), chat]) {
      await list.getByText('something rude').waitFor({ state: 'detached' })
      await list.getByText('Hello Griefer!').waitFor({ state: 'detached' })
      expect(await list.getByText('stays on screen').isVisible()).to.equal(true)
    }
    const stored = (await (await fetch(url('/api/messages'), { headers: { 'x-api-key': GAME_KEY } })).json()) as { messages: Wire[] }
    expect(stored.messages.map((m) => m.message)).to.deep.equal(['stays on screen', 'Hello Ann!'])
    await dashboard.getByRole('list', { name: 'Audit log' }).getByText(`ops · removed message #${rude.id} and 1 reply to it`).waitFor()

    // The channel's row: its count (the removal entry counts too) and newest id, once the panels refresh.
    const row = dashboard.getByRole('row', { name: /^global / })
    await row.getByRole('cell', { name: String(rude.id + 2), exact: true }).waitFor()
    expect(await row.getByRole('cell').allTextContents()).to.deep.equal(['global', '3', String(rude.id + 2), '2', 'yes'])
  })

  it('follows a channel written to after signing in, and shows no message twice', async () => {
    await start()
    const page = await newPage()
    await signIn(page)
    await sent({ player_name: 'Ann', message: 'in the lobby', channel: 'lobby' })
    // The lobby had no messages when the page signed in: it is watched from the next refresh on.
    await live(page).getByText('in the lobby').waitFor({ timeout: 15_000 })
    await page.getByRole('row', { name: /^lobby / }).waitFor()
    await sent({ player_name: 'Bob', message: 'lobby, live', channel: 'lobby' })
    await sent({ player_name: 'Cy', message: 'global, live' })
    await live(page).getByText('global, live').waitFor()
    await live(page).getByText('lobby, live').waitFor()
    expect(await live(page).locator('li .text').allTextContents()).to.deep.equal(['global, live', 'lobby, live', 'in the lobby'])
  })

  it('counts the last minute only for the channels it follows: the ten written to last (and global), the rest shown as —', async () => {
    await start()
    // Channel c0 is written to first, so it is the one of eleven the live view leaves out.
    for (let i = 0; i <= 10; i++) await sent({ player_name: 'Ann', message: `in c${i}`, channel: `c${i}` })
    const page = await newPage()
    await signIn(page)
    const cells = async (channel: string) => page.getByRole('row', { name: new RegExp(`^${channel} `) }).locator('td').allTextContents()
    await page.getByRole('row', { name: /^c0 / }).waitFor()
    expect(await cells('c0')).to.deep.equal(['c0', '1', '1', '—', 'no'])
    await sent({ player_name: 'Bob', message: 'c10 again', channel: 'c10' })
    await live(page).getByText('c10 again').waitFor()
    // The figure is the page's own count of what the stream brought since it began to follow.
    await page.getByRole('row', { name: /^c10 2 12 1 yes$/ }).waitFor({ timeout: 15_000 })
  })

  it('mutes a player from a message: their next send is refused with the reason, the mute is listed with its end, then lifted', async () => {
    await start()
    const page = await newPage()
    await signIn(page)
    await sent({ player_name: 'Spammer', message: 'buy robux here', user_id: 156 })
    await page.getByRole('button', { name: 'Mute Spammer' }).click()
    expect(await page.getByLabel('Player name').inputValue()).to.equal('Spammer')
    expect(await page.getByLabel('UserId').inputValue()).to.equal('156')
    await page.getByLabel('For how long').selectOption({ label: '5 minutes' })
    await page.getByLabel(/^Reason/).fill('spamming the lobby')
    await page.getByRole('button', { name: 'Mute', exact: true }).click()

    const mutes = page.getByRole('list', { name: 'Muted now' })
    const mute = mutes.getByRole('listitem').filter({ hasText: 'Spammer' })
    await mute.waitFor()
    const listed = await admin('GET', '/api/mutes')
    const [stored] = listed.body.mutes as Array<{ player_name: string; user_id: number; until: string; since: string; reason: string; by: string }>
    expect(stored).to.include({ player_name: 'Spammer', user_id: 156, reason: 'spamming the lobby', by: 'ops' })
    expect(Date.parse(stored!.until) - Date.parse(stored!.since)).to.equal(300_000)
    // Its end, as the API has it and as this browser writes a time.
    expect(await mute.locator('time').getAttribute('datetime')).to.equal(stored!.until)
    const shown = await page.evaluate(`new Date(${JSON.stringify(stored!.until)}).toLocaleString()`)
    expect(await mute.textContent()).to.include(`until ${shown}`).and.include('spamming the lobby').and.include('156')

    for (const body of [{ player_name: 'Spammer', message: 'let me talk' }, { player_name: 'NewName', message: 'under another name', user_id: 156 }]) {
      const refused = await send(GAME_KEY, body)
      expect(refused.status, body.player_name).to.equal(403)
      expect(((await refused.json()) as { error: string }).error).to.include('spamming the lobby')
    }
    await page.getByRole('list', { name: 'Audit log' }).getByText('ops · muted Spammer (user 156) until').waitFor()

    await mute.getByRole('button', { name: 'Lift the mute of Spammer' }).click()
    await mutes.getByRole('listitem').waitFor({ state: 'detached' })
    await page.getByText('Nobody is muted.').waitFor()
    expect((await admin('GET', '/api/mutes')).body.count).to.equal(0)
    await sent({ player_name: 'Spammer', message: 'sorry' })
    await live(page).getByText('sorry').waitFor()
    await page.getByRole('list', { name: 'Audit log' }).getByText('ops · lifted the mute of Spammer').waitFor()
  })

  it('says what is missing from a mute, and what the server refused, without signing out', async () => {
    await start()
    const message = await sent({ player_name: 'Bob', message: 'in the lobby', channel: 'lobby' })
    const page = await newPage()
    await signIn(page, LOBBY_ADMIN_KEY)
    const alert = page.locator('#mute-form + .alert')
    await page.getByLabel('Player name').fill('Bob')
    await page.getByRole('button', { name: 'Mute', exact: true }).click()
    await alert.getByText('Enter a reason').waitFor()
    // An admin key limited to a channel may read there, but not mute (which acts everywhere): the page says so and stays signed in.
    await page.getByLabel(/^Reason/).fill('testing')
    await page.getByRole('button', { name: 'Mute', exact: true }).click()
    await alert.getByText(/limited to some channels/).waitFor()
    await live(page).getByText('in the lobby').waitFor()
    await page.getByRole('button', { name: `Remove message ${message.id} by Bob` }).click()
    await page.locator('#live-error').getByText(/limited to some channels/).waitFor()
    expect(await live(page).getByText('in the lobby').isVisible()).to.equal(true)
    expect(await status(page).textContent()).to.equal('live')
    expect(await page.locator('#dashboard').isVisible()).to.equal(true)
  })

  it('shows markup from players and from outside as text: no element made, no script run, even without the CSP', async () => {
    const hook = await startReceiver({ status: 503, body: '<img src=x onerror="window.__pwned=3">' })
    receivers.push(hook)
    await start({ config: { WEBHOOKS: targets([{ name: 'hook', kind: 'http', url: hook.url, retry_base_ms: 20, retry_max_ms: 100, pause_after: 1000 }]) } })
    const page = await newPage()
    // The CSP alone would stop an inline handler from running: taken off here, so that only the page's own care stands between the payload and a script.
    await page.route('**/admin', async (route) => {
      const response = await route.fetch()
      expect(response.headers()['content-security-policy']).to.include("script-src 'self'")
      const headers = { ...response.headers() }
      delete headers['content-security-policy']
      await route.fulfill({ response, headers })
    })
    const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    await signIn(page)
    const message = await sent({ player_name: '<b>Mallory</b>', message: payload })
    await live(page).locator(`li[data-id="${message.id}"]`).waitFor()
    await page.getByLabel('Player name').fill('<i>Eve</i>')
    await page.getByLabel(/^Reason/).fill('<img src=x onerror="window.__pwned=4">')
    await page.getByRole('button', { name: 'Mute', exact: true }).click()
    await page.getByRole('list', { name: 'Muted now' }).getByRole('listitem').waitFor()
    await page.getByRole('list', { name: 'Audit log' }).getByRole('listitem').waitFor()
    await page.getByRole('row', { name: /^hook / }).getByRole('cell', { name: /^answered 503/ }).waitFor()
    // Markup parsed into the page would have made its <img> by now, and the image's failed load (a round trip, several of which the page
    // has made since) would have run its handler.
    expect(await page.evaluate('window.__pwned'), 'a handler ran').to.equal(undefined)
    expect(await page.locator('main').locator('img, script, b, i').count(), 'elements made from text').to.equal(0)
    // Each text is there, whole, as text.
    expect(await live(page).getByText(payload, { exact: true }).count()).to.equal(1)
    expect(await live(page).getByText('<b>Mallory</b>', { exact: true }).count()).to.equal(1)
    expect(await page.getByRole('list', { name: 'Muted now' }).textContent()).to.include('<i>Eve</i>').and.include('<img src=x onerror="window.__pwned=4">')
    expect(await page.getByRole('list', { name: 'Audit log' }).textContent()).to.include('muted <i>Eve</i> until')
    expect(await page.getByRole('row', { name: /^hook / }).getByRole('cell').last().textContent()).to.equal('answered 503: <img src=x onerror="window.__pwned=3">')
  })

  it("shows the outbound targets' state: retrying, and paused with its end, after a receiver answering 503", async () => {
    const hook = await startReceiver({ status: 503, body: 'down for maintenance' })
    receivers.push(hook)
    await start({
      config: {
        WEBHOOKS: targets([
          { name: 'flaky', kind: 'http', url: `${hook.url}/flaky`, retry_base_ms: 20, retry_max_ms: 100, pause_after: 1000 },
          { name: 'down', kind: 'http', url: `${hook.url}/down`, retry_base_ms: 20, retry_max_ms: 100, pause_after: 2, pause_seconds: 600 },
        ]),
      },
    })
    const page = await newPage()
    await signIn(page)
    const table = page.getByRole('table', { name: 'Outbound targets' })
    for (const name of ['flaky', 'down']) await table.getByRole('row', { name: new RegExp(`^${name} http idle`) }).waitFor()
    await sent({ player_name: 'Ann', message: 'to the webhooks' })
    await hook.waitFor(4)
    const flaky = table.getByRole('row', { name: /^flaky / })
    const down = table.getByRole('row', { name: /^down / })
    await flaky.getByRole('cell', { name: /^retrying · \d+ failures$/ }).waitFor()
    await down.getByRole('cell', { name: /^paused until .+ · 2 failures$/ }).waitFor()
    const reported = (await (await fetch(url('/api'))).json()) as { outbound: Array<{ name: string; paused_until?: string }> }
    const until = reported.outbound.find((t) => t.name === 'down')?.paused_until as string
    expect(await down.locator('time').getAttribute('datetime')).to.equal(until)
    for (const row of [flaky, down]) {
      const cells = await row.getByRole('cell').allTextContents()
      // Queued, dropped, delivered, retried (by this process: at least the failures shown), and the last error.
      expect(cells.slice(3, 6)).to.deep.equal(['1', '0', '0'])
      expect(Number(cells[6])).to.be.at.least(row === down ? 2 : 1)
      expect(cells[7]).to.equal('answered 503: down for maintenance')
    }
    expect(await page.getByText('No targets configured').isVisible()).to.equal(false)
  })

  it('lists the refusals by reason and the admin actions with the label of the key that did each', async () => {
    await start({ playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 100 }), limit: { limit: 1, windowMs: 60_000 } } })
    const page = await newPage()
    await signIn(page)
    const first = await sent({ player_name: 'Ann', message: 'one' })
    expect((await send(GAME_KEY, { player_name: 'Ann', message: 'two' })).status).to.equal(429)
    expect((await send('not-a-key-of-this-server-0123', { player_name: 'Ann', message: 'who?' })).status).to.equal(401)
    expect((await admin('GET', '/api/mutes', undefined, GAME_KEY)).status).to.equal(403)
    expect((await admin('POST', '/api/players/Bob/mute', { seconds: 600, reason: 'flooding' }, NIGHT_KEY)).status).to.equal(200)
    for (let i = 0; i < 2; i++) expect((await send(GAME_KEY, { player_name: 'Bob', message: 'hello?' })).status).to.equal(403)
    await live(page).getByText('one').waitFor()
    await page.getByRole('button', { name: `Remove message ${first.id} by Ann` }).click()
    await page.getByRole('list', { name: 'Muted now' }).getByText('Bob').waitFor()
    await page.getByRole('list', { name: 'Muted now' }).getByRole('button', { name: 'Lift the mute of Bob' }).click()

    const byReason = page.getByRole('list', { name: 'Refusals in the last hour, by reason' })
    const counted = async (reason: string, count: number) =>
      byReason.getByRole('listitem').filter({ hasText: reason }).getByText(String(count), { exact: true }).waitFor()
    await counted('403 Muted', 2)
    await counted('429 RateLimited: player', 1)
    await counted('401 Unauthorized', 1)
    await counted('403 Forbidden', 1)
    // Most first.
    expect(await byReason.getByRole('listitem').first().textContent()).to.include('403 Muted')
    const newest = page.getByRole('list', { name: 'Newest refusals' })
    expect(await newest.getByRole('listitem').first().textContent()).to.match(/403 Muted POST \/api\/send$/)

    const audit = page.getByRole('list', { name: 'Audit log' })
    await audit.getByText('ops · lifted the mute of Bob').waitFor()
    const lines = await audit.getByRole('listitem').allTextContents()
    expect(lines).to.have.length(3)
    expect(lines[0]).to.match(/ · ops · lifted the mute of Bob$/)
    expect(lines[1]).to.match(new RegExp(` · ops · removed message #${first.id}$`))
    expect(lines[2]).to.match(/ · night-shift · muted Bob until .+: flooding$/)
  })

  it('signs in without a key on a server without keys, and follows live there', async () => {
    await startTestServer().then((s) => (server = s))
    const page = await newPage()
    await page.goto(url('/admin'))
    await page.getByRole('button', { name: 'Sign in' }).click()
    await status(page).getByText('live', { exact: true }).waitFor()
    await page.getByText(/This server has no keys/).waitFor()
    const message = await sent({ player_name: 'Ann', message: 'on an open server' }, '')
    await live(page).getByText('on an open server').waitFor()
    await page.reload()
    await live(page).getByText('on an open server').waitFor()
    // Its own page may change things on an open server (another site's page may not).
    await page.getByRole('button', { name: `Remove message ${message.id} by Ann` }).click()
    await page.getByRole('list', { name: 'Audit log' }).getByText(`open · removed message #${message.id}`).waitFor()
    expect(await live(page).getByText('on an open server').count()).to.equal(0)
  })

  it('serves /admin/ too, with its style and script', async () => {
    await start()
    const page = await newPage()
    await page.goto(url('/admin/'))
    expect(new URL(page.url()).pathname).to.equal('/admin')
    await page.getByLabel('Admin key').fill(ADMIN_KEY)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await status(page).getByText('live', { exact: true }).waitFor()
    // admin.css applied: it lays the panels out in a grid.
    expect(await page.evaluate("getComputedStyle(document.getElementById('dashboard')).display")).to.equal('grid')
  })

  it('fits a phone-width screen without sideways scrolling, signed out and in, every panel full', async () => {
    const hook = await startReceiver({ status: 503, body: 'x'.repeat(200) })
    receivers.push(hook)
    await start({ config: { WEBHOOKS: targets([{ name: 'a-webhook-with-a-rather-long-name', kind: 'http', url: hook.url, retry_base_ms: 20, retry_max_ms: 100 }]) } })
    const page = await newPage()
    await page.setViewportSize({ width: 375, height: 740 })
    const scrollWidth = () => page.evaluate('document.documentElement.scrollWidth')
    await page.goto(url('/admin'))
    await page.getByLabel('Admin key').waitFor()
    expect(await scrollWidth()).to.be.at.most(375)
    await signIn(page)
    await sent({ player_name: 'A'.repeat(50), message: 'a'.repeat(300), channel: 'a-channel-with-a-long-name-32chr' })
    await admin('POST', `/api/players/${'B'.repeat(50)}/mute`, { seconds: 600, reason: 'r'.repeat(200), user_id: 123456789012 })
    await send('not-a-key-of-this-server-0123', { player_name: 'Ann', message: 'who?' })
    await live(page).getByText('a'.repeat(300)).waitFor({ timeout: 15_000 })
    await page.getByRole('list', { name: 'Muted now' }).getByText('r'.repeat(200), { exact: false }).waitFor()
    await page.getByRole('row', { name: /^a-webhook-with-a-rather-long-name / }).getByText(/^answered 503/).waitFor()
    await page.getByRole('list', { name: 'Refusals in the last hour, by reason' }).getByRole('listitem').first().waitFor()
    await page.getByRole('list', { name: 'Audit log' }).getByRole('listitem').first().waitFor()
    expect(await scrollWidth()).to.be.at.most(375)
  })
})
