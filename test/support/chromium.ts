import { existsSync } from 'node:fs'
import type { Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Launches Debian's Chromium headless, or explains why it cannot: in CI a
 * missing browser fails the run; on a laptop the suite is skipped, saying why.
 */
export const launchChromium = async (context: Mocha.Context): Promise<Browser | undefined> => {
  if (!existsSync(CHROMIUM)) {
    const reason = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`
    if (process.env.CI === 'true') throw new Error(`CI needs Chromium for the browser tests: ${reason}`)
    console.log(`      skipping browser tests: ${reason}`)
    context.skip()
    return undefined
  }
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}
