import fc from 'fast-check'
import { startTestServer } from '../support/server'
import { anyRequest, sendRequest, toWire, validSendRequest, type GeneratedRequest } from './arbitraries'
import { answerProblems, showOutcome } from './invariants'
import { exchange, requestBytes, showRequest } from './wire'

/*
 * Not a test: a survey for whoever fixes what the property tests find. A
 * property test stops at its first counterexample; this sends SURVEY_RUNS
 * generated requests of each kind to a fresh server (SURVEY_VIA: listener or
 * koa), never stops, and prints each distinct broken invariant once, with
 * the smallest request that broke it.
 *
 *   npx tsx test/property/survey.ts            # 1,500 of each kind, listener
 *   SURVEY_RUNS=5000 SURVEY_VIA=koa npx tsx test/property/survey.ts
 */

const RUNS = Number(process.env.SURVEY_RUNS ?? 1500)
const VIA = process.env.SURVEY_VIA === 'koa' ? 'koa' : 'listener'

/** A finding's kind: the invariant and its detail without the values that vary. */
const kindOf = (invariant: string, detail: string): string =>
  `${invariant} | ${detail.replace(/ in \{.*$/s, '').replace(/\{.*$/s, '{…}').replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 140)}`

const main = async () => {
  const t = await startTestServer({ via: VIA })
  const port = Number(new URL(t.url).port)
  const found = new Map<string, { size: number; text: string; count: number }>()
  for (const [label, arbitrary] of [
    ['any request', anyRequest],
    ['send', sendRequest],
    ['valid send', validSendRequest],
  ] as const) {
    for (const request of fc.sample(arbitrary as fc.Arbitrary<GeneratedRequest>, RUNS)) {
      const wire = toWire(request)
      const outcome = await exchange(port, wire, 5_000)
      for (const p of answerProblems(request, wire, outcome)) {
        const kind = kindOf(p.invariant, p.detail)
        const size = requestBytes('h', wire).length
        const seen = found.get(kind)
        const text = `${label}: ${p.detail}\n    request: ${showRequest(`127.0.0.1:${port}`, wire, 600)}\n    answer: ${showOutcome(outcome).replace(/\r\n/g, ' | ').slice(0, 500)}`
        if (seen === undefined || size < seen.size) found.set(kind, { size, text, count: (seen?.count ?? 0) + 1 })
        else seen.count++
      }
    }
  }
  await t.close()
  for (const [kind, { text, count }] of [...found].sort()) console.log(`\n[${count}×] ${kind}\n  ${text}`)
  console.log(`\n${found.size} kinds of finding (${VIA})`)
}

void main()
