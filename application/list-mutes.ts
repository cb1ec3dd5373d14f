import type * as TE from 'fp-ts/TaskEither'
import type { Clock } from '../domain/clock'
import type { StoreUnavailable } from '../domain/message-repository'
import type { Mute, Mutes } from '../domain/mutes'

/** The mutes in force now, the soonest to end first. */
export const listMutes = (deps: { readonly mutes: Pick<Mutes, 'inForce'>; readonly clock: Clock }) =>
  (): TE.TaskEither<StoreUnavailable, ReadonlyArray<Mute>> =>
    deps.mutes.inForce(deps.clock.now())
