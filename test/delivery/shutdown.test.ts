import { connect, type AddressInfo } from 'node:net'
import { expect } from 'chai'
import pino from 'pino'
import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { startServer } from '../../composition/start-server'
import { DEFAULT_CHANNEL } from '../../domain/message'
import { parseRawAnswer } from '../http/raw'
import { openEventStream } from '../support/sse'
import { until } from '../support/until'

describe('delivery: a clean shutdown', () => {
  it('answers held long polls, ends streams and closes promptly', async () => {
    const config = readConfig({ PORT: '0', HOST: '127.0.0.1' })
    if (E.isLeft(config)) throw new Error(config.left.join())
    const running = await startServer(config.right, { log: { error: () => undefined }, logger: pino({ level: 'silent' }) })
    const url = `http://127.0.0.1:${(running.server.address() as AddressInfo).port}`
    const stream = await openEventStream(`${url}/api/stream?after=0`)
    await stream.nextOf('ready')
    const held = fetch(`${url}/api/messages?after=0&wait=25`)
    await until(() => running.http.heldPolls() + running.http.openStreams() === 2)
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

  it('finishes a send under way, closing its connection, and stores it', async () => {
    const config = readConfig({ PORT: '0', HOST: '127.0.0.1' })
    if (E.isLeft(config)) throw new Error(config.left.join())
    const running = await startServer(config.right, { log: { error: () => undefined }, logger: pino({ level: 'silent' }) })
    const body = JSON.stringify({ player_name: 'Bob', message: 'sent as the server stops' })
    let arrived = false
    running.server.once('request', () => (arrived = true))
    const socket = connect({ host: '127.0.0.1', port: (running.server.address() as AddressInfo).port })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    const ended = new Promise<void>((resolve) => socket.on('end', resolve))
    // A keep-alive request whose body is still on its way when the stop is asked for.
    socket.write(`POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`)
    await until(() => arrived)
    const started = performance.now()
    const closing = running.close()
    socket.write(body.slice(10))
    await ended
    await closing
    expect(performance.now() - started).to.be.below(2000)
    const answer = parseRawAnswer(Buffer.concat(chunks).toString('utf8'))
    expect(answer.status, answer.body).to.equal(200)
    expect(answer.head.toLowerCase()).to.include('connection: close')
    expect(JSON.parse(answer.body)).to.deep.include({ success: true })
    const stored = await running.ports.messages.list({ channels: [DEFAULT_CHANNEL], limit: 10 })()
    expect(E.isRight(stored) && stored.right.messages.map((m) => m.text)).to.deep.equal(['sent as the server stops', 'Hello Bob!'])
  })
})
