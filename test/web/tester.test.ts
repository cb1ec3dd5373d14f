import { expect } from 'chai'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { postJson, startTestServer, type TestServer } from '../support/server'

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

  const list = () => page.getByRole('list', { name: 'Messages, oldest first' })

  it('shows the labelled controls', async () => {
    await expect(await page.title()).to.match(/Roblox Messaging Server/)
    for (const label of ['Player name', 'Message', 'Filter by player', 'Limit']) expect(await page.getByLabel(label, { exact: true }).count(), label).to.equal(1)
    for (const name of ['Send', 'Clear all', 'Refresh']) expect(await page.getByRole('button', { name, exact: true }).isVisible(), name).to.equal(true)
  })

  it('sends a message and shows it with the reply set apart', async () => {
    await page.getByLabel('Player name', { exact: true }).fill('Builderman')
    await page.getByLabel('Message', { exact: true }).fill('Hello from the tester')
    await page.getByRole('button', { name: 'Send', exact: true }).click()
    await list().getByText('Hello from the tester').waitFor()
    const reply = list().locator('li.reply', { hasText: 'Hello Builderman!' })
    await reply.waitFor()
    expect(await reply.getByText('auto-reply').isVisible()).to.equal(true)
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).to.equal('')
    const stored = (await (await fetch(`${server.url}/api/messages`)).json()) as { count: number }
    expect(stored.count).to.equal(2)
  })

  it("shows the server's error text when a send is refused", async () => {
    await page.getByLabel('Player name', { exact: true }).fill('Builderman')
    await page.getByLabel('Message', { exact: true }).fill('x'.repeat(1001))
    await page.getByRole('button', { name: 'Send', exact: true }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'message is longer than 1000 characters' })
    await alert.waitFor()
    await page.getByLabel('Player name', { exact: true }).fill('   ')
    await page.getByLabel('Message', { exact: true }).fill('hi')
    await page.getByRole('button', { name: 'Send', exact: true }).click()
    await page.getByRole('alert').filter({ hasText: 'player_name must not be blank' }).waitFor()
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
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined)
  })

  it('updates live over the stream when another client sends', async () => {
    await page.locator('#connection', { hasText: 'live' }).waitFor()
    const started = Date.now()
    await postJson(`${server.url}/api/send`, { player_name: 'RemoteGame', message: 'from a game server' })
    await list().getByText('from a game server').waitFor({ timeout: 4000 })
    // Well inside the 5-second poll: the stream delivered it.
    expect(Date.now() - started).to.be.below(4000)
  })

  it('falls back to polling when the stream is not there', async () => {
    await page.route('**/api/stream**', (route) => route.abort())
    await page.reload()
    await page.locator('#connection', { hasText: 'polling every 5 s' }).waitFor()
    await postJson(`${server.url}/api/send`, { player_name: 'Poller', message: 'seen by polling' })
    await list().getByText('seen by polling').waitFor({ timeout: 8000 })
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

  it('fits a phone-width screen without sideways scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 740 })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a'.repeat(300) })
    await page.getByRole('button', { name: 'Refresh' }).click()
    await list().getByText('a'.repeat(300)).waitFor()
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(375)
  })
})
