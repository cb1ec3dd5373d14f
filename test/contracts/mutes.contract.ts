import { expect } from 'chai'
import type { PlayerName } from '../../domain/message'
import type { Mute, Mutes } from '../../domain/mutes'
import { run } from './message-repository.contract'

/**
 * Mutes as a test gets them. A store shared by processes gives `peer`, the
 * handle another process would have, and one that hears of changes over a
 * connection gives `disrupt`, which drops that connection and resolves once
 * it is back.
 */
export type MutesUnderTest = {
  readonly mutes: Mutes
  readonly peer?: Mutes
  readonly disrupt?: () => Promise<void>
  readonly close: () => Promise<void>
}
export type MutesFactory = () => Promise<MutesUnderTest>

/** How long a process may take to hear of a mute another made. */
const HEARD_MS = 5_000

/** Asks again every few milliseconds until `check` holds, failing after HEARD_MS: another process hears when it hears. */
const heard = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  const deadline = Date.now() + HEARD_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${HEARD_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A store shared by processes runs the cross-process test; one that hears over a connection that can drop runs the loss test. */
export type MutesKind = { readonly sharedByProcesses: boolean; readonly canLose: boolean }

const NOW = 1_700_000_000_000
const MINUTE = 60_000

const mute = (playerName: string, more: Partial<Mute> = {}): Mute => ({
  playerName: playerName as PlayerName,
  reason: 'spamming the lobby',
  since: NOW,
  until: NOW + 10 * MINUTE,
  by: 'moderator',
  ...more,
})

/**
 * What every Mutes adapter must do (domain/mutes.ts). Time is the `now`
 * each call is given: nothing here sleeps for a mute to end.
 */
export const mutesContract = (adapter: string, factory: MutesFactory, kind: MutesKind): void => {
  describe(`Mutes contract: ${adapter}`, () => {
    let opened: MutesUnderTest
    let mutes: Mutes
    beforeEach(async () => {
      opened = await factory()
      mutes = opened.mutes
    })
    afterEach(async () => {
      await opened.close()
    })
    const find = (playerName: string, userId?: number, now = NOW + MINUTE) => run(mutes.find({ playerName, ...(userId === undefined ? {} : { userId }) }, now))

    it('finds a mute by the name in any case, at once, and nobody else', async () => {
      expect(await find('Builderman')).to.equal(undefined)
      const muted = mute('Builderman')
      await run(mutes.put(muted))
      expect(mutes.noneInForce(), 'a send may not skip the check once a mute is put').to.equal(false)
      expect(await find('builderMAN')).to.deep.equal(muted)
      expect(await find('Builderman', 42), 'a send with a user id, under the muted name').to.deep.equal(muted)
      expect(await find('Buildermann')).to.equal(undefined)
      expect(await find('Other', 42)).to.equal(undefined)
    })

    it('finds a mute under any spelling that reads as the name: composed or decomposed, fullwidth, look-alike letters of other scripts', async () => {
      const muted = mute('Zoë')
      await run(mutes.put(muted))
      for (const spelling of ['Zoe\u0308', 'ZOË', '\uff3a\uff4f\u00eb', 'Z\u043e\u00eb', 'Zoe'])
        expect(await find(spelling), JSON.stringify(spelling)).to.deep.equal(muted)
      expect(await find('Zoey')).to.equal(undefined)
      expect(await run(mutes.lift('ZO\u0415\u0308', NOW + MINUTE)), 'lifted by a look-alike spelling, as it was matched by one').to.deep.equal(muted)
      expect(await find('Zoë')).to.equal(undefined)
    })

    it('keeps one mute for names that read the same: a second replaces the first', async () => {
      await run(mutes.put(mute('Zoë')))
      const again = mute('Z\u043e\u0435\u0308', { reason: 'again', since: NOW + 1 })
      await run(mutes.put(again))
      expect(await run(mutes.inForce(NOW + 1))).to.deep.equal([again])
      expect(await find('zoe')).to.deep.equal(again)
    })

    it('finds a mute with a user id by that id under any name, and only when the send has it', async () => {
      const muted = mute('OldName', { userId: 156 })
      await run(mutes.put(muted))
      expect(await find('NewName', 156)).to.deep.equal(muted)
      expect(await find('NewName')).to.equal(undefined)
      expect(await find('NewName', 1560)).to.equal(undefined)
      expect(await find('oldname')).to.deep.equal(muted)
    })

    it('holds until its end and not a moment after, by the time it is asked at', async () => {
      const muted = mute('Bob', { userId: 9, until: NOW + MINUTE })
      await run(mutes.put(muted))
      expect(await find('Bob', undefined, NOW + MINUTE - 1)).to.deep.equal(muted)
      expect(await find('Bob', undefined, NOW + MINUTE)).to.equal(undefined)
      expect(await find('Other', 9, NOW + MINUTE)).to.equal(undefined)
      expect(await run(mutes.inForce(NOW + MINUTE - 1))).to.deep.equal([muted])
      expect(await run(mutes.inForce(NOW + MINUTE))).to.deep.equal([])
    })

    it('replaces the mute of a name, in any case, with a new one', async () => {
      await run(mutes.put(mute('Bob', { userId: 9 })))
      const again = mute('BOB', { reason: 'still spamming', until: NOW + 60 * MINUTE, since: NOW + 1 })
      await run(mutes.put(again))
      expect(await find('bob')).to.deep.equal(again)
      expect(await find('Someone', 9), 'the user id of the mute replaced').to.equal(undefined)
      expect(await run(mutes.inForce(NOW + 1))).to.deep.equal([again])
    })

    it('answers with the mute ending last when a name and a user id both hold', async () => {
      const byName = mute('Bob', { until: NOW + 5 * MINUTE })
      const byId = mute('Robert', { userId: 9, until: NOW + 50 * MINUTE })
      await run(mutes.put(byName))
      await run(mutes.put(byId))
      expect(await find('Bob', 9)).to.deep.equal(byId)
      expect(await find('Bob')).to.deep.equal(byName)
    })

    it('lifts a mute by name in any case, answering what it lifted, at once; lifting none answers none', async () => {
      const muted = mute('Bob', { userId: 9 })
      await run(mutes.put(muted))
      expect(await run(mutes.lift('bOB', NOW + MINUTE))).to.deep.equal(muted)
      expect(await find('Bob')).to.equal(undefined)
      expect(await find('Anyone', 9)).to.equal(undefined)
      expect(await run(mutes.lift('Bob', NOW + MINUTE))).to.equal(undefined)
      await run(mutes.put(mute('Cat', { until: NOW + MINUTE })))
      expect(await run(mutes.lift('Cat', NOW + 2 * MINUTE)), 'a mute that had ended').to.equal(undefined)
    })

    it('says none is in force once the last is lifted (a hint a send may skip the check by), and never while one holds', async () => {
      await run(mutes.put(mute('Bob')))
      await run(mutes.put(mute('Cat')))
      await run(mutes.lift('Bob', NOW))
      expect(mutes.noneInForce(), 'Cat is still muted').to.equal(false)
      expect(await find('Cat', undefined, NOW)).not.to.equal(undefined)
      await run(mutes.lift('Cat', NOW))
      await heard(async () => mutes.noneInForce(), 'the handle to know that nobody is muted')
    })

    it('lists the mutes in force, the soonest to end first', async () => {
      const later = mute('Later', { until: NOW + 30 * MINUTE })
      const sooner = mute('Sooner', { userId: 3, until: NOW + 3 * MINUTE })
      const over = mute('Over', { until: NOW + MINUTE })
      for (const m of [later, over, sooner]) await run(mutes.put(m))
      expect(await run(mutes.inForce(NOW + 2 * MINUTE))).to.deep.equal([sooner, later])
    })

    it('keeps a reason of any text as given', async () => {
      const odd = mute('Zoë Å', { reason: 'said "x"\n\tthen\u2028more 😀', userId: Number.MAX_SAFE_INTEGER })
      await run(mutes.put(odd))
      expect(await find('ZOË å')).to.deep.equal(odd)
      expect(await run(mutes.inForce(NOW))).to.deep.equal([odd])
    })

    if (kind.sharedByProcesses)
    it('tells another process of a mute and of its lifting', async () => {
      const peer = opened.peer
      if (peer === undefined) throw new Error(`${adapter} says it is shared by processes but its factory gives no peer`)
      // Warm: the peer has read what holds (none) before the change.
      expect(await run(peer.find({ playerName: 'Bob' }, NOW))).to.equal(undefined)
      const muted = mute('Bob', { userId: 9 })
      await run(mutes.put(muted))
      expect(await run(peer.inForce(NOW)), 'a listing reads what is stored').to.deep.equal([muted])
      await heard(async () => (await run(peer.find({ playerName: 'x', userId: 9 }, NOW))) !== undefined, 'the peer to find the mute')
      expect(peer.noneInForce(), 'once the peer finds it, it never says none is in force').to.equal(false)
      await run(mutes.lift('Bob', NOW))
      await heard(async () => (await run(peer.find({ playerName: 'Bob' }, NOW))) === undefined, 'the peer to hear it was lifted')
    })

    if (kind.canLose)
    it('finds what was muted elsewhere while its connection was down, once it is back', async () => {
      const { peer, disrupt } = opened
      if (peer === undefined || disrupt === undefined) throw new Error(`${adapter} says it can lose what it hears but its factory gives no peer and disrupt`)
      expect(await run(mutes.find({ playerName: 'Bob' }, NOW))).to.equal(undefined)
      const back = disrupt()
      await run(peer.put(mute('Bob')))
      await back
      await heard(async () => (await run(mutes.find({ playerName: 'Bob' }, NOW))) !== undefined, 'the mute made while the connection was down')
      expect(mutes.noneInForce()).to.equal(false)
    })
  })
}
