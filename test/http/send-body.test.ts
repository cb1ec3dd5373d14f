import { expect } from 'chai'
import fc from 'fast-check'
import { decode, decodeSendBody, SendBody } from '../../adapters/http/codecs'

/*
 * The hand-written decoder of a send's body against the io-ts codec it
 * stands in for: the same result, the same error text, on any JSON object.
 */

const field = fc.oneof(
  fc.constant(undefined),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(1, 156, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 0, -1, 1.5),
  fc.array(fc.jsonValue(), { maxLength: 2 }),
  fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 2 }),
)

const body = fc
  .record({ player_name: field, message: field, channel: field, user_id: field, extra: field }, { requiredKeys: [] })
  .map((record) => JSON.parse(JSON.stringify(record)) as { [key: string]: unknown })

describe('the send body decoder', () => {
  it('decodes every JSON object as the io-ts codec does, error texts included', () => {
    const viaCodec = decode(SendBody)
    fc.assert(
      fc.property(body, (raw) => {
        expect(decodeSendBody(raw)).to.deep.equal(viaCodec(raw))
      }),
      { numRuns: 5_000 },
    )
  })

  it('keeps only the fields a send has, as the exact codec does', () => {
    expect(decodeSendBody({ player_name: 'Bob', message: 'hi', __proto__x: 1, admin: true })).to.deep.equal({
      _tag: 'Right',
      right: { player_name: 'Bob', message: 'hi' },
    })
  })
})
