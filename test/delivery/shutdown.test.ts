import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { readConfig } from '../../adapters/config'
import { startServer } from '../../adapters/http/server'
import { openEventStream } from '../support/sse'
import { until } from '../support/until'

describe('delivery: a clean shutdown', () => {
  it('answers held long polls, ends streams and closes promptly', async () => {
    const config = readConfig({ PORT: '0', HOST: '127.0.0.1' })
    if (E.isLeft(config)) throw new Error(config.left.join())
    const running = await startServer(config.right, { error: () => undefined })
    const url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`
    const stream = await openEventStream(`${url}/api/stream?after=0`)
    await stream.nextOf('ready')
    const held = fetch(`${url}/api/messages?after=0&wait=25`)
    await until(() => running.store.listenerCount() === 2)
    const started = performance.now()
    await running.close()
    const answer = await held
    expect(performance.now() - started).to.be.below(2000)
    expect(answer.status).to.equal(200)
    expect(await answer.json()).to.include({ success: true, count: 0, next_after: 0 })
    let ended = false
    await stream.next().catch(() => (ended = true))
    expect(ended).to.equal(true)
  })
})
