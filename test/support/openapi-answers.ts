import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020'
import addFormats from 'ajv-formats'
import { createHttp } from '../../adapters/http/app'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { systemClock, systemTimer } from '../../adapters/system/timer'
import { autoReplyFromTemplate } from '../../domain/auto-reply'

/*
 * Every JSON answer the test suite receives from a server on this machine
 * through fetch (but the stand-ins' for outside services) is checked against the OpenAPI document's schema for its
 * path, method and status, with ajv: the answers' schemas are written by
 * hand in openapi.ts, and this is what holds them to the server. Loaded by
 * .mocharc.json for every run (a whole `npm test` or one file); a root hook
 * fails the run, after the last test, if any answer did not match, listing
 * them.
 */

type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }
type Document = { paths: Record<string, Record<string, Operation>> }

/** The document a server with every optional route (/metrics) would serve; the answers' schemas do not depend on the configuration. */
export const describedApi = (): Document => {
  const store = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10 })
  const http = createHttp({
    messages: store,
    feed: store,
    idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: 10, retentionMs: 1000 }),
    clock: systemClock,
    timer: systemTimer,
    autoReply: autoReplyFromTemplate(''),
    maxMessageLength: 1000,
    corsOrigins: '*',
    longPollMaxSeconds: 25,
    metrics: { text: async () => '', contentType: 'text/plain' },
  })
  return http.openApi() as unknown as Document
}

/** An ajv for the document: its schemas reachable as `doc#/…`, so their `#/components/…` references resolve. */
export const ajvFor = (doc: Document): Ajv2020 => {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false })
  addFormats(ajv)
  ajv.addSchema(doc as object, 'doc')
  return ajv
}

const pointer = (...parts: string[]): string => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')

/** The documented path a request path falls under: literal paths before templated ones, the tester's catch-all last. */
export const documentedPath = (doc: Document, path: string): string | undefined => {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  if (doc.paths[trimmed] !== undefined) return trimmed
  const templated = Object.keys(doc.paths)
    .filter((p) => p.includes('{'))
    .sort((a, b) => b.length - a.length)
  return templated.find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(trimmed))
}

type Checked = { readonly what: string; readonly problem: string | undefined }

const doc = describedApi()
const ajv = ajvFor(doc)
const validators = new Map<string, ValidateFunction>()
const validatorFor = (ref: string): ValidateFunction => {
  let validate = validators.get(ref)
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `doc#/${ref}` })
    validators.set(ref, validate)
  }
  return validate
}

/** Checks one answer's JSON against the schema documented for it; says what is wrong, or undefined. */
export const checkAnswer = (method: string, path: string, status: number, body: unknown): string | undefined => {
  const documented = documentedPath(doc, path)
  const operation = documented === undefined ? undefined : doc.paths[documented]?.[method.toLowerCase()]
  if (operation === undefined) {
    // No route: only a refusal may answer, in the one shape every refusal has.
    if (status < 400) return `${status} for a path and method the document does not describe`
    return validatorFor('components/schemas/Error')(body) ? undefined : `not the Error schema: ${ajv.errorsText(validatorFor('components/schemas/Error').errors)}`
  }
  const key = operation.responses[String(status)] !== undefined ? String(status) : 'default'
  const response = operation.responses[key]
  if (response === undefined) return `status ${status} is not documented`
  if (response.content?.['application/json'] === undefined) return `status ${status} is documented without a JSON body`
  const ref = pointer('paths', documented as string, method.toLowerCase(), 'responses', key, 'content', 'application/json', 'schema')
  const validate = validatorFor(ref)
  return validate(body) ? undefined : ajv.errorsText(validate.errors)
}

const pending: Array<Promise<Checked>> = []
/** Set by the receivers that stand in for outside services (test/support/receiver.ts): their answers are not ours to check. */
export const STAND_IN_HEADER = 'x-test-stand-in'
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

const original = globalThis.fetch
globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const response = await original(input, init)
  const url = new URL(input instanceof Request ? input.url : String(input))
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
  const type = response.headers.get('content-type') ?? ''
  // Not the answers of the receivers that stand in for webhooks, Discord, Open Cloud or a model (test/support/receiver.ts marks them).
  if (LOOPBACK.has(url.hostname) && method !== 'HEAD' && type.startsWith('application/json') && !response.headers.has(STAND_IN_HEADER)) {
    const what = `${method} ${url.pathname} → ${response.status}`
    pending.push(
      response
        .clone()
        .text()
        .then(
          (text) => {
            let body: unknown
            try {
              body = JSON.parse(text)
            } catch {
              return { what, problem: 'not JSON' }
            }
            return { what, problem: checkAnswer(method, url.pathname, response.status, body) }
          },
          // The test let go of the answer before it was read (a stream it cancelled): nothing to check.
          () => ({ what, problem: undefined }),
        ),
    )
  }
  return response
}

/**
 * An answer read some other way than fetch (test/http/raw.ts), checked the
 * same way: the JSON answers of the server under test, not of stand-ins.
 */
export const checkReceived = (method: string, path: string, status: number, headers: Readonly<Record<string, string | string[] | undefined>>, text: string): void => {
  const type = headers['content-type']
  if (method.toUpperCase() === 'HEAD' || typeof type !== 'string' || !type.startsWith('application/json') || headers[STAND_IN_HEADER] !== undefined) return
  const pathname = new URL(path, 'http://127.0.0.1').pathname
  const what = `${method.toUpperCase()} ${pathname} → ${status}`
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    pending.push(Promise.resolve({ what, problem: 'not JSON' }))
    return
  }
  pending.push(Promise.resolve({ what, problem: checkAnswer(method.toUpperCase(), pathname, status, body) }))
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    const checked = await Promise.all(pending)
    const wrong = checked.filter((c) => c.problem !== undefined)
    if (checked.length > 0) console.log(`\n  OpenAPI: ${checked.length} JSON answers received by the tests checked against the documented schemas, ${wrong.length} not matching`)
    if (wrong.length > 0) {
      const listed = [...new Set(wrong.map((w) => `${w.what}: ${w.problem}`))].slice(0, 30)
      throw new Error(`answers that do not match the OpenAPI document:\n${listed.join('\n')}`)
    }
  },
}
