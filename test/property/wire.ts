import { connect } from 'node:net'

/*
 * HTTP/1.1 on a raw socket, for the property tests: the request goes out
 * byte for byte as built (any method token, lower case included, any path
 * bytes, any header bytes, chunked or not), which neither fetch nor
 * node:http's `request` allow (fetch normalises paths; `request` upper-cases
 * the method and refuses non-ASCII paths). The answer is parsed here too:
 * interim 1xx answers skipped, Content-Length, chunked or read-to-close
 * bodies, HEAD without a body, and an event stream closed by us after its
 * first bytes.
 */

export type WireRequest = {
  readonly method: string
  /** The request target as sent: a string whose characters are bytes (latin1); build it with `bytesOf`. */
  readonly target: string
  /** Header lines as sent, in order; each value a latin1 string (see `bytesOf`). Host and Connection: close are added. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body?: Buffer
  /** How the body is framed: by Content-Length (the default), or chunked in pieces of these sizes. */
  readonly chunks?: ReadonlyArray<number>
}

export type WireAnswer = {
  readonly status: number
  /** Header names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  /** The raw head (status line and headers), for messages. */
  readonly head: string
  readonly body: Buffer
  /** True when we closed an event stream after its first bytes rather than reading it to the end. */
  readonly streamCut: boolean
}

export type WireOutcome =
  | { readonly kind: 'answer'; readonly answer: WireAnswer; readonly ms: number }
  | { readonly kind: 'timeout'; readonly partial: string; readonly ms: number }
  | { readonly kind: 'dropped'; readonly partial: string; readonly error: string; readonly ms: number }

/** A JS string as raw bytes on the wire: its UTF-8 encoding (lone surrogates become EF BF BD) as a latin1 string. */
export const bytesOf = (text: string): string => Buffer.from(text, 'utf8').toString('latin1')

/** The exact bytes of the request, host included. */
export const requestBytes = (host: string, request: WireRequest): Buffer => {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `Host: ${host}`]
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`)
  lines.push('Connection: close')
  const body = request.body
  const parts: Buffer[] = []
  if (body === undefined) {
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'))
  } else if (request.chunks === undefined) {
    lines.push(`Content-Length: ${body.length}`)
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body)
  } else {
    lines.push('Transfer-Encoding: chunked')
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'))
    let offset = 0
    for (const size of request.chunks) {
      if (offset >= body.length) break
      const piece = body.subarray(offset, offset + Math.max(1, size))
      offset += piece.length
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'))
    }
    if (offset < body.length) {
      const rest = body.subarray(offset)
      parts.push(Buffer.from(`${rest.length.toString(16)}\r\n`, 'latin1'), rest, Buffer.from('\r\n', 'latin1'))
    }
    parts.push(Buffer.from('0\r\n\r\n', 'latin1'))
  }
  return Buffer.concat(parts)
}

type Head = { status: number; headers: Record<string, string>; head: string; bodyStart: number }

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')

/** The first final (non-1xx) head in `data`, or undefined while it is incomplete. */
const parseHead = (data: Buffer): Head | undefined => {
  let start = 0
  for (;;) {
    const end = data.indexOf(HEAD_END, start)
    if (end === -1) return undefined
    const head = data.subarray(start, end).toString('latin1')
    const [statusLine = '', ...lines] = head.split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0)
    if (status >= 100 && status < 200) {
      start = end + 4
      continue
    }
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      if (colon === -1) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    return { status, headers, head, bodyStart: end + 4 }
  }
}

const isChunked = (head: Head): boolean => /\bchunked\b/i.test(head.headers['transfer-encoding'] ?? '')

/** The data of the complete chunks at the start of `rest`, and whether the last chunk (size 0) was among them. */
const dechunk = (rest: Buffer): { data: Buffer; ended: boolean } => {
  const pieces: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', at, 'latin1')
    if (lineEnd === -1) return { data: Buffer.concat(pieces), ended: false }
    const size = parseInt(rest.subarray(at, lineEnd).toString('latin1').split(';')[0] ?? '', 16)
    // A size line that is not hex: the framing is broken, and what came so far is all there is.
    if (Number.isNaN(size)) return { data: Buffer.concat(pieces), ended: true }
    if (size === 0) return { data: Buffer.concat(pieces), ended: true }
    if (rest.length < lineEnd + 2 + size + 2) return { data: Buffer.concat(pieces), ended: false }
    pieces.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

/** The body once complete (by Content-Length or the chunked terminator), undefined while more is to come. */
const completeBody = (head: Head, rest: Buffer): Buffer | undefined => {
  if (isChunked(head)) {
    const { data, ended } = dechunk(rest)
    return ended ? data : undefined
  }
  const length = head.headers['content-length']
  if (length !== undefined && /^\d+$/.test(length)) return rest.length >= Number(length) ? rest.subarray(0, Number(length)) : undefined
  return undefined
}

const isEventStream = (head: Head): boolean => /^text\/event-stream\b/i.test(head.headers['content-type'] ?? '')

/**
 * Sends the request on a fresh connection and reads the answer. Settles as
 * soon as the answer is complete, or after the first body bytes of an event
 * stream (then closes it), or when the time is up.
 */
export const exchange = (port: number, request: WireRequest, timeoutMs: number): Promise<WireOutcome> =>
  new Promise((resolve) => {
    const started = Date.now()
    const socket = connect({ host: '127.0.0.1', port })
    let data = Buffer.alloc(0)
    let done = false
    const finish = (outcome: WireOutcome) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    const ms = () => Date.now() - started
    const bodyless = request.method === 'HEAD'
    const tryFinish = (closed: boolean): boolean => {
      const head = parseHead(data)
      if (head === undefined) return false
      const rest = data.subarray(head.bodyStart)
      const answer = (body: Buffer, streamCut = false): WireAnswer => ({ status: head.status, headers: head.headers, head: head.head, body, streamCut })
      if (bodyless || head.status === 204 || head.status === 304) {
        finish({ kind: 'answer', answer: answer(Buffer.alloc(0)), ms: ms() })
        return true
      }
      if (isEventStream(head) && head.status === 200 && !closed) {
        // The stream's first bytes are the proof it is open; a stream is never read to its end.
        const first = isChunked(head) ? dechunk(rest).data : rest
        if (first.length === 0) return false
        finish({ kind: 'answer', answer: answer(first, true), ms: ms() })
        return true
      }
      const body = completeBody(head, rest)
      if (body !== undefined) {
        finish({ kind: 'answer', answer: answer(body), ms: ms() })
        return true
      }
      if (closed) {
        finish({ kind: 'answer', answer: answer(isChunked(head) ? dechunk(rest).data : rest), ms: ms() })
        return true
      }
      return false
    }
    const timer = setTimeout(() => finish({ kind: 'timeout', partial: data.toString('latin1'), ms: ms() }), timeoutMs)
    socket.on('connect', () => {
      // The server may answer and close before it has read every byte (a refusal by the head alone): that is not our error.
      socket.write(requestBytes(`127.0.0.1:${port}`, request), () => undefined)
    })
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      tryFinish(false)
    })
    socket.on('end', () => {
      if (!tryFinish(true)) finish({ kind: 'dropped', partial: data.toString('latin1'), error: 'the server closed the connection without a complete answer', ms: ms() })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!tryFinish(true)) finish({ kind: 'dropped', partial: data.toString('latin1'), error: `${err.code ?? ''} ${err.message}`, ms: ms() })
    })
  })

/**
 * The request bytes as a printf format (bytes outside printable ASCII as
 * \xHH, % doubled); replay it by hand in bash with
 * `exec 3<>/dev/tcp/127.0.0.1/<port>; printf '<this>' >&3; timeout 5 cat <&3`.
 */
export const showRequest = (host: string, request: WireRequest, max = 3000): string => {
  const bytes = requestBytes(host, request)
  let out = ''
  for (const byte of bytes.subarray(0, max)) {
    if (byte === 0x0d) out += '\\r'
    else if (byte === 0x0a) out += '\\n'
    else if (byte === 0x25) out += '%%'
    else if (byte === 0x5c) out += '\\\\'
    else if (byte === 0x27 || byte < 0x20 || byte > 0x7e) out += `\\x${byte.toString(16).padStart(2, '0')}`
    else out += String.fromCharCode(byte)
  }
  return `'${out}'${bytes.length > max ? ` … (${bytes.length} bytes in all)` : ''}`
}
