import { MUTE_SECONDS_MAX } from '../../application/mute-player'
import { ClearQuery, EraseBody, fieldsOf, listParamsCodec, MUTE_REASON_MAX, schemaOf, SendBody, StreamQuery, type JsonSchema } from './codecs'
import type { Scope } from './auth'

/*
 * The API described in OpenAPI 3.1, built from what the server runs on so
 * that it cannot drift from it: the paths, methods, descriptions and scopes
 * from the route table (app.ts hands them over), every request schema and
 * query parameter from the io-ts codecs that decode them (codecs.ts
 * `schemaOf`), the limits from the configuration. What is written here by
 * hand, the answers' schemas and the examples, is held to the server by the
 * tests: every example validates against its schema, and every answer the
 * test suite receives validates against the schema documented for it
 * (test/support/openapi-answers.ts).
 */

export type RouteDescription = {
  readonly method: 'GET' | 'POST' | 'DELETE'
  /** As the route table writes it: `/api/messages/:player_name`. */
  readonly path: string
  readonly description: string
  readonly scope: Scope | undefined
}

export type OpenApiOptions = {
  readonly routes: ReadonlyArray<RouteDescription>
  readonly version: string
  /** No API keys are configured: every route may be called without credentials. */
  readonly open: boolean
  /** GET /metrics needs the METRICS_KEY. */
  readonly metricsKey: boolean
  readonly longPollMaxSeconds: number
  readonly maxMessageLength: number
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })

const EXAMPLE_MESSAGE = {
  id: 7,
  player_name: 'Builderman',
  message: 'Hello!',
  timestamp: '2025-11-22T10:00:00.000Z',
  type: 'player',
  channel: 'global',
  user_id: 156,
}
const EXAMPLE_REPLY = { id: 8, player_name: 'Server', message: 'Hello Builderman!', timestamp: '2025-11-22T10:00:00.000Z', type: 'reply', channel: 'global', reply_to: 7 }
const EXAMPLE_PAGE = { success: true, count: 2, messages: [EXAMPLE_MESSAGE, EXAMPLE_REPLY], next_after: 8, has_more: false, gap: false, epoch: 'x7Rk2pQa' }

/** The answers' schemas: the shapes wire.ts and the handlers write. */
const SCHEMAS: Readonly<Record<string, JsonSchema>> = {
  Message: {
    type: 'object',
    description:
      'A stored message. `id` strictly increases and is never reused; a reply carries `reply_to`; `user_id` is there when the sender gave it. A removal entry (`type: "removal"`, from `Server`, an empty `message`) says a moderator took down the messages whose ids `removes` lists: a reader stops showing them. Lists after a cursor, long polls and streams carry removal entries; lists without a cursor never do.',
    required: ['id', 'player_name', 'message', 'timestamp', 'type', 'channel'],
    properties: {
      id: { type: 'integer', minimum: 1 },
      player_name: { type: 'string' },
      message: { type: 'string' },
      timestamp: { type: 'string', format: 'date-time', description: 'ISO-8601 UTC with milliseconds' },
      type: { enum: ['player', 'reply', 'removal'] },
      channel: { type: 'string' },
      reply_to: { type: 'integer', minimum: 1 },
      user_id: { type: 'integer', minimum: 1 },
      removes: { type: 'array', items: { type: 'integer', minimum: 1 }, description: 'on a removal entry: the ids taken down, ascending' },
    },
    additionalProperties: false,
  },
  Page: {
    type: 'object',
    description: 'Messages oldest first, and where to continue: pass `next_after` (and `epoch`) back as `after` (and `epoch`).',
    required: ['success', 'count', 'messages', 'next_after', 'has_more', 'gap', 'epoch'],
    properties: {
      success: { const: true },
      player_name: { type: 'string', description: 'on a player\'s list only: the name asked for' },
      count: { type: 'integer', minimum: 0 },
      messages: { type: 'array', items: ref('Message') },
      next_after: { type: 'integer', minimum: 0 },
      has_more: { type: 'boolean' },
      gap: { type: 'boolean', description: 'messages after the cursor were evicted or cleared before this reader saw them' },
      epoch: { type: 'string' },
    },
    additionalProperties: false,
  },
  Sent: {
    type: 'object',
    required: ['success', 'message', 'auto_reply'],
    properties: { success: { const: true }, message: ref('Message'), auto_reply: { oneOf: [ref('Message'), { type: 'null' }] } },
    additionalProperties: false,
  },
  Error: {
    type: 'object',
    description: 'Every refusal: `error` says what is wrong and names the field.',
    required: ['success', 'error'],
    properties: { success: { const: false }, error: { type: 'string' } },
    additionalProperties: false,
  },
  Status: {
    type: 'object',
    required: ['success', 'status', 'store', 'holding', 'endpoints'],
    properties: {
      success: { const: true },
      status: { enum: ['running', 'store unavailable'] },
      store: { type: 'object', required: ['kind', 'available'], properties: { kind: { type: 'string' }, available: { type: 'boolean' } }, additionalProperties: false },
      holding: {
        type: 'object',
        required: ['long_polls', 'streams'],
        properties: { long_polls: { type: 'integer', minimum: 0 }, streams: { type: 'integer', minimum: 0 } },
        additionalProperties: false,
      },
      outbound: {
        description: 'The outbound targets (WEBHOOKS) and how their deliveries stand; present when targets are configured',
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'kind', 'available'],
          properties: {
            name: { type: 'string' },
            kind: { enum: ['http', 'discord', 'roblox'] },
            available: { type: 'boolean', description: 'false when the store did not answer for this target (then error says why)' },
            error: { type: 'string' },
            queued: { type: 'integer', minimum: 0 },
            dropped: { type: 'integer', minimum: 0 },
            state: { enum: ['idle', 'delivering', 'retrying', 'paused'] },
            paused_until: { type: 'string', format: 'date-time' },
            failures: { type: 'integer', minimum: 0, description: 'failed attempts in a row' },
            delivered: { type: 'integer', minimum: 0, description: 'messages taken by the target since the delivering process (the holder of its lease) started delivering it: a count of that process, reset when it restarts or another takes over' },
            retried: { type: 'integer', minimum: 0, description: 'attempts this process (the one that answered) tried again for the target since it started; as rms_outbound_attempts_total{outcome="retried"}' },
            last_error: { type: 'string' },
            reported_at: { type: 'string', format: 'date-time' },
          },
          additionalProperties: false,
        },
      },
      endpoints: {
        type: 'array',
        items: {
          type: 'object',
          required: ['method', 'path', 'description'],
          properties: { method: { type: 'string' }, path: { type: 'string' }, description: { type: 'string' } },
          additionalProperties: false,
        },
      },
    },
    additionalProperties: false,
  },
  Removed: {
    type: 'object',
    required: ['success', 'removed', 'removals', 'audited'],
    properties: {
      success: { const: true },
      removed: { type: 'array', items: { type: 'integer', minimum: 1 }, description: 'the ids taken down (the messages and the replies to them)' },
      removals: { type: 'array', items: ref('Message'), description: 'the removal entries appended, one per channel touched' },
      audited: { type: 'boolean', description: 'false when the action was done but the audit log could not record it (the record is in the server log)' },
    },
    additionalProperties: false,
  },
  Mute: {
    type: 'object',
    required: ['player_name', 'reason', 'since', 'until', 'by'],
    properties: {
      player_name: { type: 'string' },
      user_id: { type: 'integer', minimum: 1 },
      reason: { type: 'string' },
      since: { type: 'string', format: 'date-time' },
      until: { type: 'string', format: 'date-time' },
      by: { type: 'string', description: "the label of the key that muted (never the key)" },
    },
    additionalProperties: false,
  },
  Muted: {
    type: 'object',
    required: ['success', 'mute', 'audited'],
    properties: { success: { const: true }, mute: ref('Mute'), audited: { type: 'boolean' } },
    additionalProperties: false,
  },
  Lifted: {
    type: 'object',
    required: ['success', 'lifted', 'audited'],
    properties: { success: { const: true }, lifted: ref('Mute'), audited: { type: 'boolean' } },
    additionalProperties: false,
  },
  Mutes: {
    type: 'object',
    required: ['success', 'count', 'mutes'],
    properties: { success: { const: true }, count: { type: 'integer', minimum: 0 }, mutes: { type: 'array', items: ref('Mute'), description: 'soonest to end first' } },
    additionalProperties: false,
  },
  Audit: {
    type: 'object',
    required: ['success', 'count', 'entries', 'next_before'],
    properties: {
      success: { const: true },
      count: { type: 'integer', minimum: 0 },
      entries: {
        type: 'array',
        description: 'newest first',
        items: {
          type: 'object',
          required: ['id', 'at', 'actor', 'action'],
          properties: {
            id: { type: 'integer', minimum: 1 },
            at: { type: 'string', format: 'date-time' },
            actor: { type: 'string', description: "the key's label, `open` on a server without keys, `roblox` for the webhook" },
            action: { enum: ['remove', 'erase', 'mute', 'unmute', 'clear'] },
            message_id: { type: 'integer' },
            removed: {
              description: 'on a remove: the ids taken down; on an erase: how many messages were taken down',
              oneOf: [{ type: 'array', items: { type: 'integer' } }, { type: 'integer', minimum: 0 }],
            },
            player_name: { type: 'string' },
            user_id: { type: 'integer' },
            channels: { type: 'array', items: { type: 'string' } },
            notification: { type: 'string' },
            until: { type: 'string', format: 'date-time' },
            reason: { type: 'string' },
            channel: { type: ['string', 'null'] },
          },
          additionalProperties: false,
        },
      },
      next_before: { type: ['integer', 'null'], description: 'pass it as ?before= for the older entries; null when there are none' },
    },
    additionalProperties: false,
  },
  WebhookAnswer: {
    type: 'object',
    required: ['success', 'event'],
    properties: {
      success: { const: true },
      event: { type: 'string' },
      handled: { type: 'boolean' },
      user_id: { type: 'integer' },
      removed: { type: 'integer', minimum: 0, description: 'how many messages the erasure took down' },
    },
    additionalProperties: false,
  },
  Refusals: {
    type: 'object',
    required: ['success', 'last_hour', 'recent'],
    properties: {
      success: { const: true },
      last_hour: {
        type: 'array',
        items: {
          type: 'object',
          required: ['status', 'reason', 'count'],
          properties: { status: { type: 'integer' }, reason: { type: 'string' }, count: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
      },
      recent: {
        type: 'array',
        items: {
          type: 'object',
          required: ['at', 'status', 'reason', 'method', 'path'],
          properties: { at: { type: 'string', format: 'date-time' }, status: { type: 'integer' }, reason: { type: 'string' }, method: { type: 'string' }, path: { type: 'string' } },
          additionalProperties: false,
        },
      },
    },
    additionalProperties: false,
  },
  Token: {
    type: 'object',
    required: ['success', 'token', 'expires_in'],
    properties: { success: { const: true }, token: { type: 'string' }, expires_in: { type: 'integer', minimum: 1, description: 'seconds' } },
    additionalProperties: false,
  },
  Channels: {
    type: 'object',
    required: ['success', 'count', 'channels'],
    properties: {
      success: { const: true },
      count: { type: 'integer', minimum: 0 },
      channels: {
        type: 'array',
        items: {
          type: 'object',
          required: ['channel', 'count', 'newest_id'],
          properties: { channel: { type: 'string' }, count: { type: 'integer', minimum: 0 }, newest_id: { type: ['integer', 'null'] } },
          additionalProperties: false,
        },
      },
    },
    additionalProperties: false,
  },
  Cleared: {
    type: 'object',
    required: ['success', 'message'],
    properties: { success: { const: true }, message: { type: 'string' } },
    additionalProperties: false,
  },
  Alive: {
    type: 'object',
    required: ['success', 'status'],
    properties: { success: { const: true }, status: { const: 'alive' } },
    additionalProperties: false,
  },
  Ready: {
    type: 'object',
    required: ['success', 'status', 'store'],
    properties: {
      success: { const: true },
      status: { const: 'ready' },
      store: { type: 'object', required: ['kind', 'available'], properties: { kind: { type: 'string' }, available: { const: true } }, additionalProperties: false },
    },
    additionalProperties: false,
  },
  Allow: {
    type: 'object',
    required: ['success', 'allow'],
    properties: { success: { const: true }, allow: { type: 'array', items: { type: 'string' } } },
    additionalProperties: false,
  },
}

type Operation = {
  readonly summary?: string
  /** The success answer: its status, media type, schema and example. */
  readonly ok: { readonly status: number; readonly type: string; readonly schema: JsonSchema; readonly example?: unknown; readonly description: string }
  /** The refusals this operation answers besides those of any route (500, and 401/403/429 for those with a scope). */
  readonly refusals: ReadonlyArray<number>
  readonly parameters?: ReadonlyArray<object>
  readonly requestBody?: object
}

const REFUSALS: Readonly<Record<number, string>> = {
  400: 'bad input: a malformed query, header, path or body; `error` names the field',
  401: 'no API key, or one this server does not know (WWW-Authenticate says which)',
  403: 'the key may not do this (its scope or its channels), or a page on another site may not',
  404: 'no such route',
  408: 'the request was not received in time',
  409: 'a conflict: the channel limit, or an Idempotency-Key still in progress (with Retry-After)',
  413: 'the body is larger than the server accepts',
  415: 'the body is not JSON',
  422: 'an Idempotency-Key reused for another body, or a message the content policy refuses (naming its rule)',
  429: 'a rate limit (with Retry-After and the RateLimit fields), or too many streams from one address',
  503: 'the store is unavailable, the server is shutting down, or a cap on held polls or streams is reached (with Retry-After)',
}

const json = (schema: JsonSchema, example?: unknown) => ({ 'application/json': example === undefined ? { schema } : { schema, example } })

/** The parameters a query codec decodes, each with the codec's own schema. */
const queryParameters = (codec: Parameters<typeof fieldsOf>[0], descriptions: Readonly<Record<string, string>>) =>
  fieldsOf(codec).map(([name, field]) => ({
    name,
    in: 'query',
    required: false,
    description: descriptions[name] ?? field.name,
    schema: schemaOf(field),
  }))

const LIST_PARAMETERS: Readonly<Record<string, string>> = {
  channel: 'the channel (global by default)',
  limit: 'at most this many messages (50 by default, 100 after a cursor, at most 1000)',
  since: 'only messages sent after this instant (the original server\'s parameter; `after` loses nothing)',
  after: 'a cursor: only messages after this id (the next_after of the last answer)',
  epoch: 'the epoch of the answer the cursor came from; another store life answers from the start with gap: true',
  wait: 'with after: hold the request up to this many seconds until a message arrives (a long poll)',
}

const operations = (options: OpenApiOptions): Readonly<Record<string, Operation>> => ({
  'GET /api': { ok: { status: 200, type: 'application/json', schema: ref('Status'), description: 'The server and its endpoints', example: statusExample }, refusals: [] },
  'GET /api/openapi.json': { ok: { status: 200, type: 'application/json', schema: { type: 'object' }, description: 'This document' }, refusals: [] },
  'GET /healthz': {
    ok: { status: 200, type: 'application/json', schema: ref('Alive'), description: 'The process answers', example: { success: true, status: 'alive' } },
    refusals: [],
  },
  'GET /readyz': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Ready'),
      description: 'The store answers: send traffic here',
      example: { success: true, status: 'ready', store: { kind: 'redis', available: true } },
    },
    refusals: [503],
  },
  'GET /metrics': {
    ok: {
      status: 200,
      type: 'text/plain',
      schema: { type: 'string' },
      description: "Prometheus's text format (version 0.0.4): the server's metrics and the process's",
      example: '# HELP rms_messages_stored_total Messages stored by this process\n# TYPE rms_messages_stored_total counter\nrms_messages_stored_total{type="player"} 42\n',
    },
    refusals: options.metricsKey ? [401] : [],
  },
  'POST /api/token': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Token'),
      description: 'A read token for /api/stream?token=',
      example: { success: true, token: 'eyJsIjoiZ2FtZSIsImUiOjE3NjM4MDU2MDB9.c2lnbmF0dXJl', expires_in: 600 },
    },
    refusals: [400],
  },
  'POST /api/send': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Sent'),
      description: 'Stored, with the automatic reply (null when replies are off). A replay of an Idempotency-Key carries Idempotent-Replayed: true.',
      example: { success: true, message: EXAMPLE_MESSAGE, auto_reply: EXAMPLE_REPLY },
    },
    refusals: [400, 409, 413, 415, 422, 503],
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'retry-safe sends: a retry with the same key and body is answered with the first answer and stores nothing (kept 24 h)',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      },
    ],
    requestBody: {
      required: true,
      description: `player_name: 1–50 visible characters, not Server nor anything that reads as it; message: 1–${options.maxMessageLength} characters, not blank; channel: 1–32 of A–Z a–z 0–9 _ - (global by default); user_id: the sender's Roblox UserId. gzip, deflate and br bodies are accepted.`,
      content: json(schemaOf(SendBody), { player_name: 'Builderman', message: 'Hello!', user_id: 156 }),
    },
  },
  'GET /api/messages': {
    ok: { status: 200, type: 'application/json', schema: ref('Page'), description: 'A page of messages', example: EXAMPLE_PAGE },
    refusals: [400, 503],
    parameters: queryParameters(listParamsCodec(options.longPollMaxSeconds), LIST_PARAMETERS),
  },
  'GET /api/messages/:player_name': {
    ok: { status: 200, type: 'application/json', schema: ref('Page'), description: "A page of one player's messages", example: { ...EXAMPLE_PAGE, player_name: 'Builderman', count: 1, messages: [EXAMPLE_MESSAGE] } },
    refusals: [400, 503],
    parameters: [
      { name: 'player_name', in: 'path', required: true, description: 'the player, matched in any case, percent-encoded', schema: { type: 'string' } },
      ...queryParameters(listParamsCodec(options.longPollMaxSeconds), LIST_PARAMETERS),
    ],
  },
  'GET /api/stream': {
    ok: {
      status: 200,
      type: 'text/event-stream',
      schema: { type: 'string' },
      description: 'Server-Sent Events: each message as an event whose id is its id and data its JSON; `gap` and `ready` events; a comment line as heartbeat',
      example: 'retry: 2000\n\nid: 7\ndata: {"id":7,"player_name":"Builderman","message":"Hello!","timestamp":"2025-11-22T10:00:00.000Z","type":"player","channel":"global"}\n\n',
    },
    refusals: [400, 503],
    parameters: [
      ...queryParameters(StreamQuery, { channel: 'the channel (global by default)', player: "only this player's messages", after: 'start after this id (or Last-Event-ID)', epoch: 'the epoch the cursor came from' }),
      { name: 'token', in: 'query', required: false, description: 'a read token from POST /api/token (EventSource cannot send a key)', schema: { type: 'string' } },
      { name: 'Last-Event-ID', in: 'header', required: false, description: 'sent by a reconnecting EventSource: resume after this id', schema: { type: 'integer', minimum: 0 } },
    ],
  },
  'GET /api/channels': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Channels'),
      description: 'Channels holding messages (those the key may use)',
      example: { success: true, count: 1, channels: [{ channel: 'global', count: 2, newest_id: 8 }] },
    },
    refusals: [503],
  },
  'GET /api/admin/refusals': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Refusals'),
      description: "This process's refusals of the last hour by reason (the policy rule or the limit's scope named), and the newest ones",
      example: {
        success: true,
        last_hour: [{ status: 429, reason: 'RateLimited: player', count: 3 }],
        recent: [{ at: '2025-11-22T10:00:00.000Z', status: 429, reason: 'RateLimited: player', method: 'POST', path: '/api/send' }],
      },
    },
    refusals: [],
  },
  'DELETE /api/messages/:player_name': {
    summary: 'Remove one message (the path segment is its id)',
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Removed'),
      description: 'Taken down, with the replies to it; a removal entry takes its place in the history',
      example: { success: true, removed: [7, 8], removals: [{ id: 9, player_name: 'Server', message: '', timestamp: '2025-11-22T10:01:00.000Z', type: 'removal', channel: 'global', removes: [7, 8] }], audited: true },
    },
    refusals: [400, 404, 503],
    parameters: [{ name: 'player_name', in: 'path', required: true, description: 'for DELETE, the id of the message to remove (a positive integer)', schema: { type: 'string' } }],
  },
  'POST /api/players/:player_name/erase': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Removed'),
      description: 'Everything the player wrote taken down, in every channel, with the replies to it (none taken: an empty list)',
      example: { success: true, removed: [], removals: [], audited: true },
    },
    refusals: [400, 413, 415, 503],
    parameters: [{ name: 'player_name', in: 'path', required: true, description: 'the player, matched in any case, percent-encoded', schema: { type: 'string' } }],
    requestBody: {
      required: false,
      description: 'optional: { "user_id": N } erases what that Roblox user id sent, under any name, too',
      // From the codec that decodes it: other fields are ignored.
      content: json(schemaOf(EraseBody), { user_id: 156 }),
    },
  },
  'POST /api/players/:player_name/mute': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Muted'),
      description: "Muted: the player's sends are refused (403, with the reason) until it ends",
      example: { success: true, mute: { player_name: 'Builderman', reason: 'spam', since: '2025-11-22T10:00:00.000Z', until: '2025-11-22T11:00:00.000Z', by: 'ops' }, audited: true },
    },
    refusals: [400, 413, 415, 503],
    parameters: [{ name: 'player_name', in: 'path', required: true, description: 'the player, matched in any case, percent-encoded', schema: { type: 'string' } }],
    requestBody: {
      required: true,
      description: 'seconds: how long; reason: what the player is told; user_id: their Roblox UserId, so that another name does not escape the mute',
      content: json(
        {
          type: 'object',
          required: ['seconds', 'reason'],
          properties: {
            seconds: { type: 'integer', minimum: 1, maximum: MUTE_SECONDS_MAX },
            reason: { type: 'string', minLength: 1, maxLength: MUTE_REASON_MAX, description: 'trimmed; no control characters' },
            user_id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          },
        },
        { seconds: 3600, reason: 'spam', user_id: 156 },
      ),
    },
  },
  'DELETE /api/players/:player_name/mute': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Lifted'),
      description: 'The mute lifted',
      example: { success: true, lifted: { player_name: 'Builderman', reason: 'spam', since: '2025-11-22T10:00:00.000Z', until: '2025-11-22T11:00:00.000Z', by: 'ops' }, audited: true },
    },
    refusals: [400, 404, 503],
    parameters: [{ name: 'player_name', in: 'path', required: true, description: 'the player, matched in any case, percent-encoded', schema: { type: 'string' } }],
  },
  'GET /api/mutes': {
    ok: { status: 200, type: 'application/json', schema: ref('Mutes'), description: 'The mutes in force, soonest to end first', example: { success: true, count: 0, mutes: [] } },
    refusals: [503],
  },
  'GET /api/admin/audit': {
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('Audit'),
      description: 'Admin actions, newest first',
      example: { success: true, count: 1, entries: [{ id: 1, at: '2025-11-22T10:00:00.000Z', actor: 'ops', action: 'mute', player_name: 'Builderman', until: '2025-11-22T11:00:00.000Z', reason: 'spam' }], next_before: null },
    },
    refusals: [400, 503],
    parameters: [
      { name: 'limit', in: 'query', required: false, description: 'at most this many entries (50 by default)', schema: { type: 'integer', minimum: 1 } },
      { name: 'before', in: 'query', required: false, description: 'only entries older than this id (the next_before of the last answer)', schema: { type: 'integer', minimum: 1 } },
    ],
  },
  'POST /api/roblox/webhook': {
    summary: "Roblox's webhook notifications (no API key: the roblox-signature header is the credential)",
    ok: {
      status: 200,
      type: 'application/json',
      schema: ref('WebhookAnswer'),
      description: 'Received: a Right to Erasure request has been carried out; other notifications are acknowledged',
      example: { success: true, event: 'RightToErasureRequest', user_id: 156, removed: 12 },
    },
    refusals: [400, 401, 404, 413, 415, 503],
    parameters: [
      { name: 'roblox-signature', in: 'header', required: true, description: 't=<unix seconds>,v1=<base64 HMAC-SHA256 of "<t>.<raw body>" with ROBLOX_WEBHOOK_SECRET>', schema: { type: 'string' } },
    ],
    requestBody: {
      required: true,
      description: "Roblox's notification, as Roblox sends it",
      content: json({ type: 'object', properties: { EventType: { type: 'string' }, EventPayload: { type: 'object' } } }, { NotificationId: 'x', EventType: 'RightToErasureRequest', EventTime: '2025-11-22T10:00:00Z', EventPayload: { UserId: 156, GameIds: [1] } }),
    },
  },
  'POST /api/clear': {
    ok: { status: 200, type: 'application/json', schema: ref('Cleared'), description: 'Cleared', example: { success: true, message: 'All messages cleared' } },
    refusals: [400, 503],
    parameters: queryParameters(ClearQuery, { channel: 'clear only this channel' }),
  },
})

const statusExample = {
  success: true,
  status: 'running',
  store: { kind: 'memory', available: true },
  holding: { long_polls: 0, streams: 0 },
  endpoints: [{ method: 'GET', path: '/api', description: 'Server status and this list' }],
}

/** `/api/messages/:player_name` as OpenAPI writes a path: `/api/messages/{player_name}`. */
export const openApiPath = (path: string): string => path.replace(/:([A-Za-z_]+)/g, '{$1}')

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'an API key as Authorization: Bearer <key>' },
  apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'an API key as X-Api-Key: <key>' },
  streamToken: { type: 'apiKey', in: 'query', name: 'token', description: 'a read token from POST /api/token, for /api/stream only' },
  metricsKey: { type: 'http', scheme: 'bearer', description: 'the METRICS_KEY, for /metrics only' },
}

/** Builds the document for this server's routes and configuration. */
export const openApiDocument = (options: OpenApiOptions): Record<string, unknown> => {
  const ops = operations(options)
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of options.routes) {
    const key = `${route.method} ${route.path}`
    const op = ops[key]
    // A route without an entry here is a route the document would not describe: a mistake caught when the first server is built.
    if (op === undefined) throw new Error(`openapi.ts describes no ${key}: add it to operations()`)
    const responses: Record<string, unknown> = {
      [String(op.ok.status)]: { description: op.ok.description, content: { [op.ok.type]: op.ok.example === undefined ? { schema: op.ok.schema } : { schema: op.ok.schema, example: op.ok.example } } },
    }
    const refusals = new Set(op.refusals)
    if (route.scope !== undefined) for (const status of [401, 403, 429]) refusals.add(status)
    for (const status of [...refusals].sort((a, b) => a - b))
      responses[String(status)] = { description: REFUSALS[status] ?? 'refused', content: json(ref('Error')) }
    responses.default = { description: 'any other refusal (405 with Allow, 408, 500 with a generic text), in the same shape', content: json(ref('Error')) }
    const security =
      route.path === '/metrics'
        ? options.metricsKey
          ? [{ metricsKey: [] }]
          : []
        : route.scope === undefined
          ? []
          : [{ bearer: [] }, { apiKey: [] }, ...(route.path === '/api/stream' ? [{ streamToken: [] }] : []), ...(options.open ? [{}] : [])]
    const path = openApiPath(route.path)
    paths[path] ??= {}
    ;(paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = {
      operationId: operationId(route),
      summary: route.description,
      ...(route.scope === undefined ? {} : { description: `Needs a key with the ${route.scope} scope${options.open ? ' (this server has no keys: anyone may call it)' : ''}.` }),
      ...(op.parameters === undefined ? {} : { parameters: op.parameters }),
      ...(op.requestBody === undefined ? {} : { requestBody: op.requestBody }),
      security,
      responses,
    }
  }
  for (const [path, item] of Object.entries(paths))
    item.options = {
      operationId: `${operationId({ method: 'OPTIONS', path })}`,
      summary: 'The methods allowed, or a CORS preflight (with Access-Control-Request-Method)',
      security: [],
      responses: {
        200: { description: 'The methods allowed, also in Allow', content: json(ref('Allow'), { success: true, allow: ['GET', 'HEAD', 'OPTIONS'] }) },
        204: { description: 'A CORS preflight allowed' },
        403: { description: 'A preflight from an origin not in CORS_ORIGINS', content: json(ref('Error')) },
        default: { description: 'refused', content: json(ref('Error')) },
      },
    }
  paths['/'] = {
    get: {
      operationId: 'tester',
      summary: 'The browser tester',
      security: [],
      responses: { 200: { description: 'The tester page', content: { 'text/html': { schema: { type: 'string' } } } }, default: { description: 'refused', content: json(ref('Error')) } },
    },
  }
  paths['/admin'] = {
    get: {
      operationId: 'dashboard',
      summary: 'The admin dashboard: a page that signs in with an admin key (it holds no secret itself)',
      security: [],
      responses: { 200: { description: 'The dashboard page', content: { 'text/html': { schema: { type: 'string' } } } }, default: { description: 'refused', content: json(ref('Error')) } },
    },
  }
  paths['/{file}'] = {
    get: {
      operationId: 'testerFile',
      summary: "The tester's and the dashboard's other files (app.js, admin.js, style.css, admin.css)",
      security: [],
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
      responses: {
        200: { description: 'The file', content: { '*/*': { schema: { type: 'string' } } } },
        404: { description: 'no such file', content: json(ref('Error')) },
        default: { description: 'refused', content: json(ref('Error')) },
      },
    },
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Roblox Messaging Server',
      version: options.version,
      description:
        'Messages for Roblox games: game servers send over HttpService, game servers, pages and bots read back, with history, cursors, long polls and a live stream. ' +
        'Every answer but the stream, the metrics and the tester is JSON; every refusal is { "success": false, "error": "…" } with a fitting status. ' +
        'HEAD is answered as GET without a body (never held); OPTIONS answers the allowed methods. Every answer carries X-Request-Id.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    paths,
    components: { schemas: SCHEMAS, securitySchemes: SECURITY_SCHEMES },
  }
}

/** `GET /api/messages/:player_name` as `getApiMessagesPlayerName`: unique per method and path. */
const operationId = (route: { readonly method: string; readonly path: string }): string =>
  route.method.toLowerCase() +
  route.path
    .split(/[/._:{}-]+/)
    .filter((part) => part !== '')
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('')
