import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { IMPERSONATIONS, INVISIBLE_NAMES, LEGIT_NAMES } from '../support/names'

/*
 * A game prints `player_name` as it is, so a name that reads as the server's
 * (look-alike letters, accents, case) or hides characters (zero-width,
 * direction overrides, fillers) is refused with a 400 naming player_name, and
 * nothing is stored. Names in any visible script still work, and are read back
 * by name. Text that is not well-formed (a lone surrogate, sent as the JSON
 * escape "\ud800") is refused in either field.
 */

type Refusal = { success: false; error: string }
type Sent = { success: true; message: { id: number; player_name: string; message: string } }
type PlayerPage = { success: true; player_name: string; count: number; messages: Array<{ player_name: string; message: string; type: string }> }

const expectRefusal = async (res: Response, mentions: RegExp): Promise<Refusal> => {
  const text = await res.text()
  expect(res.status, text).to.equal(400)
  expect(res.headers.get('content-type')).to.match(/^application\/json/)
  const body = JSON.parse(text) as Refusal
  expect(body).to.have.all.keys('success', 'error')
  expect(body.success).to.equal(false)
  expect(body.error).to.be.a('string').and.match(mentions)
  return body
}

const TEXT_OF: Record<string, RegExp> = {
  Reserved: /^player_name .* is reserved: it reads as Server/,
  InvisibleCharacters: /^player_name must not contain invisible or formatting characters such as zero-width spaces/,
  TooManyCombiningMarks: /^player_name must not stack more than 4 combining marks/,
  UnassignedCharacters: /^player_name must not contain private-use or unassigned Unicode characters/,
}

for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP API: player names that could pass for the server or hide characters (${via})`, () => {
    let t: TestServer
    before(async () => {
      t = await startTestServer({ via })
    })
    after(async () => {
      await t?.close()
    })

    const send = (body: unknown) => postJson(`${t.url}/api/send`, body)
    const sendRaw = (body: string) => fetch(`${t.url}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const storedCount = async (): Promise<number> => ((await (await fetch(`${t.url}/api/messages`)).json()) as { count: number }).count

    describe('refused, storing nothing', () => {
      afterEach(async () => {
        expect(await storedCount(), 'a refused send stores nothing').to.equal(0)
      })

      for (const [label, name, tag] of IMPERSONATIONS) {
        it(`refuses ${label} with 400 naming player_name`, async () => {
          await expectRefusal(await send({ player_name: name, message: 'Restarting in 5 minutes, please leave' }), TEXT_OF[tag]!)
        })
      }

      for (const [label, name] of INVISIBLE_NAMES) {
        it(`refuses a name with ${label} with 400 naming player_name`, async () => {
          await expectRefusal(await send({ player_name: name, message: 'hi' }), TEXT_OF.InvisibleCharacters!)
        })
      }

      it('refuses a lone surrogate in player_name (the JSON escape \\ud800) with 400', async () => {
        const body = await expectRefusal(await sendRaw('{"player_name": "Bob\\ud800", "message": "hi"}'), /^player_name is not well-formed Unicode text \(it contains a lone surrogate\)$/)
        expect(body.error).not.to.match(/\ufffd/)
        await expectRefusal(await sendRaw('{"player_name": "\\udc00Bob", "message": "hi"}'), /^player_name is not well-formed/)
      })

      it('refuses a lone surrogate in message with 400', async () => {
        await expectRefusal(await sendRaw('{"player_name": "Bob", "message": "half an emoji \\ud83d"}'), /^message is not well-formed Unicode text \(it contains a lone surrogate\)$/)
        await expectRefusal(await sendRaw('{"player_name": "Bob", "message": "\\ude00"}'), /^message is not well-formed/)
      })

      it('refuses control characters in message other than tab, line feed and carriage return with 400', async () => {
        for (const message of ['bell\u0007', '\u001b[31mred', 'nul\u0000', 'c1\u0085', 'form\u000cfeed'])
          await expectRefusal(await send({ player_name: 'Bob', message }), /^message must not contain control characters other than tab, line feed and carriage return$/)
      })

      it('refuses a message made only of invisible characters as blank with 400', async () => {
        for (const message of ['\u200b\u200b', '\u3164', '\u2800 \u2060', '\u202e'])
          await expectRefusal(await send({ player_name: 'Bob', message }), /^message must not be blank$/)
      })
    })

    describe('reading by a name that cannot be shown', () => {
      it('refuses with 400 naming player_name', async () => {
        for (const name of ['Bob\u200b', '\u202eBob', 'Bob\u3164']) {
          await expectRefusal(await fetch(`${t.url}/api/messages/${encodeURIComponent(name)}`), /^player_name must not contain invisible/)
        }
      })
    })

    describe('accepted', () => {
      for (const name of LEGIT_NAMES) {
        it(`stores ${JSON.stringify(name)} as given and reads it back by name`, async () => {
          const message = `hello from ${name}`
          const res = await send({ player_name: name, message, channel: 'names' })
          const text = await res.text()
          expect(res.status, text).to.equal(200)
          expect((JSON.parse(text) as Sent).message.player_name).to.equal(name)
          const read = await fetch(`${t.url}/api/messages/${encodeURIComponent(name)}?channel=names`)
          expect(read.status).to.equal(200)
          const page = (await read.json()) as PlayerPage
          expect(page.player_name).to.equal(name)
          expect(page.messages.filter((m) => m.type === 'player').map((m) => [m.player_name, m.message])).to.deep.equal([[name, message]])
        })
      }

      it('accepts messages with tabs, newlines, emoji sequences and right-to-left text, verbatim', async () => {
        const message = 'line one\r\nline\ttwo 👨\u200d👩\u200d👧 ❤\ufe0f שלום'
        const res = await send({ player_name: 'Bob', message, channel: 'texts' })
        expect(res.status).to.equal(200)
        expect(((await res.json()) as Sent).message.message).to.equal(message)
      })
    })
  })
}
