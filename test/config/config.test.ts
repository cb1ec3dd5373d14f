import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as E from 'fp-ts/Either'
import { DEFAULTS, effectiveConfig, readConfig, SETTINGS, type Config } from '../../composition/config'
import { startupWarnings } from '../../composition/start-server'

/*
 * The environment is decoded once at start-up; every bad value is refused
 * with a message that names its variable, all of them at once.
 */

const problemsOf = (env: NodeJS.ProcessEnv): ReadonlyArray<string> => {
  const read = readConfig(env)
  if (E.isRight(read)) throw new Error(`expected a refusal, got ${JSON.stringify(read.right)}`)
  return read.left
}
const configOf = (env: NodeJS.ProcessEnv): Config => {
  const read = readConfig(env)
  if (E.isLeft(read)) throw new Error(`expected a configuration, got ${read.left.join('; ')}`)
  return read.right
}

describe('configuration from the environment', () => {
  it('uses the seed defaults when nothing is set', () => {
    // `include`, not `equal`: variables added later keep their own defaults.
    expect(configOf({})).to.deep.include({
      PORT: 5000,
      HOST: '0.0.0.0',
      MAX_MESSAGES: 1000,
      MAX_MESSAGE_LENGTH: 1000,
      AUTO_REPLY: 'Hello {player}!',
      CORS_ORIGINS: '*',
      MAX_CHANNELS: 32,
      LONG_POLL_MAX_SECONDS: 25,
    })
    expect(configOf({})).to.deep.equal(DEFAULTS)
  })

  it('ignores variables it does not know', () => {
    expect(configOf({ PATH: '/usr/bin', NODE_ENV: 'production', port: 'abc' })).to.deep.equal(DEFAULTS)
  })

  it('reads every variable', () => {
    expect(
      configOf({
        PORT: '8080',
        HOST: '127.0.0.1',
        MAX_MESSAGES: '50',
        MAX_MESSAGE_LENGTH: '200',
        AUTO_REPLY: 'Hi {player}',
        CORS_ORIGINS: 'https://a.example, http://localhost:3000/',
        MAX_CHANNELS: '7',
        LONG_POLL_MAX_SECONDS: '60',
      }),
    ).to.deep.include({
      PORT: 8080,
      HOST: '127.0.0.1',
      MAX_MESSAGES: 50,
      MAX_MESSAGE_LENGTH: 200,
      AUTO_REPLY: 'Hi {player}',
      CORS_ORIGINS: ['https://a.example', 'http://localhost:3000'],
      MAX_CHANNELS: 7,
      LONG_POLL_MAX_SECONDS: 60,
    })
  })

  it('accepts PORT=0 (any free port) and PORT=65535', () => {
    expect(configOf({ PORT: '0' }).PORT).to.equal(0)
    expect(configOf({ PORT: '65535' }).PORT).to.equal(65535)
  })

  it('takes an empty AUTO_REPLY as "no replies"', () => {
    expect(configOf({ AUTO_REPLY: '' }).AUTO_REPLY).to.equal('')
  })

  it('takes CORS_ORIGINS=* as every origin', () => {
    expect(configOf({ CORS_ORIGINS: '*' }).CORS_ORIGINS).to.equal('*')
    expect(configOf({ CORS_ORIGINS: ' * ' }).CORS_ORIGINS).to.equal('*')
  })

  const BAD: ReadonlyArray<readonly [keyof Config, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', ''],
    ['PORT', '0x50'],
    ['HOST', ''],
    ['HOST', '   '],
    ['MAX_MESSAGES', '0'],
    ['MAX_MESSAGES', 'lots'],
    ['MAX_MESSAGES', '1e3'],
    ['MAX_MESSAGE_LENGTH', '-5'],
    ['MAX_MESSAGE_LENGTH', '0'],
    ['MAX_MESSAGE_LENGTH', '99999999999999999999'],
    ['CORS_ORIGINS', 'not-a-url'],
    ['CORS_ORIGINS', ''],
    ['CORS_ORIGINS', 'https://a.example/path'],
    ['CORS_ORIGINS', 'ftp://a.example'],
    ['CORS_ORIGINS', 'https://a.example,not-a-url'],
    ['LONG_POLL_MAX_SECONDS', 'x'],
    ['LONG_POLL_MAX_SECONDS', '0'],
    ['LONG_POLL_MAX_SECONDS', '3601'],
    ['MAX_CHANNELS', '0'],
    ['MAX_CHANNELS', 'many'],
    ['HEADERS_TIMEOUT_SECONDS', '0'],
    ['REQUEST_TIMEOUT_SECONDS', 'soon'],
    ['IDLE_TIMEOUT_SECONDS', '-1'],
    ['KEEP_ALIVE_TIMEOUT_SECONDS', '1.5'],
    ['MAX_LONG_POLLS', '0'],
    ['MAX_STREAMS', 'all'],
    ['MAX_STREAMS_PER_ADDRESS', '0'],
    ['STREAM_HEARTBEAT_SECONDS', '0'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_FORMAT', 'xml'],
    ['METRICS', 'maybe'],
  ]

  for (const [name, value] of BAD) {
    it(`refuses ${name}=${JSON.stringify(value)} with a message naming ${name} and the value`, () => {
      const problems = problemsOf({ [name]: value })
      expect(problems).to.have.length(1)
      const [problem] = problems
      expect(problem).to.match(new RegExp(`^${name}\\b`))
      expect(problem).to.include(JSON.stringify(value))
      // The message says what would be right.
      expect(problem).to.match(/must be/)
    })
  }

  it('states the range a number must fall in', () => {
    expect(problemsOf({ PORT: '70000' })[0]).to.match(/0 to 65535/)
    expect(problemsOf({ MAX_MESSAGES: '0' })[0]).to.match(/from 1\b/)
  })

  it('refuses a heartbeat that is not shorter than the idle timeout, naming both', () => {
    const [problem, ...rest] = problemsOf({ STREAM_HEARTBEAT_SECONDS: '30', IDLE_TIMEOUT_SECONDS: '30' })
    expect(rest).to.have.length(0)
    expect(problem).to.match(/^STREAM_HEARTBEAT_SECONDS must be less than IDLE_TIMEOUT_SECONDS \(30\), got 30/)
  })

  it('refuses a headers timeout longer than the request timeout, and a per-address stream cap over the total', () => {
    expect(problemsOf({ HEADERS_TIMEOUT_SECONDS: '40', REQUEST_TIMEOUT_SECONDS: '30' })[0]).to.match(/^HEADERS_TIMEOUT_SECONDS .*REQUEST_TIMEOUT_SECONDS/)
    expect(problemsOf({ MAX_STREAMS: '10', MAX_STREAMS_PER_ADDRESS: '11' })[0]).to.match(/^MAX_STREAMS_PER_ADDRESS .*MAX_STREAMS \(10\)/)
  })

  it('reports every bad variable at once, each by name', () => {
    const problems = problemsOf({ PORT: 'abc', MAX_MESSAGES: '0', CORS_ORIGINS: 'not-a-url', HOST: '127.0.0.1' })
    expect(problems).to.have.length(3)
    expect(problems.join('\n')).to.include('PORT').and.include('MAX_MESSAGES').and.include('CORS_ORIGINS').and.not.include('HOST')
  })
})

describe('configuration: keys, limits and the content policy', () => {
  const SECRET = 'abcdefghijklmnop0123456789'
  const files = (contents: Record<string, string>) => (path: string): string => {
    const text = contents[path]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
    return text
  }

  it('reads keys as key, label:key and label:key:channelA|channelB, labelling bare keys by position', () => {
    const config = configOf({ API_KEYS: `${SECRET}, game:${SECRET}x, bot:${SECRET}y:lobby|trade`, ADMIN_KEYS: `ops:${SECRET}z` })
    expect(config.API_KEYS).to.deep.equal([
      { label: 'key-1', secret: SECRET },
      { label: 'game', secret: `${SECRET}x` },
      { label: 'bot', secret: `${SECRET}y`, channels: ['lobby', 'trade'] },
    ])
    expect(config.ADMIN_KEYS).to.deep.equal([{ label: 'ops', secret: `${SECRET}z` }])
  })

  it('adds the keys of API_KEYS_FILE and ADMIN_KEYS_FILE, one per line, # for comments', () => {
    const read = readConfig(
      { API_KEYS: `game:${SECRET}`, API_KEYS_FILE: '/keys', ADMIN_KEYS_FILE: '/admin' },
      files({ '/keys': `# the game servers\nbot:${SECRET}b\n\n`, '/admin': `ops:${SECRET}o\n` }),
    )
    if (E.isLeft(read)) throw new Error(read.left.join())
    expect(read.right.API_KEYS.map((k) => k.label)).to.deep.equal(['game', 'bot'])
    expect(read.right.ADMIN_KEYS.map((k) => k.label)).to.deep.equal(['ops'])
  })

  it('names the variable of a file it cannot read', () => {
    const read = readConfig({ ADMIN_KEYS_FILE: '/missing', BLOCKED_WORDS_FILE: '/gone' }, files({}))
    expect(E.isLeft(read) && read.left).to.deep.equal([
      'ADMIN_KEYS_FILE must name a readable file, got "/missing" (ENOENT)',
      'BLOCKED_WORDS_FILE must name a readable file, got "/gone" (ENOENT)',
    ])
  })

  it('refuses weak, malformed, duplicated or doubly labelled keys without ever repeating a secret', () => {
    // Each case with the secret it holds, which no message may repeat.
    for (const [env, mentions, secret] of [
      [{ API_KEYS: 'game:short-secret' }, /API_KEYS: the key labelled game must be 16–256/, 'short-secret'],
      [{ API_KEYS: `a:b:c:${SECRET}` }, /API_KEYS: entry 1 has 3 colons/, SECRET],
      [{ API_KEYS: `bad label:${SECRET}` }, /API_KEYS: entry 1's label/, SECRET],
      [{ API_KEYS: `bot:${SECRET}:no spaces` }, /API_KEYS: the key labelled bot names channels/, SECRET],
      [{ API_KEYS: `a:${SECRET}`, ADMIN_KEYS: `b:${SECRET}` }, /the key labelled b is configured twice/, SECRET],
      [{ API_KEYS: `a:${SECRET}1,a:${SECRET}2` }, /the label a is used for two keys/, SECRET],
      [{ STREAM_TOKEN_SECRET: 'too-short-a-secret' }, /STREAM_TOKEN_SECRET must be at least 32 characters/, 'too-short-a-secret'],
    ] as const) {
      const problems = problemsOf(env).join('\n')
      expect(problems).to.match(mentions)
      expect(problems).not.to.include(secret)
    }
  })

  it('reads rate limits as requests per time, and off', () => {
    expect(configOf({}).PLAYER_RATE_LIMIT).to.equal(undefined)
    expect(configOf({ PLAYER_RATE_LIMIT: '5/10s' }).PLAYER_RATE_LIMIT).to.deep.equal({ limit: 5, windowMs: 10_000 })
    expect(configOf({ CLIENT_RATE_LIMIT: '600/1m' }).CLIENT_RATE_LIMIT).to.deep.equal({ limit: 600, windowMs: 60_000 })
    expect(configOf({ CLIENT_RATE_LIMIT: '1000 / h' }).CLIENT_RATE_LIMIT).to.deep.equal({ limit: 1000, windowMs: 3_600_000 })
    expect(configOf({ CLIENT_RATE_LIMIT: 'OFF' }).CLIENT_RATE_LIMIT).to.equal(undefined)
    for (const bad of ['5', '5/10', '0/10s', '5/0s', 'five/10s', '5/10d'])
      expect(problemsOf({ PLAYER_RATE_LIMIT: bad })[0]).to.match(/^PLAYER_RATE_LIMIT must be off, or requests per time/)
  })

  it('reads TRUST_PROXY as how many proxies to believe', () => {
    expect(configOf({}).TRUST_PROXY).to.equal(0)
    expect(configOf({ TRUST_PROXY: 'true' }).TRUST_PROXY).to.equal(1)
    expect(configOf({ TRUST_PROXY: '2' }).TRUST_PROXY).to.equal(2)
    expect(problemsOf({ TRUST_PROXY: 'yes' })[0]).to.match(/^TRUST_PROXY must be/)
  })

  it('reads blocked words from BLOCKED_WORDS and BLOCKED_WORDS_FILE', () => {
    const read = readConfig({ BLOCKED_WORDS: 'bad, worse', BLOCKED_WORDS_FILE: '/words' }, files({ '/words': '# more\nworst\n' }))
    expect(E.isRight(read) && read.right.BLOCKED_WORDS).to.deep.equal(['bad', 'worse', 'worst'])
  })
})

describe('configuration: outbound targets and removals', () => {
  it('lets a target ask for removal entries by type, and refuses them for a Discord target, naming the target and the field', () => {
    const hook = { name: 'takedowns', kind: 'http', url: 'https://example.com/hook', types: ['removal'] }
    expect(configOf({ WEBHOOKS: JSON.stringify([hook]) }).WEBHOOKS[0]?.types).to.deep.equal(['removal'])
    const discord = { name: 'chat', kind: 'discord', url: 'https://discord.com/api/webhooks/1/secret-token', types: ['player', 'removal'] }
    const problems = problemsOf({ WEBHOOKS: JSON.stringify([discord]) }).join('\n')
    expect(problems).to.include('WEBHOOKS: target 1 (chat): types may not include removal for a discord target')
    expect(problems).not.to.include('secret-token')
    expect(problemsOf({ WEBHOOKS: JSON.stringify([{ ...hook, types: ['deletion'] }]) }).join('\n')).to.include('types must be a non-empty list of message types (player, reply, removal)')
  })
})

describe('configuration: WEBHOOKS_FILE', () => {
  const files = (contents: Record<string, string>) => (path: string): string => {
    const text = contents[path]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
    return text
  }
  const hook = (name: string) => ({ name, kind: 'http', url: `https://example.com/${name}`, secret: 'whsec-file-secret-0123' })
  const refused = (env: NodeJS.ProcessEnv, contents: Record<string, string>): ReadonlyArray<string> => {
    const read = readConfig(env, files(contents))
    if (E.isRight(read)) throw new Error('expected a refusal')
    return read.left
  }

  it('adds the targets of the file after those of WEBHOOKS', () => {
    const read = readConfig({ WEBHOOKS: JSON.stringify([hook('inline')]), WEBHOOKS_FILE: '/etc/targets.json' }, files({ '/etc/targets.json': JSON.stringify([hook('from-file'), hook('another')]) }))
    if (E.isLeft(read)) throw new Error(read.left.join('; '))
    expect(read.right.WEBHOOKS.map((t) => t.name)).to.deep.equal(['inline', 'from-file', 'another'])
    expect(read.right.WEBHOOKS[1]).to.deep.include({ kind: 'http', url: 'https://example.com/from-file', secret: 'whsec-file-secret-0123' })
    const alone = readConfig({ WEBHOOKS_FILE: '/t' }, files({ '/t': JSON.stringify([hook('only')]) }))
    expect(E.isRight(alone) && alone.right.WEBHOOKS.map((t) => t.name)).to.deep.equal(['only'])
  })

  it('refuses a file that is not JSON, naming the variable and the file, never its text', () => {
    const problems = refused({ WEBHOOKS_FILE: '/etc/targets.json' }, { '/etc/targets.json': '[{"name":"x","secret":"whsec-leaked-0123",' })
    expect(problems).to.have.length(1)
    expect(problems[0]).to.match(/^WEBHOOKS_FILE \(\/etc\/targets\.json\) must be a JSON list of targets/)
    expect(problems[0]).to.not.include('whsec-leaked')
    expect(refused({ WEBHOOKS_FILE: '/t' }, { '/t': '{"name":"x"}' })).to.deep.equal(['WEBHOOKS_FILE (/t) must be a JSON list of targets (an array), got object'])
  })

  it('names the variable, the file, the target and the field of a bad target in the file', () => {
    const problems = refused({ WEBHOOKS_FILE: '/t' }, { '/t': JSON.stringify([hook('fine'), { name: 'bad', kind: 'http', url: 'ftp://x' }]) })
    expect(problems).to.deep.equal(['WEBHOOKS_FILE (/t): target 2 (bad): url must be an http:// or https:// URL'])
  })

  it('refuses a file that cannot be read, naming the variable and the file', () => {
    expect(refused({ WEBHOOKS_FILE: '/missing.json' }, {})).to.deep.equal(['WEBHOOKS_FILE must name a readable file, got "/missing.json" (ENOENT)'])
  })

  it('refuses a name used both in WEBHOOKS and in WEBHOOKS_FILE, and twice in the file', () => {
    const both = refused({ WEBHOOKS: JSON.stringify([hook('chat')]), WEBHOOKS_FILE: '/t' }, { '/t': JSON.stringify([hook('chat')]) })
    expect(both).to.deep.equal(["WEBHOOKS and WEBHOOKS_FILE both name a target chat; each target's name must be its own"])
    expect(refused({ WEBHOOKS_FILE: '/t' }, { '/t': JSON.stringify([hook('a'), hook('a')]) }).join('\n')).to.include('WEBHOOKS_FILE (/t): two targets are named a')
  })
})

describe('configuration: Roblox Open Cloud topics', () => {
  const live = (topicPrefix: string) => ({ name: 'live', kind: 'roblox', universe_id: '99', api_key: 'open-cloud-key-0123', topic_prefix: topicPrefix })
  it('refuses a topic_prefix that would make a topic longer than 80 characters, naming the variable, the target and the field, never the key', () => {
    // 48 and a channel name of 32 make 80, Open Cloud's longest topic.
    expect(configOf({ WEBHOOKS: JSON.stringify([live('p'.repeat(48))]) }).WEBHOOKS[0]).to.deep.include({ topicPrefix: 'p'.repeat(48) })
    const problems = problemsOf({ WEBHOOKS: JSON.stringify([live('p'.repeat(49))]) })
    expect(problems).to.deep.equal(['WEBHOOKS: target 1 (live): topic_prefix must be 0–48 of A–Z a–z 0–9 _ . : - (a topic is the prefix and the channel, 1–80 characters)'])
    expect(problems.join('\n')).to.not.include('open-cloud-key-0123')
    expect(problemsOf({ WEBHOOKS: JSON.stringify([live('chat/')]) }).join('\n')).to.include('WEBHOOKS: target 1 (live): topic_prefix must be')
  })
})

describe('configuration: the warnings at start-up', () => {
  it('warns loudly of an open server, naming the variables that close it, and of no limits', () => {
    const warnings = startupWarnings(configOf({})).join('\n')
    expect(warnings).to.match(/WARNING: no API_KEYS or ADMIN_KEYS/)
    expect(warnings).to.match(/PLAYER_RATE_LIMIT nor CLIENT_RATE_LIMIT/)
  })

  it('says nothing of keys once some are set, nor of limits once one is', () => {
    expect(startupWarnings(configOf({ ADMIN_KEYS: 'ops:abcdefghijklmnop0123456789' }))).to.deep.equal([])
    expect(startupWarnings(configOf({ PLAYER_RATE_LIMIT: '5/10s' })).join('\n')).not.to.match(/RATE_LIMIT/)
  })
})

describe('configuration: logs, metrics, and the start-up line', () => {
  it('reads LOG_LEVEL, LOG_FORMAT, METRICS and METRICS_KEY', () => {
    expect(configOf({})).to.deep.include({ LOG_LEVEL: 'info', LOG_FORMAT: 'json', METRICS: true, METRICS_KEY: undefined })
    expect(configOf({ LOG_LEVEL: 'DEBUG', LOG_FORMAT: 'pretty', METRICS: 'off', METRICS_KEY: 'metrics-key-0123456789' })).to.deep.include({
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      METRICS: false,
      METRICS_KEY: 'metrics-key-0123456789',
    })
    expect(configOf({ LOG_LEVEL: 'silent', METRICS: 'on' })).to.deep.include({ LOG_LEVEL: 'silent', METRICS: true })
  })

  it('refuses a weak METRICS_KEY without repeating it', () => {
    const [problem] = problemsOf({ METRICS_KEY: 'password' })
    expect(problem).to.match(/^METRICS_KEY must be 16–256/)
    expect(problem).not.to.include('password')
  })

  it('shows every setting at start-up with every secret masked', () => {
    const secret = 'abcdefghijklmnop0123456789'
    const config = configOf({
      API_KEYS: `game:${secret}1,bot:${secret}2:lobby|trade`,
      ADMIN_KEYS: `ops:${secret}3`,
      STREAM_TOKEN_SECRET: `${secret}${secret}`,
      METRICS_KEY: `${secret}4`,
      REDIS_URL: 'redis://user:hunter2hunter2@db.example:6380/1',
      BLOCKED_WORDS: 'badword,worse',
      PLAYER_RATE_LIMIT: '5/10s',
      AUTO_REPLY_MODEL_URL: 'https://modeluser:modelpass99@llm.example/v1/chat/completions?key=querykey77',
      AUTO_REPLY_MODEL: 'gpt-4o-mini',
    })
    const shown = effectiveConfig(config)
    expect(Object.keys(shown)).to.deep.equal([...SETTINGS])
    expect(shown).to.deep.include({
      API_KEYS: ['game', 'bot (lobby|trade)'],
      ADMIN_KEYS: ['ops'],
      STREAM_TOKEN_SECRET: '(set, not shown)',
      METRICS_KEY: '(set, not shown)',
      REDIS_URL: 'redis://user:***@db.example:6380/1',
      BLOCKED_WORDS: '(2 words, not shown)',
      PLAYER_RATE_LIMIT: '5/10s',
      PORT: '5000',
      AUTO_REPLY_MODEL_URL: 'https://llm.example/v1/chat/completions?***',
    })
    const text = JSON.stringify(shown)
    for (const hidden of [secret, 'hunter2', 'badword', 'modeluser', 'modelpass99', 'querykey77']) expect(text).not.to.include(hidden)
    expect(effectiveConfig(configOf({}))).to.deep.include({ STREAM_TOKEN_SECRET: '(random per process)', METRICS_KEY: '(none)', API_KEYS: [] })
  })
})

describe('configuration: the README says every setting', () => {
  it("lists every variable in the README's configuration table", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operating it'))
    const rows = table.split('\n').filter((line) => line.startsWith('| `'))
    for (const name of SETTINGS) expect(rows.some((row) => row.split('|')[1]?.includes(`\`${name}\``)), name).to.equal(true)
  })
})
