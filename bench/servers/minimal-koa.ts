import { createServer } from 'node:http'
import { bodyParser } from '@koa/bodyparser'
import cors from '@koa/cors'
import Router from '@koa/router'
import Koa from 'koa'
import { checkSend, reportWhenListening, Ring } from './harness'

/** The ceiling of our framework: the same Koa, router, body parser and CORS, and nothing else. */
const ring = new Ring()
type Waiter = { after: number; wake: () => void }
const waiting = new Set<Waiter>()

const app = new Koa()
// As ours does: a client hanging up mid-answer (autocannon stopping) is not worth a stack trace.
app.on('error', (err: { code?: string }) => {
  if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') console.error(err)
})
app.use(cors())
const router = new Router()

router.post('/api/send', bodyParser({ enableTypes: ['json'] }), (ctx) => {
  const checked = checkSend(ctx.request.body)
  if (typeof checked === 'string') {
    ctx.status = 400
    ctx.body = { success: false, error: checked }
    return
  }
  const message = ring.append(checked.player, checked.text, 'player')
  const reply = ring.append('Server', `Hello ${checked.player}!`, 'reply', message.id)
  ctx.body = { success: true, message, auto_reply: reply }
  for (const waiter of waiting) waiter.wake()
})

router.get('/api/messages', async (ctx) => {
  const after = ctx.query.after
  if (typeof after !== 'string') {
    ctx.body = ring.page(ring.newest(Number(ctx.query.limit ?? 1000)))
    return
  }
  let page = ring.after(Number(after), 100)
  const wait = Number(ctx.query.wait ?? 0)
  if (page.messages.length === 0 && wait > 0) {
    await new Promise<void>((resolve) => {
      const waiter: Waiter = { after: Number(after), wake: () => done() }
      const timer = setTimeout(() => done(), wait * 1000)
      const done = () => {
        clearTimeout(timer)
        waiting.delete(waiter)
        resolve()
      }
      waiting.add(waiter)
      ctx.res.once('close', done)
    })
    page = ring.after(Number(after), 100)
  }
  ctx.body = ring.page(page.messages, page.hasMore, page.gap)
})

app.use(router.routes())
app.use(router.allowedMethods())

reportWhenListening(createServer(app.callback()), () => waiting.size)
