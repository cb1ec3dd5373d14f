import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'

const execFileAsync = promisify(execFile)

/** Runs a command; a failure carries its output, which is what one needs to see. */
const run = async (command: string, args: string[], options: { cwd: string }) => {
  try {
    return await execFileAsync(command, args, options)
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout}\n${stderr}`)
  }
}
const ROOT = resolve(__dirname, '..', '..')

/** The README's library example, exactly as a reader would copy it. */
const readmeExample = async (): Promise<string> => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const match = /<!-- library-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- library-example:end -->/.exec(readme)
  if (match === null) throw new Error('README.md has no library example between its markers')
  return match[1]!
}

const expectedOutput = async (): Promise<string> => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const match = /<!-- library-example:end -->\s*It prints:\s*```\n([\s\S]*?)```/.exec(readme)
  if (match === null) throw new Error('README.md does not say what the library example prints')
  return match[1]!
}

describe('library: the packed package, installed into a fresh project', function () {
  this.timeout(240_000)
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rms-consumer-'))
    await run('npm', ['pack', '--pack-destination', dir], { cwd: ROOT })
    const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'))
    if (tarball === undefined) throw new Error('npm pack wrote no tarball')
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }))
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball)], { cwd: dir })
  })

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('ships only what a consumer needs', async () => {
    const installed = join(dir, 'node_modules', 'roblox-messaging-server')
    const files = await readdir(installed)
    expect(files).to.include.members(['dist', 'web', 'package.json', 'README.md'])
    expect(files).to.not.include.members(['test', 'bench', 'node_modules'])
  })

  it("type-checks and runs the README's example against it, printing what the README says", async () => {
    await writeFile(join(dir, 'example.ts'), await readmeExample())
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'node20',
          moduleResolution: 'node16',
          strict: true,
          skipLibCheck: false,
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['example.ts'],
      }),
    )
    await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir], { cwd: dir })
    const { stdout } = await run(process.execPath, [join(dir, 'example.js')], { cwd: dir })
    expect(stdout).to.equal(await expectedOutput())
  })

  it('installs the command, which answers --version and --help', async () => {
    const bin = join(dir, 'node_modules', '.bin', 'roblox-messaging-server')
    const version = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect((await run(bin, ['--version'], { cwd: dir })).stdout.trim()).to.equal(version.version)
    expect((await run(bin, ['--help'], { cwd: dir })).stdout).to.include('--port <value>').and.include('--metrics-key <value>')
  })

  it('serves the tester page from the installed package', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `const { startServer, readConfig } = require('roblox-messaging-server');
         const config = readConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
         startServer(config.right, { log: { error: () => {} } }).then(async (s) => {
           const res = await fetch('http://127.0.0.1:' + s.server.address().port + '/');
           console.log(res.status, res.headers.get('content-type'));
           await s.close();
         });`,
      ],
      { cwd: dir },
    )
    expect(stdout.trim()).to.equal('200 text/html; charset=utf-8')
  })
})
