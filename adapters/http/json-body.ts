import { isUtf8 } from 'node:buffer'
import type { IncomingMessage } from 'node:http'
import type { Readable, Transform } from 'node:stream'
import type { Refusal } from './problems'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'

/*
 * Reads a JSON request body. It replaces @koa/bodyparser on POST /api/send,
 * where the parser's general machinery (type sniffing, a promise chain of
 * three libraries, a body for every content type) was the largest single
 * cost of a send; the measurements are in ARCHITECTURE.md. What it keeps:
 * the byte limit on the decoded body (413, announced or counted), gzip,
 * deflate and br bodies (Roblox's PostAsync compresses when asked to), UTF-8
 * only (bytes that are not UTF-8 are refused, never stored as U+FFFD; a
 * byte-order mark is skipped), and malformed JSON as a 400.
 *
 * A body refused before its end (too large, or not decodable) is not read
 * to its end either: what follows is discarded up to DISCARD_LIMIT_BYTES,
 * so a client that sends a little too much keeps its connection, and past
 * that the connection is closed, so no client can make us read gigabytes.
 */

/** What is read and thrown away of a refused body before its connection is closed. */
export const DISCARD_LIMIT_BYTES = 1024 * 1024

export type BodyRefusal = Extract<Refusal, { _tag: 'InvalidRequest' | 'BodyTooLarge' | 'UnsupportedMediaType' }>

/** What a body reads as, or why it is refused. */
export type Read<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly refusal: BodyRefusal }

/** The parsed JSON (undefined for an empty body), or why the body is refused. */
export type BodyRead = Read<unknown>

const invalid = (error: string): { readonly ok: false; readonly refusal: BodyRefusal } => ({ ok: false, refusal: { _tag: 'InvalidRequest', error } })
const unsupported = (error: string): { readonly ok: false; readonly refusal: BodyRefusal } => ({ ok: false, refusal: { _tag: 'UnsupportedMediaType', error } })

/** UTF-8 JSON: a byte-order mark skipped, an empty body undefined. */
const parseJson = (received: Buffer): BodyRead => {
  let bytes = received
  if (!isUtf8(bytes)) return invalid('the request body is not valid UTF-8')
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3)
  const text = bytes.toString('utf8')
  if (text.trim() === '') return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return invalid('the request body is not valid JSON')
  }
}

const asBytes = (bytes: Buffer): Read<Buffer> => ({ ok: true, value: bytes })

/**
 * The body's bytes as received (decompressed), within the same limits, for a
 * route that must see them exactly: a signature is made over the raw body.
 */
export const readBodyBytes = (req: IncomingMessage, limit: number): Promise<Read<Buffer>> => readBody(req, limit, asBytes)

const decoderFor = (encoding: string): (() => Transform) | undefined => {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip
    case 'deflate':
      return createInflate
    case 'br':
      return createBrotliDecompress
    default:
      return undefined
  }
}

const UTF8_CHARSET = /;\s*charset\s*=\s*"?utf-?8"?\s*(;|$)/i
const ANY_CHARSET = /;\s*charset\s*=/i

/**
 * Rejects with the stream's error when the client goes away mid-body, so
 * that nothing half-read is ever stored; the caller's error boundary knows
 * such errors and answers no one.
 */
export const readJsonBody = (req: IncomingMessage, limit: number): Promise<BodyRead> => readBody(req, limit, parseJson)

const readBody = <A>(req: IncomingMessage, limit: number, interpret: (bytes: Buffer) => Read<A>): Promise<Read<A>> => {
  const type = req.headers['content-type'] ?? ''
  if (ANY_CHARSET.test(type) && !UTF8_CHARSET.test(type)) {
    discardRest(req)
    return Promise.resolve(unsupported('the request body must be JSON in UTF-8 (charset=utf-8 or none)'))
  }
  const tooLarge = (): { readonly ok: false; readonly refusal: BodyRefusal } => ({ ok: false, refusal: { _tag: 'BodyTooLarge', limit } })

  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
  let decoder: Transform | undefined
  if (encoding !== 'identity' && encoding !== '') {
    const makeDecoder = decoderFor(encoding)
    if (makeDecoder === undefined) {
      discardRest(req)
      return Promise.resolve(unsupported(`the Content-Encoding ${JSON.stringify(encoding)} is not supported; send gzip, deflate, br or none`))
    }
    decoder = req.pipe(makeDecoder())
    // A decoder error after the answer is settled (bytes still arriving) must not crash the process.
    decoder.on('error', () => undefined)
  } else {
    // An announced length over the limit is refused before a byte is read.
    const announced = Number(req.headers['content-length'] ?? 0)
    if (announced > limit) {
      discardRest(req)
      return Promise.resolve(tooLarge())
    }
  }

  const source: Readable = decoder ?? req
  return new Promise<Read<A>>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (result: Read<A> | Error) => {
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onError)
      req.off('close', onClose)
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        if (decoder !== undefined) {
          req.unpipe(decoder)
          decoder.destroy()
        }
        finish(tooLarge())
        discardRest(req)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => finish(interpret(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)))
    const onError = (err: Error) => {
      // A body that does not decompress is the client's mistake; a broken connection (seen on req itself) is no one's to answer.
      if (decoder === undefined) return finish(err)
      finish(invalid(`the request body is not valid ${encoding} data`))
      discardRest(req)
    }
    const onClose = () => {
      if (!req.complete) finish(Object.assign(new Error('the client went away mid-body'), { code: 'ECONNABORTED' }))
    }
    source.on('data', onData)
    source.on('end', onEnd)
    source.on('error', onError)
    req.on('close', onClose)
  })
}

/**
 * Reads and throws away the rest of a refused body. Past DISCARD_LIMIT_BYTES
 * the connection is closed: the answer has been written by then, and a
 * client still sending that much after it is not going to stop.
 */
export const discardRest = (req: IncomingMessage): void => {
  if (req.complete || discarding.has(req) || !hasBody(req)) return
  discarding.add(req)
  let discarded = 0
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length
    if (discarded > DISCARD_LIMIT_BYTES) req.socket.destroy()
  })
  req.resume()
}

const discarding = new WeakSet<IncomingMessage>()

/** Whether the request carries a body at all: a length over zero, or chunks. */
export const hasBody = (req: IncomingMessage): boolean => {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}
