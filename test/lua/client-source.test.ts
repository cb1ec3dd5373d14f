import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'
import { CLIENT_MODULE, REPO_ROOT, requireLua } from './lua-runner'

/*
 * roblox/MessagingClient.lua is one source for Roblox (Luau) and Lua 5.1:
 * Lua 5.1 compiles it (so it holds nothing Luau alone has: type annotations,
 * `continue`, compound assignment, if-expressions, string interpolation), and
 * it reads only globals Roblox gives every script, writing none. And the
 * package files that install it point at it.
 */

/** The globals a Roblox server script has that the module may read (Luau's standard library and Roblox's own). */
const ROBLOX_GLOBALS = new Set([
  'assert', 'coroutine', 'error', 'game', 'getmetatable', 'ipairs', 'math', 'next', 'os', 'pairs', 'pcall', 'print', 'rawequal', 'rawget',
  'rawset', 'select', 'setmetatable', 'string', 'table', 'task', 'tonumber', 'tostring', 'type', 'typeof', 'warn', 'xpcall',
])

describe('roblox: the client module is one source for Luau and Lua 5.1', () => {
  before(requireLua)

  const listing = (): string => {
    const compiled = spawnSync('luac5.1', ['-p', '-l', CLIENT_MODULE], { encoding: 'utf8' })
    if (compiled.error) throw new Error(`luac5.1 cannot be started (${compiled.error.message}); it comes with the Debian package lua5.1`)
    expect(compiled.status, compiled.stderr).to.equal(0)
    return compiled.stdout
  }

  it('compiles under Lua 5.1 and reads only globals Roblox has, writing none', () => {
    const globals = [...listing().matchAll(/\b([GS]ETGLOBAL)\b.*;\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/gm)].map((m) => ({ op: m[1], name: m[2] as string }))
    expect(globals.filter((g) => g.op === 'SETGLOBAL').map((g) => g.name), 'globals written').to.deep.equal([])
    const read = [...new Set(globals.map((g) => g.name))].sort()
    expect(read.filter((name) => !ROBLOX_GLOBALS.has(name)), 'globals Roblox does not have').to.deep.equal([])
    expect(read).to.include.members(['game', 'task'])
  })

  it('holds none of the Luau-only forms the issue names, outside comments and strings', () => {
    const code = readFileSync(CLIENT_MODULE, 'utf8')
      .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, '')
      .replace(/--[^\n]*/g, '')
      .replace(/"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, '""')
    expect(code).not.to.match(/[-+*/%^]=|\.\.=|\/\/=/, 'compound assignment')
    expect(code).not.to.match(/\bcontinue\b/, 'continue')
    expect(code).not.to.match(/`/, 'string interpolation')
    expect(code).not.to.match(/\blocal\s+[A-Za-z_][A-Za-z0-9_]*\s*:/, 'a type annotation on a local')
    expect(code).not.to.match(/function\s*[A-Za-z0-9_.:]*\(([^)]*:[^)]*)\)/, 'a type annotation on a parameter')
    expect(code).not.to.match(/^\s*(export\s+)?type\s+[A-Za-z_]/m, 'a type declaration')
  })

  it('is what the Wally and Rojo files install, at the version it says it is', () => {
    const project = JSON.parse(readFileSync(join(REPO_ROOT, 'roblox', 'default.project.json'), 'utf8')) as { name: string; tree: { $path: string } }
    expect(project.name).to.equal('MessagingClient')
    expect(join(REPO_ROOT, 'roblox', project.tree.$path)).to.equal(CLIENT_MODULE)
    const wally = readFileSync(join(REPO_ROOT, 'roblox', 'wally.toml'), 'utf8')
    const field = (name: string) => new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, 'm').exec(wally)?.[1]
    const version = /MessagingClient\.VERSION\s*=\s*"([^"]+)"/.exec(readFileSync(CLIENT_MODULE, 'utf8'))?.[1]
    expect(field('version')).to.be.a('string').and.equal(version)
    expect(field('name')).to.match(/^[a-z0-9-]+\/[a-z0-9-]+$/)
    expect(field('realm'), 'it makes HTTP requests, which only game servers may').to.equal('server')
    const included = /^include\s*=\s*\[([^\]]*)\]/m.exec(wally)?.[1] ?? ''
    expect(included).to.include('"MessagingClient.lua"').and.include('"default.project.json"')
  })
})
