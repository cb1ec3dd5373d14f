import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { DEFAULTS, SETTINGS } from '../../composition/config'

/*
 * The deployment files, checked as far as this machine can: the systemd
 * unit by systemd-analyze verify (no warning allowed), the Dockerfile parsed
 * for its stages, its user, its production install and its health check
 * (Docker's engine does not run here), the compose file for Redis and the
 * settings it passes. Each is also held to the code: the start flags of
 * npm start, the sources the build compiles, the variables the server reads.
 */

const ROOT = join(__dirname, '..', '..')
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')
const START_FLAGS = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start.split(/\s+/).filter((w) => w.startsWith('--'))

type Instruction = { readonly keyword: string; readonly args: string }
type Stage = { readonly from: string; readonly name: string | undefined; readonly instructions: Instruction[] }

/** A Dockerfile's instructions by stage: comments dropped, lines continued with a backslash joined. */
const dockerStages = (text: string): Stage[] => {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  const stages: Stage[] = []
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      if (match === null) throw new Error(`FROM ${args}`)
      stages.push({ from: match[1] as string, name: match[2], instructions: [] })
    } else {
      const stage = stages[stages.length - 1]
      if (stage === undefined) throw new Error(`${keyword} before any FROM`)
      stage.instructions.push({ keyword: keyword.toUpperCase(), args })
    }
  }
  return stages
}

describe('operations: deployment files', () => {
  describe('the systemd unit', () => {
    const UNIT = join(ROOT, 'deploy', 'roblox-messaging-server.service')

    it('passes systemd-analyze verify without a warning', function () {
      const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
      if (probe.error !== undefined) {
        const reason = `systemd-analyze cannot run (${probe.error.message}); install the Debian package systemd`
        if (process.env.CI === 'true') throw new Error(`CI needs systemd-analyze for the unit's check: ${reason}`)
        console.log(`      skipping: ${reason}`)
        return this.skip()
      }
      const verified = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' })
      const said = `${verified.stdout}${verified.stderr}`.trim()
      if (/\/usr\/bin\/node.* (is not executable|No such file)/.test(said) && process.env.CI !== 'true') {
        console.log(`      skipping: node is not at /usr/bin/node here, where the unit runs it: ${said}`)
        return this.skip()
      }
      expect(verified.status, said).to.equal(0)
      expect(said, 'systemd-analyze has something to say').to.equal('')
    })

    it('finds a mistake in a unit: the check can fail', function () {
      if (spawnSync('systemd-analyze', ['--version']).error !== undefined) return this.skip()
      const dir = mkdtempSync(join(tmpdir(), 'rms-unit-'))
      const bad = join(dir, 'rms-bad.service')
      writeFileSync(bad, readFileSync(UNIT, 'utf8').replace(/^Restart=on-failure$/m, 'Restart=sometimes'))
      const verified = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' })
      rmSync(dir, { recursive: true, force: true })
      expect(`${verified.stdout}${verified.stderr}`).to.match(/restart specifier/)
    })

    it('runs dist/main.js with the flags npm start gives node, as a user of its own, stopped by SIGTERM', () => {
      const unit = readFileSync(UNIT, 'utf8')
      const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? ''
      expect(execStart).to.match(/^\/usr\/bin\/node /).and.match(/\/dist\/main\.js$/)
      for (const flag of START_FLAGS) expect(execStart).to.include(flag)
      expect(unit).to.match(/^DynamicUser=yes$/m).and.match(/^KillSignal=SIGTERM$/m).and.match(/^NoNewPrivileges=yes$/m)
    })
  })

  describe('the Dockerfile', () => {
    const stages = dockerStages(read('Dockerfile'))
    const final = stages[stages.length - 1] as Stage
    const args = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)

    it('has two stages: a build with the dev dependencies, and the one that runs', () => {
      expect(stages.map((s) => s.name)).to.deep.equal(['build', 'run'])
      for (const stage of stages) expect(stage.from).to.match(/^node:\d+-/)
      const build = stages[0] as Stage
      expect(args(build, 'RUN')).to.include('npm ci --ignore-scripts').and.include('npm run build')
      expect(args(final, 'COPY')).to.include('--from=build /app/dist dist')
    })

    it('installs only the production dependencies in the image that runs, and runs as a user who is not root', () => {
      expect(args(final, 'RUN').some((run) => /^npm ci --omit=dev\b/.test(run))).to.equal(true)
      const users = args(final, 'USER')
      expect(users).to.have.length(1)
      expect(users[0]).to.not.match(/^(root|0)(:|$)/)
      // The USER comes before the command, and nothing after it switches back.
      const keywords = final.instructions.map((i) => i.keyword)
      expect(keywords.indexOf('USER')).to.be.below(keywords.indexOf('CMD'))
    })

    it('checks its health on /healthz and starts dist/main.js as npm start does, on the default port', () => {
      const [healthcheck] = args(final, 'HEALTHCHECK')
      expect(healthcheck).to.match(/^--interval=\S+ .*CMD \[/).and.include('/healthz')
      const cmd = JSON.parse((args(final, 'CMD')[0] ?? '').trim()) as string[]
      expect(cmd).to.deep.equal(['node', ...START_FLAGS, 'dist/main.js'])
      expect(args(final, 'EXPOSE')).to.deep.equal([String(DEFAULTS.PORT)])
    })

    it('copies every source the build compiles, and the tester into the image', () => {
      const compiled = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include
      const copied = args(stages[0] as Stage, 'COPY').flatMap((a) => a.split(/\s+/).slice(0, -1))
      for (const source of [...compiled, 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) {
        expect(copied, source).to.include(source)
        expect(existsSync(join(ROOT, source)), source).to.equal(true)
      }
      expect(args(final, 'COPY')).to.include('web web')
    })
  })

  describe('the compose file', () => {
    type Service = { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; healthcheck?: unknown; user?: string }
    const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, Service> }

    it('runs the server on Redis with its append-only file, once Redis answers', () => {
      const { redis, messaging } = compose.services
      expect(redis?.image).to.match(/^redis:/)
      expect(redis?.command).to.include('--appendonly')
      expect(redis?.healthcheck).to.not.equal(undefined)
      expect(messaging?.build).to.equal('.')
      expect(messaging?.environment).to.deep.include({ STORE: 'redis', REDIS_URL: 'redis://redis:6379' })
      expect(messaging?.depends_on).to.deep.equal({ redis: { condition: 'service_healthy' } })
      expect(messaging?.user, 'the image runs as its own user').to.equal(undefined)
    })

    it('passes only settings the server reads', () => {
      for (const name of Object.keys(compose.services.messaging?.environment ?? {})) expect(SETTINGS, name).to.include(name)
    })
  })
})
