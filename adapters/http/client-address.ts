import type { IncomingMessage } from 'node:http'

/**
 * The address a request comes from, for limits per address: the peer of
 * the connection, or, behind `trustProxy` proxies, the address the nearest
 * untrusted hop reported in X-Forwarded-For (the header's last entries were
 * written by our own proxies; anything before them, by whoever asked, so it
 * is never believed past that many hops).
 */
export const clientAddress = (req: IncomingMessage, trustProxy: number): string => {
  const peer = req.socket.remoteAddress ?? 'unknown'
  if (trustProxy <= 0) return peer
  const header = req.headers['x-forwarded-for']
  if (header === undefined) return peer
  const hops = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '')
  // Nearest first: the peer, then what each proxy said of the one before it.
  const chain = [peer, ...hops.reverse()]
  return chain[Math.min(trustProxy, chain.length - 1)] as string
}
