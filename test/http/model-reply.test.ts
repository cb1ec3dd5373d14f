import { expect } from 'chai'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startServer, type ServerProcess } from '../hostile/harness'
import { STAND_IN_HEADER } from '../support/openapi-answers'

/*
 * AUTO_REPLY_MODEL_URL through the real process, against a stand-in for an
 * OpenAI-compatible chat endpoint that answers when the test lets it: the
 * send is answered first, with AUTO_REPLY, and the model's reply arrives
 * afterwards as a reply of its own, through a long poll; a failing or
 * silent model never fails a send, and is counted.
 */

type Asked = { readonly headers: IncomingMessage['headers']; readonly body: { model: string; messages: Array<{ role: string; content: string }> }; readonly answer: (status: number, body: unknown) => void }

const startChatStandIn = async () => {
  const asked: Asked[] = []
  const waiting: Array<() => void> = []
  const server: Server = createServer((req, res: ServerResponse) => {
    let text = ''
    req.on('data', (chunk: Buffer) => (text += chunk.toString()))
    req.on('end', () => {
      asked.push({
        headers: req.headers,
        body: JSON.parse(text) as Asked['body'],
        answer: (status, body) => {
          res.writeHead(status, { 'content-type': 'application/json', [STAND_IN_HEADER]: '1' })
          res.end(JSON.stringify(body))
        },
      })
      for (const w of waiting.splice(0)) w()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    asked,
    /** Resolves once `count` requests have come. */
    waitFor: async (count: number) => {
      while (asked.length < count) await new Promise<void>((resolve) => waiting.push(resolve))
    },
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const completion = (content: string) => ({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] })

describe('model replies through the real server', function () {
  this.timeout(30_000)
  let standIn: Awaited<ReturnType<typeof startChatStandIn>>
  let server: ServerProcess | undefined
  beforeEach(async () => {
    standIn = await startChatStandIn()
  })
  afterEach(async () => {
    await server?.stop()
    server = undefined
    await standIn.close()
  })
  const start = (env: Record<string, string> = {}) =>
    startServer({ AUTO_REPLY_MODEL_URL: standIn.url, AUTO_REPLY_MODEL: 'test-model', AUTO_REPLY_MODEL_KEY: 'model-key-0123456789', AUTO_REPLY_MODEL_TIMEOUT_SECONDS: '2', ...env })
  const send = async (s: ServerProcess, message: string) => {
    const response = await fetch(`${s.base}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Builderman', message }) })
    return { status: response.status, body: (await response.json()) as { message: { id: number }; auto_reply: { message: string } | null } }
  }

  it('answers the send at once, then stores the model’s reply to it, which a long poll receives', async () => {
    server = await start()
    const sent = await send(server, 'what should I build?')
    // Answered while the model has not said a word.
    expect(sent.status).to.equal(200)
    expect(sent.body.auto_reply?.message).to.equal('Hello Builderman!')
    await standIn.waitFor(1)
    const asked = standIn.asked[0] as Asked
    expect(asked.headers.authorization).to.equal('Bearer model-key-0123456789')
    expect(asked.body.model).to.equal('test-model')
    expect(asked.body.messages[0]?.role).to.equal('system')
    expect(asked.body.messages[1]).to.deep.equal({ role: 'user', content: 'Builderman: what should I build?' })
    const polling = fetch(`${server.base}/api/messages?after=${sent.body.message.id + 1}&wait=10`).then(async (r) => (await r.json()) as { messages: Array<Record<string, unknown>> })
    asked.answer(200, completion('A castle with a moat!'))
    const page = await polling
    expect(page.messages).to.have.length(1)
    expect(page.messages[0]).to.deep.include({ type: 'reply', player_name: 'Server', message: 'A castle with a moat!', reply_to: sent.body.message.id })
  })

  it('never fails a send when the model fails or says nothing in time, and counts it', async () => {
    server = await start()
    expect((await send(server, 'first')).status).to.equal(200)
    await standIn.waitFor(1)
    // An endpoint that quotes what it was asked in its error: the log says the status, never the quote (the player's text).
    standIn.asked[0]?.answer(500, { error: { message: `overloaded while answering: ${standIn.asked[0]?.body.messages.map((m) => m.content).join(' | ')}` } })
    // The second is never answered: the server gives up after AUTO_REPLY_MODEL_TIMEOUT_SECONDS.
    expect((await send(server, 'second')).status).to.equal(200)
    await standIn.waitFor(2)
    const deadline = Date.now() + 10_000
    let metrics = ''
    while (!/rms_model_replies_total\{outcome="failed"\} 2/.test(metrics)) {
      if (Date.now() > deadline) throw new Error(`the failures were not counted: ${metrics.split('\n').filter((l) => l.includes('model')).join('\n')}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
      metrics = await (await fetch(`${server.base}/metrics`)).text()
    }
    const list = (await (await fetch(`${server.base}/api/messages`)).json()) as { messages: Array<{ player_name: string; message: string }> }
    expect(list.messages.map((m) => m.message)).to.deep.equal(['first', 'Hello Builderman!', 'second', 'Hello Builderman!'])
    // The model's key is never in the log; a message's text neither.
    expect(server.output.stdout + server.output.stderr).to.not.include('model-key-0123456789')
    expect(server.output.stdout + server.output.stderr).to.not.include('second')
    expect(server.output.stdout + server.output.stderr).to.not.include('first')
    expect(server.output.stdout + server.output.stderr).to.include('answered 500')
  })

  it('refuses a URL without a model, naming both settings', async () => {
    const { spawnSync } = await import('node:child_process')
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: `${__dirname}/../..`, env: { ...process.env, PORT: '0', AUTO_REPLY_MODEL_URL: standIn.url }, encoding: 'utf8', timeout: 20_000 })
    expect(run.status).to.equal(2)
    expect(run.stderr).to.include('AUTO_REPLY_MODEL must name the model to ask for when AUTO_REPLY_MODEL_URL is set')
  })
})
