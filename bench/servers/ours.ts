import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { startServer } from '../../composition/start-server'
import { reportWhenListening } from './harness'

/** This project, composed exactly as `npm start` composes it, with the default configuration. */
const main = async () => {
  const config = readConfig({ PORT: process.env.PORT ?? '0', HOST: '127.0.0.1' })
  if (E.isLeft(config)) throw new Error(config.left.join('; '))
  const running = await startServer(config.right)
  reportWhenListening(running.server, () => running.http.heldPolls() + running.http.openStreams())
}

void main()
