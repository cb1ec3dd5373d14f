import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import type { Browser, Page, Route } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { createAuth } from '../../adapters/http/auth'
import { postJson, startTestServer, type TestServer } from '../support/server'

const TESTER_KEY = 'tester-key-0123456789abcdef'

/** The little of the DOM these tests read, typed here since the test code itself runs in Node. */
type PageGlobals = { document: { documentElement: { scrollWidth: number } } }

describe('web: the tester page in Chromium', function () {
  this.timeout(60_000)
  let browser: Browser | undefined
  let server: TestServer
  let page: Page
  let pageErrors: Error[]

  before(async function () {
    browser = await launchChromium(this)
  })
  after(async () => {
    await browser?.close()
  })
  beforeEach(async () => {
    server = await startTestServer()
    page = await browser!.newPage()
    pageErrors = []
    page.on('pageerror', (err) => pageErrors.push(err))
    await page.goto(`${server.url}/`)
  })
  afterEach(async () => {
    expect(pageErrors.map((e) => e.message), 'errors in the page').to.deep.equal([])
    await page?.close()
    await server.close()
  })

  const list = () => page.getByRole('list', { name: 'Chat log, oldest first' })

  it('shows the labelled controls', async () => {
    expect(await page.title()).to.match(/Roblox Messaging Server/)
    // Loose matching, as a reader would look them up: each label names exactly one control.
    for (const label of ['Player name', 'Message', 'Channel', 'Filter by player', 'Limit']) expect(await page.getByLabel(label).count(), label).to.equal(1)
    expect(await page.getByLabel('Message').evaluate((el) => el.tagName)).to.equal('TEXTAREA')
    for (const name of ['Send', 'Clear all', 'Refresh']) expect(await page.getByRole('button', { name, exact: true }).isVisible(), name).to.equal(true)
  })

  it('sends a message and shows it with the reply set apart', async () => {
    await page.getByLabel('Player name').fill('Builderman')
    await page.getByLabel('Message').fill('Hello from the tester')
    await page.getByRole('button', { name: 'Send' }).click()
    await list().getByText('Hello from the tester').waitFor()
    const reply = list().locator('li.reply', { hasText: 'Hello Builderman!' })
    await reply.waitFor()
    expect(await reply.getByText('auto-reply').isVisible()).to.equal(true)
    expect(await page.getByLabel('Message').inputValue()).to.equal('')
    const stored = (await (await fetch(`${server.url}/api/messages`)).json()) as { count: number }
    expect(stored.count).to.equal(2)
    await page.reload()
    expect(await page.getByLabel('Player name').inputValue(), 'the player name is remembered').to.equal('Builderman')
  })

  it("shows the server's error text when a send is refused", async () => {
    await page.getByLabel('Player name').fill('Builderman')
    await page.getByLabel('Message').fill('x'.repeat(1001))
    await page.getByRole('button', { name: 'Send' }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'message is longer than 1000 characters' })
    await alert.waitFor()
    await page.getByLabel('Player name').fill('   ')
    await page.getByLabel('Message').fill('hi')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.getByRole('alert').filter({ hasText: 'player_name must not be blank' }).waitFor()
  })

  it("shows the server's error text when a list is refused", async () => {
    await page.getByLabel('Channel').fill('no spaces here')
    await page.getByLabel('Channel').press('Tab')
    await page.getByRole('alert').filter({ hasText: 'channel may only contain A-Z a-z 0-9 _ -' }).waitFor()
    await page.getByLabel('Channel').fill('lobby')
    await page.getByLabel('Channel').press('Tab')
    await page.getByRole('alert').filter({ hasText: 'channel may only contain' }).waitFor({ state: 'hidden' })
  })

  it('asks before clearing, and keeps everything when told no', async () => {
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'keep me' })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await list().getByText('keep me').waitFor()
    let asked = ''
    page.once('dialog', (dialog) => {
      asked = dialog.message()
      void dialog.dismiss()
    })
    await page.getByRole('button', { name: 'Clear all' }).click()
    expect(asked).to.match(/Clear all messages/)
    expect(((await (await fetch(`${server.url}/api/messages`)).json()) as { count: number }).count).to.equal(2)
    page.once('dialog', (dialog) => void dialog.accept())
    await page.getByRole('button', { name: 'Clear all' }).click()
    await page.getByText('No messages yet').waitFor()
    expect(((await (await fetch(`${server.url}/api/messages`)).json()) as { count: number }).count).to.equal(0)
  })

  it('shows markup as text and never runs it', async () => {
    const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    await postJson(`${server.url}/api/send`, { player_name: '<b>Mallory</b>', message: payload })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await list().getByText(payload, { exact: true }).waitFor()
    expect(await list().getByText('<b>Mallory</b>', { exact: true }).count()).to.equal(1)
    expect(await list().locator('img, script, b').count()).to.equal(0)
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
  })

  it('updates live over the stream when another client sends', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor()
    const started = Date.now()
    await postJson(`${server.url}/api/send`, { player_name: 'RemoteGame', message: 'from a game server' })
    await list().getByText('from a game server').waitFor({ timeout: 4000 })
    // Well inside the 5-second poll: the stream delivered it.
    expect(Date.now() - started).to.be.below(4000)
  })

  // A server without the stream answers 404 (EventSource gives up); a broken network drops it (EventSource retries).
  for (const [how, block] of [
    ['answered 404', (route: Route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"success":false,"error":"there is no GET /api/stream"}' })],
    ['unreachable', (route: Route) => route.abort()],
  ] as const) {
    it(`falls back to polling every 5 s when the stream is ${how}`, async () => {
      await page.route('**/api/stream**', block)
      await page.reload()
      await page.locator('#connection', { hasText: 'polling every 5 s' }).waitFor()
      await postJson(`${server.url}/api/send`, { player_name: 'Poller', message: 'seen by polling' })
      await list().getByText('seen by polling').waitFor({ timeout: 8000 })
      expect(await page.locator('#connection').textContent()).to.equal('polling every 5 s')
    })
  }

  const removeOver = async (id: number) => {
    const answer = await fetch(`${server.url}/api/messages/${id}`, { method: 'DELETE' })
    expect(answer.status).to.equal(200)
  }
  const sent = async (player_name: string, message: string) =>
    ((await (await postJson(`${server.url}/api/send`, { player_name, message })).json()) as { message: { id: number } }).message.id

  it('takes a removed message and its reply off the screen when the stream brings the removal', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor()
    await sent('Ann', 'stays on screen')
    const id = await sent('Griefer', 'something rude')
    await list().getByText('something rude').waitFor()
    await list().getByText('Hello Griefer!').waitFor()
    const started = Date.now()
    await removeOver(id)
    await list().getByText('something rude').waitFor({ state: 'detached', timeout: 4000 })
    await list().getByText('Hello Griefer!').waitFor({ state: 'detached', timeout: 4000 })
    // Well inside the 5-second poll: the stream's removal event did it.
    expect(Date.now() - started).to.be.below(4000)
    expect(await list().getByText('stays on screen').isVisible()).to.equal(true)
    expect(await list().locator('li').count()).to.equal(2)
    expect(await page.locator('#count').textContent()).to.equal('(2)')
    // The stream goes on after it.
    await sent('Ann', 'after the removal')
    await list().getByText('after the removal').waitFor()
  })

  it('takes a removed message off the screen by polling when there is no stream', async () => {
    await page.route('**/api/stream**', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"success":false,"error":"there is no GET /api/stream"}' }))
    await page.reload()
    await page.locator('#connection', { hasText: 'polling every 5 s' }).waitFor()
    const id = await sent('Griefer', 'rude, polled')
    await list().getByText('rude, polled').waitFor({ timeout: 8000 })
    await removeOver(id)
    await list().getByText('rude, polled').waitFor({ state: 'detached', timeout: 8000 })
    expect(await list().locator('li').count()).to.equal(0)
  })

  it('never brings a removed message back from a list read before the removal', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor()
    const id = await sent('Griefer', 'rude and racing')
    await list().getByText('rude and racing').waitFor()
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let read!: (texts: string[]) => void
    const staleRead = new Promise<string[]>((resolve) => (read = resolve))
    await page.route('**/api/messages?**', async (route) => {
      const stale = await route.fetch() // read while the message is still stored...
      const body = (await stale.json()) as { messages: Array<{ message: string }> }
      read(body.messages.map((m) => m.message))
      await released // ...and delivered after the stream has brought its removal
      // A marker that shows when the page has taken this answer in.
      body.messages.unshift({ id: 0, player_name: 'Marker', message: 'from the stale page', timestamp: new Date().toISOString(), type: 'player', channel: 'global' } as never)
      await route.fulfill({ response: stale, json: body })
    })
    await page.getByRole('button', { name: 'Refresh' }).click()
    expect(await staleRead).to.include('rude and racing')
    await removeOver(id)
    await list().getByText('rude and racing').waitFor({ state: 'detached' })
    release()
    await list().getByText('from the stale page').waitFor()
    expect(await list().getByText('rude and racing').count()).to.equal(0)
  })

  it('keeps what the stream brought when a reload answers from before it', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor()
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    await page.route('**/api/messages?**', async (route) => {
      const stale = await route.fetch() // read before the next message exists...
      await released // ...and delivered only after the stream has shown it
      const body = (await stale.json()) as { messages: unknown[] }
      // A marker that shows when the page has taken this answer in.
      body.messages.unshift({ id: 0, player_name: 'Marker', message: 'from the stale page', timestamp: new Date().toISOString(), type: 'player', channel: 'global' })
      await route.fulfill({ response: stale, json: body })
    })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await postJson(`${server.url}/api/send`, { player_name: 'Racer', message: 'newer than the reload' })
    await list().getByText('newer than the reload').waitFor()
    release()
    await list().getByText('from the stale page').waitFor()
    expect(await list().getByText('newer than the reload').count()).to.equal(1)
    expect(await list().getByText('Hello Racer!').count()).to.equal(1)
  })

  it('leaves shown messages in place on a reload, adding only the new ones', async () => {
    await page.route('**/api/stream**', (route) => route.abort())
    await postJson(`${server.url}/api/send`, { player_name: 'Ann', message: 'first' })
    await page.reload()
    await list().getByText('first').waitFor()
    await list().locator('li').first().evaluate((el) => Object.assign(el, { marked: true }))
    await postJson(`${server.url}/api/send`, { player_name: 'Ann', message: 'second' })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await list().getByText('second').waitFor()
    expect(await list().locator('li').count()).to.equal(4)
    expect(await list().locator('li').first().evaluate((el) => (el as unknown as { marked?: boolean }).marked)).to.equal(true)
  })

  it("filters by player, whatever the name's case", async () => {
    await postJson(`${server.url}/api/send`, { player_name: 'Ann', message: 'from ann' })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'from bob' })
    await page.getByLabel('Filter by player').fill('ANN')
    await list().getByText('from bob').waitFor({ state: 'detached' })
    expect(await list().getByText('from ann').isVisible()).to.equal(true)
    expect(await list().locator('li').count()).to.equal(1)
    await postJson(`${server.url}/api/send`, { player_name: 'ann', message: 'ann again' })
    await list().getByText('ann again').waitFor()
    expect(await list().getByText('Hello ann!').count()).to.equal(0)
  })

  it('talks to a server with keys through the key field, the stream by a token, and keeps the key for this tab only', async () => {
    await server.close()
    server = await startTestServer({ auth: createAuth({ keys: [{ label: 'tester', secret: TESTER_KEY, scopes: ['read', 'send'] }] }) })
    await page.goto(`${server.url}/`)
    // Without a key the server refuses, and the page says why.
    await page.getByLabel('Player name').fill('Builderman')
    await page.getByLabel('Message').fill('no key yet')
    await page.getByRole('button', { name: 'Send' }).click()
    await page.getByText(/needs an API key/).first().waitFor()
    await page.getByLabel(/API key/).fill(TESTER_KEY)
    await page.getByLabel(/API key/).dispatchEvent('change')
    await page.getByRole('status').getByText('live').waitFor()
    await page.getByRole('button', { name: 'Send' }).click()
    await list().getByText('no key yet').waitFor()
    // Another client's message arrives over the stream the page opened with its token.
    await fetch(`${server.url}/api/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': TESTER_KEY },
      body: JSON.stringify({ player_name: 'Noob42', message: 'over the stream' }),
    })
    await list().getByText('over the stream').waitFor()
    expect(await page.evaluate((key) => (globalThis as unknown as { sessionStorage: { getItem: (k: string) => string | null } }).sessionStorage.getItem(key), 'roblox-messaging-server.api-key')).to.equal(TESTER_KEY)
    expect(await page.evaluate((key) => (globalThis as unknown as { localStorage: { getItem: (k: string) => string | null } }).localStorage.getItem(key), 'roblox-messaging-server.api-key')).to.equal(null)
  })

  it('fits a phone-width screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a'.repeat(300) })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await list().getByText('a'.repeat(300)).waitFor()
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollWidth)).to.be.at.most(375)
  })
})

describe("web: the tester's and the dashboard's source", () => {
  for (const [page, script] of [['index.html', 'app.js'], ['admin.html', 'admin.js']] as const) {
    it(`never hands text to an HTML parser (${script})`, () => {
      const source = readFileSync(join(__dirname, '..', '..', 'web', script), 'utf8')
      expect(source).to.not.match(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|\beval\(|new Function/)
      expect(source).to.match(/textContent/)
    })

    it(`has no inline script, style or event handler for the CSP to block, and loads nothing from another site (${page})`, () => {
      const html = readFileSync(join(__dirname, '..', '..', 'web', page), 'utf8')
      expect(html).to.not.match(/<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=/i)
      expect(html).to.not.match(/(src|href)="(https?:)?\/\//i)
    })
  }
})
