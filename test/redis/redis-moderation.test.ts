import { randomBytes } from 'node:crypto'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { createRedisAuditLog } from '../../adapters/redis/redis-audit-log'
import { createRedisMutes, type RedisMutes } from '../../adapters/redis/redis-mutes'
import { auditLogContract } from '../contracts/audit-log.contract'
import { mutesContract } from '../contracts/mutes.contract'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

/** A key prefix no other test (nor an earlier run on the same Redis) has used. */
const freshPrefix = (): string => `t-${randomBytes(6).toString('hex')}`

describe('redis moderation: mutes and the audit log', function () {
  let redis: TestRedis | undefined
  const connections: RedisConnection[] = []
  const connect = async (): Promise<RedisConnection> => {
    const connection = connectRedis({ url: (redis as TestRedis).url })
    await connection.whenReady(5_000)
    connections.push(connection)
    return connection
  }

  before(async function () {
    requireRedis.call(this)
    redis = await startRedis()
  })
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((c) => c.close()))
  })
  after(async () => {
    await redis?.close()
  })

  mutesContract(
    'redis',
    async () => {
      const prefix = freshPrefix()
      // Two processes, each on connections of its own.
      const [here, there] = [await connect(), await connect()]
      const opened: RedisMutes[] = [createRedisMutes({ connection: here, prefix }), createRedisMutes({ connection: there, prefix })]
      return {
        mutes: opened[0] as RedisMutes,
        peer: opened[1] as RedisMutes,
        // Drops this process's subscriber connection; resolved once node-redis has it back and subscribed again.
        disrupt: async () => {
          const back = new Promise<void>((resolve) => here.subscriber.once('ready', () => resolve()))
          const id = Number(await here.subscriber.sendCommand(['CLIENT', 'ID']))
          await here.client.sendCommand(['CLIENT', 'KILL', 'ID', String(id)])
          await back
        },
        close: async () => {
          for (const mutes of opened) await mutes.close()
        },
      }
    },
    { sharedByProcesses: true, canLose: true },
  )

  auditLogContract(
    'redis',
    async ({ maxEntries }) => {
      const prefix = freshPrefix()
      const [here, there] = [await connect(), await connect()]
      return { log: createRedisAuditLog({ connection: here, prefix, maxEntries }), peer: createRedisAuditLog({ connection: there, prefix, maxEntries }), close: async () => undefined }
    },
    { sharedByProcesses: true },
  )
})
