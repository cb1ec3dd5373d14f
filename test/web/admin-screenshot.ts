import { mkdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import * as E from 'fp-ts/Either'
import { chromium } from 'playwright-core'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { parseTargets } from '../../composition/webhooks'
import { CHROMIUM } from '../support/chromium'
import { startReceiver } from '../support/receiver'
import { startTestServer } from '../support/server'

/*
 * Takes the README's screenshot of the admin dashboard in use: a real server
 * with an admin key, a few players talking in three channels, a mute, a
 * removal, a refused send, one webhook target delivering and one paused
 * behind a receiver answering 503. Not a test (mocha runs *.test.ts only):
 *
 *   npx tsx test/web/admin-screenshot.ts [out.png]     (docs/admin-dashboard.png by default)
 *
 * `width=375` as a second argument takes a phone's view instead.
 */

const ADMIN_KEY = 'screenshot-admin-0123456789abcdef'
const GAME_KEY = 'screenshot-game-0123456789abcdef'

const main = async (): Promise<void> => {
  const out = resolve(process.argv[2] ?? join(__dirname, '..', '..', 'docs', 'admin-dashboard.png'))
  const width = Number((process.argv[3] ?? 'width=1280').replace('width=', ''))
  const up = await startReceiver({ status: 200 })
  const down = await startReceiver({ status: 503, body: 'upstream maintenance' })
  const targets = parseTargets(
    JSON.stringify([
      { name: 'moderation-log', kind: 'http', url: `${up.url}/hook` },
      { name: 'analytics', kind: 'http', url: `${down.url}/ingest`, retry_base_ms: 50, retry_max_ms: 200, pause_after: 3, pause_seconds: 900 },
    ]),
    'WEBHOOKS',
  )
  if (E.isLeft(targets)) throw new Error(targets.left.join('; '))
  const server = await startTestServer({
    autoReplyTemplate: '',
    auth: createAuth({
      keys: [
        { label: 'ops', secret: ADMIN_KEY, scopes: ADMIN_SCOPES },
        { label: 'game', secret: GAME_KEY, scopes: PLAIN_SCOPES },
      ],
    }),
    config: { WEBHOOKS: targets.right },
  })
  const send = (player_name: string, message: string, channel?: string, user_id?: number) =>
    fetch(`${server.url}/api/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': GAME_KEY },
      body: JSON.stringify({ player_name, message, ...(channel === undefined ? {} : { channel }), ...(user_id === undefined ? {} : { user_id }) }),
    })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] })
  try {
    const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1, colorScheme: 'light' })
    await send('Builderman', 'Anyone up for the obby race?', undefined, 156)
    await send('Noob42', 'me! meet at spawn', undefined, 2207)
    await send('TradeBot', 'selling 3 dragon eggs, 500 robux each', 'trade', 3301)
    await send('Kira_RBLX', 'gg everyone', 'lobby', 4512)
    await page.goto(`${server.url}/admin`)
    await page.getByLabel('Admin key').fill(ADMIN_KEY)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.locator('header').getByRole('status').getByText('live', { exact: true }).waitFor()
    const live = page.getByRole('list', { name: /^Messages in the watched channels/ })
    await send('Spammer99', 'FREE ROBUX at totally-legit.example', undefined, 6660)
    await live.getByText('FREE ROBUX').waitFor()
    await page.getByRole('button', { name: 'Mute Spammer99' }).click()
    await page.getByLabel('For how long').selectOption({ label: '1 day' })
    await page.getByLabel(/^Reason/).fill('posting scam links')
    await page.getByRole('button', { name: 'Mute', exact: true }).click()
    await page.getByRole('list', { name: 'Muted now' }).getByText('Spammer99').waitFor()
    const scam = await live.locator('li', { hasText: 'FREE ROBUX' }).getAttribute('data-id')
    await page.getByRole('button', { name: `Remove message ${scam} by Spammer99` }).click()
    await live.getByText('FREE ROBUX').waitFor({ state: 'detached' })
    await send('Spammer99', 'why cant i talk')
    await send('Builderman', 'race starts in 2 minutes', undefined, 156)
    await send('Noob42', 'ready', undefined, 2207)
    await live.getByText('ready', { exact: true }).waitFor()
    // Every panel as it stands after the next refresh: the paused target, the refusal, all the channels watched.
    await page.getByRole('table', { name: 'Outbound targets' }).getByText(/^paused until/).waitFor()
    await page.getByRole('list', { name: 'Refusals in the last hour, by reason' }).getByText('403 Muted').waitFor()
    await page.getByRole('row', { name: /^lobby / }).waitFor()
    await live.getByText('gg everyone').waitFor()
    mkdirSync(dirname(out), { recursive: true })
    await page.screenshot({ path: out, fullPage: true })
    console.log(`${out}: ${Math.round(statSync(out).size / 1024)} KiB`)
  } finally {
    await browser.close()
    await server.close()
    await up.close()
    await down.close()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
