import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { startServer } from '../../composition/start-server'
import { reportWhenListening } from './harness'

/** This project, composed exactly as `npm start` composes it, with the default configuration. */
const main = async () => {
  // The guarded variant (bench/clients.ts GUARDED) passes its keys and limits as BENCH_ variables, the quiet one (QUIET)
  // its log level and metrics, and the variants on Redis their store, read here only: a STORE set in the shell that runs
  // the bench reaches no server under test.
  const passed = Object.fromEntries(
    ['API_KEYS', 'PLAYER_RATE_LIMIT', 'CLIENT_RATE_LIMIT', 'STORE', 'REDIS_URL', 'REDIS_PREFIX', 'LOG_LEVEL', 'METRICS'].flatMap((name) => {
      const value = process.env[`BENCH_${name}`]
      return value === undefined ? [] : [[name, value]]
    }),
  )
  const config = readConfig({ PORT: process.env.PORT ?? '0', HOST: '127.0.0.1', ...passed })
  if (E.isLeft(config)) throw new Error(config.left.join('; '))
  const running = await startServer(config.right)
  // On Redis the store connects in the background: the port is reported once it answers, so that nothing timed meets a 503.
  const deadline = Date.now() + 10_000
  while (!running.ports.status().available) {
    if (Date.now() > deadline) throw new Error(`the store (${config.right.STORE}) did not become available within 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  reportWhenListening(running.server, () => running.http.heldPolls() + running.http.openStreams())
}

void main()
