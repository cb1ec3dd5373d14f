import type * as TE from 'fp-ts/TaskEither'
import type { AuditEntry, AuditLog } from '../domain/audit-log'
import type { StoreUnavailable } from '../domain/message-repository'

/** A page of the audit log holds at most this many entries, and this many unless asked for fewer. */
export const AUDIT_PAGE_MAX = 1000
export const AUDIT_PAGE_DEFAULT = 100

/** The audit log, newest first; `before` (an entry's id) pages back from there. */
export const readAuditLog = (deps: { readonly audit: Pick<AuditLog, 'read'> }) =>
  (input: { readonly limit?: number; readonly before?: number }): TE.TaskEither<StoreUnavailable, ReadonlyArray<AuditEntry>> =>
    deps.audit.read({ limit: Math.min(input.limit ?? AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX), ...(input.before === undefined ? {} : { before: input.before }) })
