import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { AuditLog } from '../domain/audit-log'
import type { Clock } from '../domain/clock'
import type { Message, MessageId } from '../domain/message'
import type { MessageNotFound, MessageRepository, StoreUnavailable } from '../domain/message-repository'
import { recordDone, type Audited } from './audited'

export type RemoveMessageInput = { readonly id: MessageId; readonly actor: string }

/** What a removal did: the removal entries it appended (one per channel), and every id it took out. */
export type Removed = { readonly entries: ReadonlyArray<Message>; readonly removed: ReadonlyArray<MessageId> }

export type ModerationDeps = {
  readonly messages: Pick<MessageRepository, 'remove'>
  readonly audit: Pick<AuditLog, 'record'>
  readonly clock: Clock
}

export const removedBy = (entries: ReadonlyArray<Message>): Removed => ({ entries, removed: entries.flatMap((e) => e.removes ?? []) })

/** Takes one message (and the replies to it) out of the history, for every reader, and records who did. */
export const removeMessage = (deps: ModerationDeps) =>
  (input: RemoveMessageInput): TE.TaskEither<StoreUnavailable | MessageNotFound, Audited<Removed>> =>
    async () => {
      const at = deps.clock.now()
      const entries = await deps.messages.remove({ scope: { _tag: 'Message', id: input.id }, sentAt: at })()
      if (E.isLeft(entries)) return entries
      const done = removedBy(entries.right)
      return E.right(await recordDone(deps.audit, done, { action: 'remove', messageId: input.id, removed: done.removed, at, actor: input.actor }))
    }
