import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import * as O from 'fp-ts/Option'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import { channelName, channelOrDefault, codePointLength, messageText, playerKey, playerName, senderName, type PlayerName } from '../../domain/message'

describe('domain: value types', () => {
  it('accepts and trims a player name', () => {
    expect(playerName('  Builderman ')).to.deep.equal(E.right('Builderman'))
    expect(playerName('Zoë Å')).to.deep.equal(E.right('Zoë Å'))
  })

  it('refuses blank, over-long and control-character names, naming the field', () => {
    expect(playerName(' \t ')).to.deep.equal(E.left({ _tag: 'Blank', field: 'player_name' }))
    expect(playerName('x'.repeat(50))._tag).to.equal('Right')
    expect(playerName('x'.repeat(51))).to.deep.equal(E.left({ _tag: 'TooLong', field: 'player_name', max: 50 }))
    expect(playerName('😀'.repeat(50))._tag).to.equal('Right')
    for (const bad of ['a\u0000b', 'a\nb', 'a\u001bb', 'a\u007fb'])
      expect(playerName(bad)).to.deep.equal(E.left({ _tag: 'ControlCharacters', field: 'player_name' }))
  })

  it('keeps message text verbatim and counts characters, not UTF-16 units', () => {
    const text = messageText(5)
    expect(text(' <b>x</b> ')).to.deep.equal(E.left({ _tag: 'TooLong', field: 'message', max: 5 }))
    expect(text(' <b> ')).to.deep.equal(E.right(' <b> '))
    expect(text('😀😀😀😀😀')._tag).to.equal('Right')
    expect(text('😀😀😀😀😀😀')._tag).to.equal('Left')
    expect(text('\n \u00a0')).to.deep.equal(E.left({ _tag: 'Blank', field: 'message' }))
    expect(codePointLength('a😀b')).to.equal(3)
  })

  it('accepts channel names of 1–32 letters, digits, _ and -', () => {
    expect(channelName('Team_Red-2')).to.deep.equal(E.right('Team_Red-2'))
    expect(channelName('')._tag).to.equal('Left')
    expect(channelName('x'.repeat(33))).to.deep.equal(E.left({ _tag: 'TooLong', field: 'channel', max: 32 }))
    expect(channelName('no spaces')).to.deep.include({ _tag: 'Left' })
    expect(channelOrDefault(undefined)).to.deep.equal(E.right('global'))
  })

  it('keys players case-insensitively', () => {
    expect(playerKey('BuilderMan')).to.equal(playerKey('builderman'))
  })
})

describe('domain: auto-reply', () => {
  it('fills {player} in the template, every time it appears', () => {
    expect(autoReplyFromTemplate('Hello {player}!')('Bob' as PlayerName)).to.deep.equal(O.some('Hello Bob!'))
    expect(autoReplyFromTemplate('{player}, {player}')('Al' as PlayerName)).to.deep.equal(O.some('Al, Al'))
  })

  it('is off for an empty template', () => {
    expect(autoReplyFromTemplate('')('Bob' as PlayerName)).to.deep.equal(O.none)
    expect(autoReplyFromTemplate('  ')('Bob' as PlayerName)).to.deep.equal(O.none)
  })
})

describe('domain: sender names', () => {
  it('keeps the server name for automatic replies, in any case', () => {
    expect(senderName('Server')).to.deep.equal(E.left({ _tag: 'Reserved', field: 'player_name', value: 'Server' }))
    expect(senderName(' sERVER ')).to.deep.equal(E.left({ _tag: 'Reserved', field: 'player_name', value: 'sERVER' }))
    expect(senderName('Servers')).to.deep.equal(E.right('Servers'))
  })
})
