import { existsSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import Koa from 'koa'
import koaStatic from 'koa-static'
import type { Answers } from './answers'

/*
 * The browser tester's files, served by koa-static (through koa-send: safe
 * path resolution, Last-Modified, HEAD) on a Koa app of its own that only
 * ever sees GET and HEAD requests outside /api. What it does not serve is
 * answered like every other refusal, in JSON, by the pipeline's answers.
 */

/** The tester ships in `web/` at the package root, which is two levels up from source and three from `dist/`. */
export const defaultWebRoot = (): string =>
  [join(__dirname, '..', '..', 'web'), join(__dirname, '..', '..', '..', 'web')].find((dir) => existsSync(join(dir, 'index.html'))) ??
  join(__dirname, '..', '..', 'web')

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

type HttpishError = { status?: unknown; statusCode?: unknown }

/** Answers in JSON what the file server will not serve, without the headers it set for files. */
const notServed = (ctx: Koa.Context, answers: Answers, thrown?: unknown): void => {
  ctx.respond = false
  ctx.res.removeHeader('Content-Security-Policy')
  ctx.res.removeHeader('X-Content-Type-Options')
  if (thrown === undefined) return answers.refuse(ctx.req, ctx.res, { _tag: 'NotFound', method: ctx.method, path: ctx.path })
  const err = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as HttpishError
  const status = typeof err.status === 'number' ? err.status : typeof err.statusCode === 'number' ? err.statusCode : 500
  // A path koa-send will not serve (outside web/, 403) or cannot decode is answered like any missing file.
  if (status >= 400 && status < 500) answers.refuse(ctx.req, ctx.res, { _tag: 'NotFound', method: ctx.method, path: ctx.path })
  else answers.fail(ctx.req, ctx.res, thrown)
}

export const staticFiles = (root: string, answers: Answers): ((req: IncomingMessage, res: ServerResponse) => Promise<void>) => {
  const app = new Koa()
  // Koa reports failures outside the middleware chain here: a client hanging up mid-file among them.
  app.on('error', () => undefined)
  const files = koaStatic(root, { index: 'index.html', hidden: false })
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Content-Security-Policy', CSP)
    try {
      await next()
    } catch (thrown) {
      notServed(ctx, answers, thrown)
    }
  })
  // The admin dashboard lives at /admin, as people type it. /admin/ is sent there: served as it is, its
  // relative links (style.css, admin.js) would name files under /admin/ that do not exist.
  app.use(async (ctx, next) => {
    if (ctx.path === '/admin/') {
      ctx.status = 301
      return ctx.redirect(`/admin${ctx.search}`)
    }
    if (ctx.path === '/admin') ctx.path = '/admin.html'
    await next()
  })
  app.use(files)
  app.use((ctx) => notServed(ctx, answers))
  const callback = app.callback()
  return (req, res) => callback(req, res)
}
