import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { DEFAULTS, readConfig, type Config } from '../../composition/config'

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
