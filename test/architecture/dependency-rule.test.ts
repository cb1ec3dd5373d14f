import { expect } from 'chai'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

/*
 * The dependency rule, checked rather than hoped for: the domain imports
 * nothing of ours but itself (fp-ts and confusables at most), the application
 * imports the domain, only adapters reach Koa, Node's network modules or
 * other packages, no adapter imports another (they meet in the composition
 * root), and nothing but the composition root, main.ts and index.ts knows
 * every adapter.
 */

const ROOT = resolve(__dirname, '..', '..')

const sourceFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )

const IMPORT = /(?:^|[\n;])\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g

const importsOf = (file: string): string[] =>
  [...readFileSync(join(ROOT, file), 'utf8').matchAll(IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3]) as string)

/** The top-level folder an import lands in (an adapter's own folder for adapters: `adapters/http`), or the package it names. */
const target = (file: string, specifier: string): { layer: string } | { pkg: string } => {
  if (!specifier.startsWith('.')) return { pkg: specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]! }
  return { layer: layerOf(relative(ROOT, resolve(ROOT, dirname(file), specifier))) }
}

const layerOf = (path: string): string => {
  const [top, second] = path.split(/[\\/]/)
  return top === 'adapters' && second !== undefined ? `adapters/${second.replace(/\.ts$/, '')}` : (top ?? '')
}

const adapters = (): string[] =>
  readdirSync(join(ROOT, 'adapters'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `adapters/${entry.name}`)

const violations = (layer: string, allowedLayers: string[], allowedPackages: (pkg: string) => boolean): string[] =>
  sourceFiles(layer).flatMap((file) =>
    importsOf(file).flatMap((specifier) => {
      const t = target(file, specifier)
      const ok = 'layer' in t ? allowedLayers.includes(t.layer) : allowedPackages(t.pkg)
      return ok ? [] : [`${file} imports ${specifier}`]
    }),
  )

describe('architecture: the dependency rule', () => {
  it('finds the imports it checks', () => {
    expect(importsOf('application/send-message.ts')).to.include('../domain/message')
    expect(importsOf('adapters/http/app.ts')).to.include('koa')
  })

  it('domain imports only itself, fp-ts and confusables', () => {
    // confusables: a pure lookup table of look-alike letters, used to refuse names that read as the server's (no I/O, no framework).
    const domainPackages = ['fp-ts', 'confusables']
    expect(violations('domain', ['domain'], (pkg) => domainPackages.includes(pkg))).to.deep.equal([])
  })

  it('application imports only the domain, itself and fp-ts', () => {
    expect(violations('application', ['domain', 'application'], (pkg) => pkg === 'fp-ts')).to.deep.equal([])
  })

  it('no adapter imports another: they meet in the composition root', () => {
    expect(adapters()).to.include.members(['adapters/http', 'adapters/memory', 'adapters/system'])
    const crossings = adapters().flatMap((adapter) => violations(adapter, ['domain', 'application', adapter], () => true))
    expect(crossings).to.deep.equal([])
  })

  it('finds an adapter importing another, as the rule means it', () => {
    expect(target('adapters/http/app.ts', '../memory/memory-message-store')).to.deep.equal({ layer: 'adapters/memory' })
    expect(target('adapters/http/app.ts', './answers')).to.deep.equal({ layer: 'adapters/http' })
    expect(target('composition/start-server.ts', '../adapters/system/timer')).to.deep.equal({ layer: 'adapters/system' })
  })

  it('the composition root imports the layers and adapters, never the tests', () => {
    const known = ['domain', 'application', 'composition', ...adapters()]
    expect(violations('composition', known, () => true)).to.deep.equal([])
  })

  it('only adapters import Koa, node:http or other infrastructure', () => {
    const infrastructure = /^(koa|@koa\/.*|koa-.*|node:http|node:https|node:net|http|https|net|redis|ioredis)$/
    const outside = ['domain', 'application'].flatMap((layer) => violations(layer, ['domain', 'application'], (pkg) => !infrastructure.test(pkg)))
    expect(outside).to.deep.equal([])
  })
})
