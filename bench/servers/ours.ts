import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { startServer } from '../../composition/start-server'
import { reportWhenListening } from './harness'

/** This project, composed exactly as `npm start` composes it, with the default configuration. */
const main = async () => {
  // The guarded variant (bench/clients.ts GUARDED) passes its keys and limits as BENCH_ variables, read here only.
  const guarded = Object.fromEntries(
    ['API_KEYS', 'PLAYER_RATE_LIMIT', 'CLIENT_RATE_LIMIT'].flatMap((name) => {
      const value = process.env[`BENCH_${name}`]
      return value === undefined ? [] : [[name, value]]
    }),
  )
  const config = readConfig({ PORT: process.env.PORT ?? '0', HOST: '127.0.0.1', ...guarded })
  if (E.isLeft(config)) throw new Error(config.left.join('; '))
  const running = await startServer(config.right)
  reportWhenListening(running.server, () => running.http.heldPolls() + running.http.openStreams())
}

void main()
