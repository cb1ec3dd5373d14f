import { expect } from 'chai'
import type { IncomingMessage } from 'node:http'
import { clientAddress } from '../../adapters/http/client-address'

const request = (peer: string, forwarded?: string): IncomingMessage =>
  ({ socket: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage

describe('the client address behind TRUST_PROXY', () => {
  it('is the peer when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    expect(clientAddress(request('10.0.0.1', '6.6.6.6'), 0)).to.equal('10.0.0.1')
  })

  it('is what the trusted proxies reported, never an entry a client could have written before them', () => {
    // client 1.2.3.4 → proxy 10.0.0.2 → proxy 10.0.0.3 → us; a client forging 6.6.6.6 put it first.
    const forwarded = '6.6.6.6, 1.2.3.4, 10.0.0.2'
    expect(clientAddress(request('10.0.0.3', forwarded), 1)).to.equal('10.0.0.2')
    expect(clientAddress(request('10.0.0.3', forwarded), 2)).to.equal('1.2.3.4')
    // More proxies trusted than hops reported: the furthest one reported.
    expect(clientAddress(request('10.0.0.3', '1.2.3.4'), 5)).to.equal('1.2.3.4')
    expect(clientAddress(request('10.0.0.3'), 1)).to.equal('10.0.0.3')
  })
})
