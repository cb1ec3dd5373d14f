import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import * as O from 'fp-ts/Option'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import { muteKey } from '../../domain/mutes'
import {
  channelList,
  channelName,
  channelOrDefault,
  CHANNELS_PER_READ_MAX,
  codePointLength,
  messageText,
  nameSkeleton,
  playerKey,
  playerName,
  senderName,
  type PlayerName,
} from '../../domain/message'
import { IMPERSONATIONS, INVISIBLE_NAMES, LEGIT_NAMES } from '../support/names'

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

  it('takes 1 to CHANNELS_PER_READ_MAX channel names for a read, each once, sorted, and says which entry is wrong', () => {
    expect(channelList(['lobby', 'global', 'lobby', 'Team_Red-2'])).to.deep.equal(E.right(['Team_Red-2', 'global', 'lobby']))
    expect(channelList(['global'])).to.deep.equal(E.right(['global']))
    const most = Array.from({ length: CHANNELS_PER_READ_MAX }, (_, i) => `c${i}`)
    expect(channelList(most)._tag).to.equal('Right')
    expect(channelList([...most, 'one-more'])).to.deep.equal(E.left({ _tag: 'TooMany', field: 'channels', max: CHANNELS_PER_READ_MAX }))
    expect(channelList([])).to.deep.equal(E.left({ _tag: 'Blank', field: 'channels' }))
    expect(channelList(['lobby', 'no spaces'])).to.deep.equal(
      E.left({ _tag: 'InvalidEntry', field: 'channels', entry: 'no spaces', problem: { _tag: 'BadCharacters', field: 'channel', allowed: 'A-Z a-z 0-9 _ -' } }),
    )
    expect(channelList(['lobby', ''])).to.deep.equal(E.left({ _tag: 'InvalidEntry', field: 'channels', entry: '', problem: { _tag: 'Blank', field: 'channel' } }))
  })

  it('keys players case-insensitively', () => {
    expect(playerKey('BuilderMan')).to.equal(playerKey('builderman'))
    expect(playerKey('Zoe\u0308'), 'canonically equivalent spellings are one name').to.equal(playerKey('ZOË'))
    expect(playerKey('Z\u043e\u00eb'), 'a look-alike is another name').not.to.equal(playerKey('Zoë'))
  })
})

describe('domain: mute keys', () => {
  it('are the skeleton of a name, and for printable ASCII its lower case, which is its skeleton', () => {
    for (let c = 0x20; c < 0x7f; c++) {
      const ch = String.fromCharCode(c)
      expect(nameSkeleton(`A${ch}z`), JSON.stringify(ch)).to.equal(`a${ch}z`.toLowerCase())
      expect(muteKey(`A${ch}z`)).to.equal(nameSkeleton(`A${ch}z`))
    }
    expect(muteKey('\uff3a\uff4f\u00eb')).to.equal(muteKey('zoe'))
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

describe('domain: names that cannot pass for the server', () => {
  const tagOf = (e: E.Either<{ _tag: string }, unknown>) => (E.isLeft(e) ? e.left._tag : 'accepted')

  for (const [label, name, tag] of IMPERSONATIONS) {
    it(`refuses ${label} as ${tag}`, () => {
      expect(tagOf(senderName(name)), JSON.stringify(name)).to.equal(tag)
    })
  }

  it('refuses look-alikes as Reserved, keeping the name as given (trimmed) in the error', () => {
    expect(senderName(' Ѕеrvеr ')).to.deep.equal(E.left({ _tag: 'Reserved', field: 'player_name', value: 'Ѕеrvеr' }))
    expect(senderName('Ｓｅｒｖｅｒ')).to.deep.equal(E.left({ _tag: 'Reserved', field: 'player_name', value: 'Ｓｅｒｖｅｒ' }))
  })

  it('reduces a name to the skeleton it reads as', () => {
    for (const name of ['Server', 'sErVeR', 'Ѕеrvеr', 'Ｓｅｒｖｅｒ', 'Serνer', 'ꜱᴇʀᴠᴇʀ', '𝐒𝐞𝐫𝐯𝐞𝐫', 'Ⓢⓔⓡⓥⓔⓡ', 'Šérvêr', 'Ꮪerver', 'Serve\u0301r'])
      expect(nameSkeleton(name), name).to.equal('server')
    expect(nameSkeleton('Zoë')).to.equal('zoe')
    expect(nameSkeleton('小明')).to.equal('小明')
  })

  for (const name of LEGIT_NAMES) {
    it(`accepts ${JSON.stringify(name)} and stores it exactly as given`, () => {
      expect(senderName(name)).to.deep.equal(E.right(name))
      expect(senderName(` ${name}\t`)).to.deep.equal(E.right(name))
    })
  }

  it('accepts names that merely contain the word server: they do not read as the server\'s name', () => {
    for (const name of ['Servant', 'Observer', 'server_bot', 'Servers', 'TheServer', 'Server2', 'Ser ver', 'Serveur'])
      expect(senderName(name), name).to.deep.equal(E.right(name))
  })

  it('lets a reader ask for Server by name (the replies are stored under it); only sending as it is refused', () => {
    expect(playerName('Server')).to.deep.equal(E.right('Server'))
  })
})

describe('domain: names must show as what they are', () => {
  for (const [label, name] of INVISIBLE_NAMES) {
    it(`refuses ${label} as InvisibleCharacters, for sending and for reading`, () => {
      const refusal = E.left({ _tag: 'InvisibleCharacters', field: 'player_name' })
      expect(playerName(name), JSON.stringify(name)).to.deep.equal(refusal)
      expect(senderName(name), JSON.stringify(name)).to.deep.equal(refusal)
    })
  }

  it('refuses private-use and unassigned code points (Roblox fonts draw private-use ones as badges)', () => {
    for (const name of ['Bob\ue000', 'Bob\u{F0000}', 'Bob\u{10FFFF}', 'Bob\uffff', 'Bob\u0378'])
      expect(playerName(name), JSON.stringify(name)).to.deep.equal(E.left({ _tag: 'UnassignedCharacters', field: 'player_name' }))
  })

  it('refuses a lone surrogate as MalformedText, high or low, anywhere', () => {
    for (const name of ['Bob\ud800', '\udc00Bob', 'B\ud83dob', 'Bob\ude00'])
      expect(playerName(name), JSON.stringify(name)).to.deep.equal(E.left({ _tag: 'MalformedText', field: 'player_name' }))
    expect(playerName('Bob😀')).to.deep.equal(E.right('Bob😀'))
  })

  it('refuses more than 4 combining marks in a row (zalgo), accepts up to 4', () => {
    const marks = (n: number) => '\u0301\u0302\u0303\u0304\u0305\u0306'.slice(0, n)
    expect(playerName(`Bo${marks(4)}b`)).to.deep.equal(E.right(`Bo${marks(4)}b`))
    expect(playerName(`Bo${marks(5)}b`)).to.deep.equal(E.left({ _tag: 'TooManyCombiningMarks', field: 'player_name', max: 4 }))
    expect(playerName('Zalgo'.split('').map((c) => c + marks(6)).join('')))
      .to.deep.include({ _tag: 'Left' })
    // Decomposed accents are fine: e + U+0308 is ë.
    expect(playerName('Zoe\u0308')).to.deep.equal(E.right('Zoe\u0308'))
  })

  it('still refuses control characters first, and over-long names by their length', () => {
    expect(playerName('Bo\u0000\u200bb')).to.deep.equal(E.left({ _tag: 'ControlCharacters', field: 'player_name' }))
    expect(playerName('Bo\u0085b')).to.deep.equal(E.left({ _tag: 'ControlCharacters', field: 'player_name' }))
    expect(playerName('é'.repeat(51))).to.deep.equal(E.left({ _tag: 'TooLong', field: 'player_name', max: 50 }))
  })

  it('treats names made only of invisible characters as invisible, and trims what JavaScript trims (BOM, NBSP, line separators)', () => {
    expect(playerName('\u200b\u200b')).to.deep.equal(E.left({ _tag: 'InvisibleCharacters', field: 'player_name' }))
    expect(playerName('\ufeff\u00a0\u2028')).to.deep.equal(E.left({ _tag: 'Blank', field: 'player_name' }))
    expect(senderName('\ufeffServer\u2028')).to.deep.equal(E.left({ _tag: 'Reserved', field: 'player_name', value: 'Server' }))
  })
})

describe('domain: message text', () => {
  const text = messageText(1000)

  it('refuses text made only of invisible characters as Blank', () => {
    for (const blank of ['\u200b', '\u200b\u2060\u00ad', ' \u3164 ', '\u2800\u2800', '\u115f\u1160\uffa0', '\u2028\u2029', '\ufe0f', '\u202e \u202c', '\t\r\n', '\ufeff'])
      expect(text(blank), JSON.stringify(blank)).to.deep.equal(E.left({ _tag: 'Blank', field: 'message' }))
  })

  it('refuses C0 and C1 control characters but tab, line feed and carriage return', () => {
    for (const bad of ['a\u0000b', 'a\u0007', '\u001b[31mred', 'a\u000bb', 'a\u000cb', 'a\u007fb', 'a\u0085b', 'a\u009fb', '\u0000'])
      expect(text(bad), JSON.stringify(bad)).to.deep.equal(E.left({ _tag: 'ControlCharacters', field: 'message' }))
    expect(text('line one\r\nline\ttwo\n')).to.deep.equal(E.right('line one\r\nline\ttwo\n'))
  })

  it('refuses a lone surrogate as MalformedText', () => {
    for (const bad of ['\ud800', 'hi \udc00', 'a\ud83d', '\ude00b'])
      expect(text(bad), JSON.stringify(bad)).to.deep.equal(E.left({ _tag: 'MalformedText', field: 'message' }))
  })

  it('keeps visible text verbatim, invisible characters inside it included (emoji sequences, right-to-left text, marks)', () => {
    for (const ok of ['👨\u200d👩\u200d👧', '❤\ufe0f', 'שלום \u202bworld\u202c', 'Zalgo\u0301\u0302\u0303\u0304\u0305\u0306', '\ufeffhi', 'a\u200bb', '\ue002 100'])
      expect(text(ok), JSON.stringify(ok)).to.deep.equal(E.right(ok))
  })
})
