#!/usr/bin/env node
import * as E from 'fp-ts/Either'
import { readConfig } from './composition/config'
import { startServer, startupWarnings } from './composition/start-server'

/** The composition root for `npm start`: read the configuration, build the adapters, listen, stop cleanly. */
const main = async (): Promise<void> => {
  const config = readConfig(process.env)
  if (E.isLeft(config)) {
    for (const problem of config.left) console.error(`configuration error: ${problem}`)
    process.exit(2)
  }
  for (const warning of startupWarnings(config.right)) console.warn(warning)
  const running = await startServer(config.right)
  console.log(`roblox-messaging-server listening on ${running.url}`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`${signal} received: closing`)
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('error while closing', err)
        process.exit(1)
      },
    )
  }
  // SIGHUP reads AUTO_REPLY_RULES again; a file that does not parse keeps the rules in force.
  process.on('SIGHUP', () => {
    const reloaded = running.reloadReplyRules()
    if (E.isRight(reloaded)) console.log(`SIGHUP received: ${reloaded.right} reply rule(s) in force`)
    else for (const problem of reloaded.left) console.error(`SIGHUP received: the reply rules were not reloaded, the old ones stay: ${problem}`)
  })
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err)
  process.exit(1)
})
