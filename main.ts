#!/usr/bin/env node
import type { AddressInfo } from 'node:net'
import * as E from 'fp-ts/Either'
import { readConfig } from './adapters/config'
import { startServer } from './adapters/http/server'

/** The composition root for `npm start`: read the configuration, build the adapters, listen, stop cleanly. */
const main = async (): Promise<void> => {
  const config = readConfig(process.env)
  if (E.isLeft(config)) {
    for (const problem of config.left) console.error(`configuration error: ${problem}`)
    process.exit(2)
  }
  const running = await startServer(config.right)
  const { address, port } = running.server.address() as AddressInfo
  console.log(`roblox-messaging-server listening on http://${address.includes(':') ? `[${address}]` : address}:${port}`)
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
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err)
  process.exit(1)
})
