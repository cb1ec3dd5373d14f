export type SseEvent = { readonly id?: string; readonly event: string; readonly data: string }

/**
 * A minimal Server-Sent Events reader over fetch, for tests: `next()`
 * resolves with the next event (comments are skipped), `close()` aborts.
 */
export const openEventStream = async (url: string, headers: Record<string, string> = {}) => {
  const controller = new AbortController()
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal })
  if (response.body === null) throw new Error('no body')
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  const queue: SseEvent[] = []
  const parseBlocks = () => {
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let id: string | undefined
      let event = 'message'
      const data: string[] = []
      let meaningful = false
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'id') (id = value), (meaningful = true)
        else if (field === 'event') (event = value), (meaningful = true)
        else if (field === 'data') data.push(value), (meaningful = true)
      }
      if (meaningful && data.length > 0) queue.push(id === undefined ? { event, data: data.join('\n') } : { id, event, data: data.join('\n') })
    }
  }
  const next = async (): Promise<SseEvent> => {
    for (;;) {
      const event = queue.shift()
      if (event !== undefined) return event
      const chunk = await reader.read()
      if (chunk.done) throw new Error('stream ended')
      buffer += decoder.decode(chunk.value, { stream: true })
      parseBlocks()
    }
  }
  /** The next event of a given type, skipping others. */
  const nextOf = async (type: string): Promise<SseEvent> => {
    for (;;) {
      const event = await next()
      if (event.event === type) return event
    }
  }
  return {
    response,
    next,
    nextOf,
    close: () => {
      controller.abort()
      return reader.cancel().catch(() => undefined)
    },
  }
}
