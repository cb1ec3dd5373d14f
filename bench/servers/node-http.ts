import { createServer, type ServerResponse } from 'node:http'
import { checkSend, reportWhenListening, Ring } from './harness'

/** The practical limit: the same work on bare node:http, no framework. */
const ring = new Ring()
const waiting = new Set<{ after: number; res: ServerResponse; timer: NodeJS.Timeout }>()

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Access-Control-Allow-Origin': '*' })
  res.end(text)
}

const answerWaiters = () => {
  for (const waiter of waiting) {
    const page = ring.after(waiter.after, 100)
    if (page.messages.length === 0) continue
    clearTimeout(waiter.timer)
    waiting.delete(waiter)
    json(waiter.res, 200, ring.page(page.messages, page.hasMore, page.gap))
  }
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  if (req.method === 'POST' && url.pathname === '/api/send') {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return json(res, 400, { success: false, error: 'the request body is not valid JSON' })
      }
      const checked = checkSend(body)
      if (typeof checked === 'string') return json(res, 400, { success: false, error: checked })
      const message = ring.append(checked.player, checked.text, 'player')
      const reply = ring.append('Server', `Hello ${checked.player}!`, 'reply', message.id)
      json(res, 200, { success: true, message, auto_reply: reply })
      answerWaiters()
    })
    return
  }
  if (req.method === 'GET' && url.pathname === '/api/messages') {
    const after = url.searchParams.get('after')
    if (after === null) {
      return json(res, 200, ring.page(ring.newest(Number(url.searchParams.get('limit') ?? 1000))))
    }
    const page = ring.after(Number(after), 100)
    const wait = Number(url.searchParams.get('wait') ?? 0)
    if (page.messages.length > 0 || wait <= 0) return json(res, 200, ring.page(page.messages, page.hasMore, page.gap))
    const waiter = {
      after: Number(after),
      res,
      timer: setTimeout(() => {
        waiting.delete(waiter)
        json(res, 200, ring.page([]))
      }, wait * 1000),
    }
    waiting.add(waiter)
    res.on('close', () => {
      clearTimeout(waiter.timer)
      waiting.delete(waiter)
    })
    return
  }
  json(res, 404, { success: false, error: 'not found' })
})

reportWhenListening(server, () => waiting.size)
