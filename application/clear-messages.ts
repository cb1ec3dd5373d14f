import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import type { AuditLog } from '../domain/audit-log'
import type { Clock } from '../domain/clock'
import { channelName, type InvalidField } from '../domain/message'
import type { ClearScope, MessageRepository, StoreUnavailable } from '../domain/message-repository'
import { recordDone, type Audited } from './audited'

export type ClearInput = { readonly channel?: string }

export type ClearError = InvalidField | StoreUnavailable

/** Removes every message, or one channel's. Ids are never reused afterwards. */
export const clearMessages = (deps: { readonly messages: Pick<MessageRepository, 'clear'> }) =>
  (input: ClearInput): TE.TaskEither<ClearError, ClearScope> =>
    pipe(
      input.channel === undefined
        ? E.right<InvalidField, ClearScope>({ _tag: 'All' })
        : pipe(channelName(input.channel), E.map((channel): ClearScope => ({ _tag: 'Channel', channel }))),
      TE.fromEither,
      TE.chainFirstW((scope) => deps.messages.clear(scope)),
    )

/** As `clearMessages`, by an admin, recorded in the audit log (the server's clear: every clear is an admin's action). */
export const clearMessagesAudited = (deps: { readonly messages: Pick<MessageRepository, 'clear'>; readonly audit: Pick<AuditLog, 'record'>; readonly clock: Clock }) => {
  const clear = clearMessages(deps)
  return (input: ClearInput & { readonly actor: string }): TE.TaskEither<ClearError, Audited<ClearScope>> =>
    pipe(
      clear(input),
      TE.chainW((scope) =>
        TE.fromTask(() =>
          recordDone(deps.audit, scope, { action: 'clear', ...(scope._tag === 'Channel' ? { channel: scope.channel } : {}), at: deps.clock.now(), actor: input.actor }),
        ),
      ),
    )
}
