import * as E from 'fp-ts/Either'
import { loggableRecord, type AuditEntry, type AuditLog, type AuditRecord } from '../domain/audit-log'
import type { StoreUnavailable } from '../domain/message-repository'

/**
 * What an admin action answers: what it did, and the audit log's entry for
 * it. The action is done before it is recorded (an entry for an action that
 * failed would be a false record); if the log then cannot be written, the
 * action still stands, and `unrecorded` says why it is not in the log, for
 * the caller to report loudly (with `unrecordedDetail`, what of the record
 * the operator's log may hold).
 */
export type Audited<A> = {
  readonly done: A
  readonly entry?: AuditEntry
  readonly unrecorded?: { readonly record: AuditRecord; readonly error: StoreUnavailable }
}

/** What the operator's log says of an action the audit log could not keep: what was done (loggableRecord), and why it is not in the log. */
export const unrecordedDetail = (unrecorded: NonNullable<Audited<unknown>['unrecorded']>): Readonly<Record<string, unknown>> => ({
  record: loggableRecord(unrecorded.record),
  err: unrecorded.error,
})

/** Records what was done; never fails. */
export const recordDone = async <A>(audit: Pick<AuditLog, 'record'>, done: A, record: AuditRecord): Promise<Audited<A>> => {
  const recorded = await audit.record(record)()
  return E.isRight(recorded) ? { done, entry: recorded.right } : { done, unrecorded: { record, error: recorded.left } }
}
