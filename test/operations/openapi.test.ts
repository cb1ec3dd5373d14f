import { expect } from 'chai'
import * as fc from 'fast-check'
import * as E from 'fp-ts/Either'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { MUTE_SECONDS_MAX } from '../../application/mute-player'
import { EraseBody, fieldsOf, listParamsCodec, muteBodyCodec, schemaOf, SendBody } from '../../adapters/http/codecs'
import { openApiPath } from '../../adapters/http/openapi'
import { ajvFor, checkAnswer, describedApi, documentedPath } from '../support/openapi-answers'
import { startTestServer, type TestServer } from '../support/server'

/*
 * The OpenAPI 3.1 document: valid by the specification's own schema, served
 * at /api/openapi.json and listed and linked, complete (every route the
 * server answers is in it, and every path in it is answered), its request
 * schemas those of the codecs that decode requests, its examples valid
 * against their schemas. That real answers match it is checked on every
 * answer the suite receives (test/support/openapi-answers.ts); here, that
 * the check can fail.
 */

type Doc = {
  openapi: string
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string; schema: unknown }>; requestBody?: { content: Record<string, { schema: unknown; example?: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown; example?: unknown }> }> }>>
  components: { schemas: Record<string, unknown> }
}

const ROOT = join(__dirname, '..', '..')

describe('operations: the OpenAPI document', () => {
  let t: TestServer
  let doc: Doc
  before(async () => {
    t = await startTestServer()
    const res = await fetch(`${t.url}/api/openapi.json`)
    expect(res.status).to.equal(200)
    expect(res.headers.get('content-type')).to.match(/^application\/json/)
    doc = (await res.json()) as Doc
  })
  after(() => t.close())

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).to.equal('3.1.0')
    const result = await new Validator().validate(doc as never)
    expect(result.valid, JSON.stringify(result.errors, null, 2)).to.equal(true)
  })

  it('is listed in GET /api and linked from the tester page', async () => {
    const status = (await (await fetch(`${t.url}/api`)).json()) as { endpoints: Array<{ method: string; path: string }> }
    expect(status.endpoints).to.deep.include({ method: 'GET', path: '/api/openapi.json', description: 'This API described in OpenAPI 3.1' })
    const page = await (await fetch(`${t.url}/`)).text()
    expect(page).to.match(/<a href="\/api\/openapi\.json">/)
  })

  it('describes every route the server answers, and the server answers every path it describes', async () => {
    const status = (await (await fetch(`${t.url}/api`)).json()) as { endpoints: Array<{ method: string; path: string }> }
    for (const { method, path } of status.endpoints) expect(doc.paths[openApiPath(path)]?.[method.toLowerCase()], `${method} ${path}`).to.not.equal(undefined)
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of Object.keys(item)) {
        const concrete = path.replace('{player_name}', 'Bob').replace('{file}', 'app.js')
        // GET asked as HEAD, which answers at once what GET would: the stream's GET never ends.
        const asked = method === 'get' ? 'HEAD' : method.toUpperCase()
        const res = await fetch(`${t.url}${concrete}`, { method: asked, ...(method === 'post' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) })
        const text = await res.text()
        // A 404 of the route itself (a player not muted, a message not stored) is an answer; "there is no …" is the route table's.
        expect(res.status === 405 || (res.status === 404 && /there is no /.test(text)), `${method} ${path} answered ${res.status}: ${text}`).to.equal(false)
      }
  })

  it('documents /metrics only on a server that serves it, and says so when it needs METRICS_KEY', async () => {
    expect(doc.paths['/metrics']?.get).to.deep.include({ security: [] })
    const off = await startTestServer({ config: { METRICS: false } })
    const guarded = await startTestServer({ config: { METRICS_KEY: 'metrics-key-0123456789abcdef' } })
    try {
      expect(((await (await fetch(`${off.url}/api/openapi.json`)).json()) as Doc).paths['/metrics']).to.equal(undefined)
      expect(((await (await fetch(`${guarded.url}/api/openapi.json`)).json()) as Doc).paths['/metrics']?.get).to.deep.include({ security: [{ metricsKey: [] }] })
    } finally {
      await off.close()
      await guarded.close()
    }
  })

  it('asks for a key on the routes with a scope when the server has keys, and says anyone may call them when it has none', async () => {
    expect(doc.paths['/api/send']?.post).to.deep.include({ security: [{ bearer: [] }, { apiKey: [] }, {}] })
    const keyed = await startTestServer({ auth: createAuth({ keys: [{ label: 'game', secret: 'game-key-0123456789abcdef', scopes: PLAIN_SCOPES }] }) })
    try {
      const keyedDoc = (await (await fetch(`${keyed.url}/api/openapi.json`)).json()) as Doc
      expect(keyedDoc.paths['/api/send']?.post).to.deep.include({ security: [{ bearer: [] }, { apiKey: [] }] })
      expect(keyedDoc.paths['/api/stream']?.get).to.deep.include({ security: [{ bearer: [] }, { apiKey: [] }, { streamToken: [] }] })
      expect(keyedDoc.paths['/healthz']?.get).to.deep.include({ security: [] })
    } finally {
      await keyed.close()
    }
  })

  it('takes its query parameters and the send body from the codecs that decode them', () => {
    const codec = listParamsCodec(25)
    const listed = doc.paths['/api/messages']?.get?.parameters ?? []
    expect(listed.map((p) => p.name)).to.deep.equal(fieldsOf(codec).map(([name]) => name))
    for (const [name, field] of fieldsOf(codec)) expect(listed.find((p) => p.name === name)?.schema, name).to.deep.equal(schemaOf(field))
    expect(listed.find((p) => p.name === 'wait')?.schema).to.deep.equal({ type: 'number', minimum: 0, maximum: 25 })
    expect(doc.paths['/api/send']?.post?.requestBody?.content['application/json']?.schema).to.deep.equal(schemaOf(SendBody))
  })

  it('accepts exactly the send bodies the codec accepts', () => {
    const validate = ajvFor(doc as never).compile(schemaOf(SendBody))
    const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.string(), { maxLength: 2 }), fc.integer({ min: 1, max: 2 ** 60 }))
    const body = fc.record(
      { player_name: field, message: field, channel: field, user_id: field, extra: field },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(body, (raw) => {
        const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined))
        expect(validate(present), JSON.stringify(present)).to.equal(E.isRight(SendBody.decode(present)))
      }),
      { numRuns: 2_000 },
    )
  })

  it('accepts exactly the mute and erase bodies their codecs accept', () => {
    const ajv = ajvFor(doc as never)
    const schemaAt = (path: string) => doc.paths[path]?.post?.requestBody?.content['application/json']?.schema
    const cases = [
      { path: '/api/players/{player_name}/mute', codec: muteBodyCodec(MUTE_SECONDS_MAX) },
      { path: '/api/players/{player_name}/erase', codec: EraseBody },
    ]
    const reason = fc.oneof(fc.string({ maxLength: 3 }), fc.string({ minLength: 195, maxLength: 205 }), fc.constant(' padded '))
    const number = fc.oneof(fc.integer({ min: -2, max: 3 }), fc.constantFrom(MUTE_SECONDS_MAX, MUTE_SECONDS_MAX + 1, 1.5, 2 ** 53))
    const field = fc.oneof(number, reason, fc.constant(null), fc.constant(undefined), fc.boolean())
    const body = fc.record({ seconds: field, reason: field, user_id: field, extra: field }, { requiredKeys: [] })
    for (const { path, codec } of cases) {
      const validate = ajv.compile(schemaAt(path) as object)
      fc.assert(
        fc.property(body, (raw) => {
          const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined))
          // The codec trims a reason before counting it; the schema cannot, so surrounding spaces are left out of this comparison.
          if (typeof present.reason === 'string' && present.reason.trim() !== present.reason) return
          // Control characters and lone surrogates are refused by the codec and described in words in the schema.
          if (typeof present.reason === 'string' && (/\p{Cc}/u.test(present.reason) || !(present.reason as string & { isWellFormed(): boolean }).isWellFormed())) return
          expect(validate(present), `${path} ${JSON.stringify(present)}`).to.equal(E.isRight(codec.decode(present)))
        }),
        { numRuns: 2_000 },
      )
    }
  })

  it('gives examples that validate against their schemas', () => {
    const ajv = ajvFor(doc as never)
    let examples = 0
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        const bodies = [
          ...Object.entries(op.requestBody?.content ?? {}).map(([type, media]) => ['request', type, media] as const),
          ...Object.entries(op.responses).flatMap(([status, response]) => Object.entries(response.content ?? {}).map(([type, media]) => [status, type, media] as const)),
        ]
        for (const [where, type, media] of bodies) {
          if (media.example === undefined) continue
          examples++
          const validate = ajv.compile({ $ref: `doc#/paths/${path.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}/${where === 'request' ? 'requestBody' : `responses/${where}`}/content/${type.replace(/\//g, '~1')}/schema` })
          expect(validate(media.example), `${method} ${path} ${where} ${type}: ${ajv.errorsText(validate.errors)}`).to.equal(true)
        }
      }
    expect(examples).to.be.at.least(12)
  })

  it('finds an answer that does not match: the check of real answers can fail', () => {
    const page = { success: true, count: 0, messages: [], next_after: 0, has_more: false, gap: false, epoch: 'abc' }
    expect(checkAnswer('GET', '/api/messages', 200, page)).to.equal(undefined)
    expect(checkAnswer('GET', '/api/messages', 200, { ...page, epoch: undefined })).to.match(/epoch/)
    expect(checkAnswer('GET', '/api/messages/Bob', 200, { ...page, messages: [{ id: 1, player_name: 'a', message: 'b', timestamp: 'now', type: 'player', channel: 'global' }] })).to.match(/date-time/)
    expect(checkAnswer('POST', '/api/send', 400, { success: false, error: 'x' })).to.equal(undefined)
    expect(checkAnswer('POST', '/api/send', 400, { success: false, message: 'x' })).to.match(/error/)
    expect(checkAnswer('GET', '/api/nothing', 200, {})).to.match(/does not describe/)
    expect(checkAnswer('GET', '/api/nothing', 404, { success: false, error: 'no' })).to.equal(undefined)
    expect(documentedPath(describedApi(), '/api/messages/Zo%C3%AB')).to.equal('/api/messages/{player_name}')
  })

  it('is the one the tester page links to, shipped with the package', () => {
    expect(readFileSync(join(ROOT, 'web', 'index.html'), 'utf8')).to.include('href="/api/openapi.json"')
  })
})
