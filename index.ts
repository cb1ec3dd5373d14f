/**
 * The library: the domain, the use cases and the adapters, to embed in any
 * Node program. Nothing here is a singleton: build as many stores and apps
 * as you need.
 */
export * from './domain/message'
export * from './domain/message-repository'
export * from './domain/clock'
export * from './domain/auto-reply'
export * from './domain/idempotency'
export * from './domain/content-policy'
export * from './domain/mutes'
export * from './domain/audit-log'
export { sendMessage, type SendInput, type SendError, type SendDeps } from './application/send-message'
export { listMessages, type ListInput, type ListError } from './application/list-messages'
export { listByPlayer, type ListByPlayerInput, type ListByPlayerError } from './application/list-by-player'
export { clearMessages, clearMessagesAudited, type ClearInput, type ClearError } from './application/clear-messages'
export { removeMessage, type RemoveMessageInput, type Removed } from './application/remove-message'
export { erasePlayer, type EraseInput } from './application/erase-player'
export { mutePlayer, MUTE_SECONDS_MAX, type MuteInput } from './application/mute-player'
export { unmutePlayer, type NotMuted } from './application/unmute-player'
export { listMutes } from './application/list-mutes'
export { refuseMuted, type Muted } from './application/refuse-muted'
export { replyLater, type LateReplyInput } from './application/reply-later'
export { readAuditLog } from './application/read-audit-log'
export type { Audited } from './application/audited'
export { listChannels } from './application/list-channels'
export { followMessages, type FollowInput, type FollowEvent, type FollowError, type Following, type FollowOptions } from './application/follow-messages'
export { sendIdempotently, type Delivery, type IdempotencyError } from './application/send-idempotently'
export { PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT_AFTER_CURSOR, type ReadDeps, type Wait } from './application/read-page'
export { shareReads, SHARED_READS_CHANNELS_MAX, type SharedReads, type SharedReadsOptions } from './application/shared-reads'
export { systemClock, systemTimer } from './adapters/system/timer'
export { createMemoryMessageStore, type MemoryMessageStore, type MemoryStoreOptions } from './adapters/memory/memory-message-store'
export { createMemoryIdempotencyKeys, type MemoryIdempotencyOptions } from './adapters/memory/memory-idempotency-keys'
export { createMemoryMutes } from './adapters/memory/memory-mutes'
export { createMemoryAuditLog, type MemoryAuditLogOptions } from './adapters/memory/memory-audit-log'
export {
  createApp,
  createHttp,
  createRequestListener,
  appOf,
  DEFAULT_BODY_LIMIT_BYTES,
  bodyLimitFor,
  type AppDeps,
  type Http,
  type Logger,
  type HttpObserver,
  type AnsweredRequest,
} from './adapters/http/app'
export { createGuardedServer, guardServer, DEFAULT_TIMEOUTS, type ServerOptions, type ServerTimeouts } from './adapters/http/node-server'
export { toWire, type WireMessage } from './adapters/http/wire'
export { readConfig, DEFAULTS, type Config } from './composition/config'
export { startServer, buildPorts, IDEMPOTENCY_RETENTION_MS, type RunningServer, type Ports, type StartOptions } from './composition/start-server'
