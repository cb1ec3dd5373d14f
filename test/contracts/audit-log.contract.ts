import { expect } from 'chai'
import type { AuditLog, AuditRecord } from '../../domain/audit-log'
import { run } from './message-repository.contract'

/** An audit log as a test gets it; `peer`, for a log shared by processes, the handle another process would have. */
export type AuditLogUnderTest = { readonly log: AuditLog; readonly peer?: AuditLog; readonly close: () => Promise<void> }
export type AuditLogFactory = (options: { readonly maxEntries: number }) => Promise<AuditLogUnderTest>

const AT = 1_700_000_000_000

/** One record of every kind, each field of each kind used. */
const RECORDS: ReadonlyArray<AuditRecord> = [
  { action: 'remove', messageId: 41, removed: [41, 42], at: AT, actor: 'moderator' },
  { action: 'erase', playerName: 'Builderman', userId: 156, removed: 12, channels: ['global', 'lobby'], at: AT + 1, actor: 'moderator' },
  { action: 'erase', userId: 156, removed: 0, channels: [], notification: '5f0e-notification', at: AT + 2, actor: 'roblox' },
  { action: 'mute', playerName: 'Zoë Å', userId: 7, until: AT + 60_000, reason: 'spam, "again"\nand again', at: AT + 3, actor: 'open' },
  { action: 'unmute', playerName: 'Zoë Å', at: AT + 4, actor: 'moderator' },
  { action: 'clear', channel: 'lobby', at: AT + 5, actor: 'moderator' },
  { action: 'clear', at: AT + 6, actor: 'moderator' },
]

/** What every AuditLog must do (domain/audit-log.ts), whatever it keeps entries in. */
export const auditLogContract = (adapter: string, factory: AuditLogFactory, options: { readonly sharedByProcesses: boolean }): void => {
  describe(`AuditLog contract: ${adapter}`, () => {
    let opened: AuditLogUnderTest | undefined
    const open = async (maxEntries = 1000): Promise<AuditLogUnderTest> => {
      await opened?.close()
      opened = await factory({ maxEntries })
      return opened
    }
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    it('keeps every kind of record as it was given, with increasing ids, and reads them newest first', async () => {
      const { log } = await open()
      const entries = []
      for (const record of RECORDS) entries.push(await run(log.record(record)))
      for (const [i, entry] of entries.entries()) expect(entry).to.deep.equal({ ...RECORDS[i], id: entry.id })
      const ids = entries.map((e) => e.id)
      expect(ids).to.deep.equal([...ids].sort((a, b) => a - b))
      expect(new Set(ids).size).to.equal(ids.length)
      expect(await run(log.read({ limit: 100 }))).to.deep.equal([...entries].reverse())
    })

    it('reads at most the limit, and pages back with before', async () => {
      const { log } = await open()
      for (let i = 0; i < 5; i++) await run(log.record({ action: 'clear', channel: `c${i}`, at: AT + i, actor: 'a' }))
      const first = await run(log.read({ limit: 2 }))
      expect(first.map((e) => e.action === 'clear' && e.channel)).to.deep.equal(['c4', 'c3'])
      const second = await run(log.read({ limit: 2, before: first[1]!.id }))
      expect(second.map((e) => e.action === 'clear' && e.channel)).to.deep.equal(['c2', 'c1'])
      const last = await run(log.read({ limit: 2, before: second[1]!.id }))
      expect(last.map((e) => e.action === 'clear' && e.channel)).to.deep.equal(['c0'])
      expect(await run(log.read({ limit: 2, before: last[0]!.id }))).to.deep.equal([])
      expect(await run(log.read({ limit: 10, before: 1 }))).to.deep.equal([])
    })

    it('keeps the newest entries within its bound, letting the oldest go, and never reuses an id', async () => {
      const { log } = await open(3)
      const ids: number[] = []
      for (let i = 0; i < 10; i++) ids.push((await run(log.record({ action: 'clear', channel: `c${i}`, at: AT, actor: 'a' }))).id)
      const kept = await run(log.read({ limit: 100 }))
      expect(kept.map((e) => e.id)).to.deep.equal(ids.slice(-3).reverse())
      expect(new Set(ids).size).to.equal(10)
    })

    if (options.sharedByProcesses)
      it('is one log for every process: recorded by one, read by the other, ids from one counter', async () => {
        const under = await open()
        if (under.peer === undefined) throw new Error(`${adapter} says it is shared by processes but its factory gives no peer`)
        const a = await run(under.log.record(RECORDS[0] as AuditRecord))
        const b = await run(under.peer.record(RECORDS[1] as AuditRecord))
        expect(b.id).to.be.greaterThan(a.id)
        expect(await run(under.log.read({ limit: 10 }))).to.deep.equal([b, a])
        expect(await run(under.peer.read({ limit: 10 }))).to.deep.equal([b, a])
      })
  })
}
