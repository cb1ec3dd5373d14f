import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { checkReceived } from '../support/openapi-answers'

/*
 * Requests that fetch cannot make: paths fetch would normalise (`/../x`),
 * no Content-Type at all, a chosen agent. Each answer is read to the end.
 */

export type RawAnswer = {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

export type RawRequest = {
  readonly method?: string
  /** Sent exactly as given: no normalisation, no encoding. */
  readonly path: string
  readonly headers?: Record<string, string | number>
  readonly body?: string | Buffer
  readonly agent?: Agent
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export const rawRequest = (baseUrl: string, options: RawRequest): Promise<RawAnswer> => {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
        ...(options.agent === undefined ? {} : { agent: options.agent }),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          checkReceived(options.method ?? 'GET', options.path, res.statusCode ?? 0, res.headers, text)
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Writes bytes on a fresh socket and reads until the server closes it: for request lines no client library would send. */
export const rawSocket = (baseUrl: string, bytes: string): Promise<string> => {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(bytes))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    socket.on('error', reject)
  })
}

/** Splits a raw HTTP/1.1 answer (read with `Connection: close`) into status, headers and body. */
export const parseRawAnswer = (raw: string): { status: number; head: string; body: string } => {
  const split = raw.indexOf('\r\n\r\n')
  const head = split === -1 ? raw : raw.slice(0, split)
  const body = split === -1 ? '' : raw.slice(split + 4)
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
  return { status, head, body }
}
