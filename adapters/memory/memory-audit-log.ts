import * as TE from 'fp-ts/TaskEither'
import type { AuditEntry, AuditLog } from '../../domain/audit-log'

/*
 * The audit log in memory: the newest `maxEntries` records, the oldest let
 * go first, gone with the process (as the messages are).
 */

export type MemoryAuditLogOptions = {
  /** The most entries kept. */
  readonly maxEntries: number
}

export const createMemoryAuditLog = (options: MemoryAuditLogOptions): AuditLog => {
  const max = Math.max(1, options.maxEntries)
  // Oldest first; trimmed by half its bound at once, so that keeping it bounded costs O(1) a record.
  let entries: AuditEntry[] = []
  let lastId = 0
  return {
    record: (record) =>
      TE.fromIO(() => {
        const entry: AuditEntry = { ...record, id: ++lastId }
        entries.push(entry)
        if (entries.length >= max * 1.5) entries = entries.slice(entries.length - max)
        return entry
      }),
    read: ({ limit, before }) =>
      TE.fromIO(() => {
        const out: AuditEntry[] = []
        const oldest = Math.max(0, entries.length - max)
        for (let i = entries.length - 1; i >= oldest && out.length < limit; i--) {
          const entry = entries[i] as AuditEntry
          if (before === undefined || entry.id < before) out.push(entry)
        }
        return out
      }),
  }
}
