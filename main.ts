#!/usr/bin/env node
import * as E from 'fp-ts/Either'
import { readCommandLine } from './composition/command-line'
import { readConfig } from './composition/config'
import { packageVersion, startServer } from './composition/start-server'

/**
 * The composition root for `npm start` and the package's command: read the
 * flags over the environment, build the adapters, listen, stop cleanly.
 */
const main = async (): Promise<void> => {
  const line = readCommandLine(process.argv.slice(2), process.env, packageVersion())
  if (line._tag === 'Exit') {
    process.stdout.write(line.stdout)
    process.stderr.write(line.stderr)
    process.exit(line.code)
  }
  const config = readConfig(line.settings, undefined, line.nameOf)
  if (E.isLeft(config)) {
    for (const problem of config.left) console.error(`configuration error: ${problem}`)
    console.error('(roblox-messaging-server --help lists every setting)')
    process.exit(2)
  }
  const running = await startServer(config.right)
  const { logger } = running
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, `${signal} received: shutting down`)
    const began = Date.now()
    running.close().then(
      () => {
        logger.info({ ms: Date.now() - began }, 'stopped')
        // pino writes what it still holds on the way out.
        process.exit(0)
      },
      (err: unknown) => {
        logger.error({ err }, 'error while closing')
        process.exit(1)
      },
    )
  }
  // SIGHUP reads AUTO_REPLY_RULES again; a file that does not parse keeps the rules in force.
  process.on('SIGHUP', () => {
    const reloaded = running.reloadReplyRules()
    if (E.isRight(reloaded)) logger.info({ signal: 'SIGHUP', rules: reloaded.right }, `SIGHUP received: ${reloaded.right} reply rule(s) in force`)
    else for (const problem of reloaded.left) logger.error({ signal: 'SIGHUP' }, `SIGHUP received: the reply rules were not reloaded, the old ones stay: ${problem}`)
  })
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err)
  process.exit(1)
})
