import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'

export const REPO_ROOT = join(__dirname, '..', '..')
export const RUNNER = join(REPO_ROOT, 'roblox', 'stand-in', 'run.lua')
export const FIXTURES = join(__dirname, 'fixtures')

export type LuaRun = { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/**
 * Why Lua scripts cannot run here, or undefined when they can: lua5.1 with LuaSocket and lua-cjson
 * (Debian: lua5.1, lua-socket, lua-cjson).
 */
export const luaUnavailable = (): string | undefined => {
  const probe = spawnSync('lua5.1', ['-e', 'require("socket.http"); require("ltn12"); require("socket.url"); require("cjson")'], {
    encoding: 'utf8',
  })
  if (probe.error) return `lua5.1 cannot be started (${probe.error.message}); install the Debian packages lua5.1, lua-socket and lua-cjson`
  if (probe.status !== 0) return `lua5.1 lacks a module the stand-in needs (install lua-socket and lua-cjson): ${probe.stderr.trim()}`
  return undefined
}

/**
 * A `before` hook body: in CI (CI=true) a missing tool fails the suite; on a laptop the suite is
 * skipped and the reason printed.
 */
export function requireLua(this: Mocha.Context): void {
  const reason = luaUnavailable()
  if (reason === undefined) return
  if (process.env.CI === 'true') throw new Error(`CI needs Lua for the Roblox tests: ${reason}`)
  console.log(`      skipping the Roblox Lua tests: ${reason}`)
  this.skip()
}

/** A script started through the stand-in that runs until it ends by itself or is stopped. */
export type RunningScript = {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Calls `listener` after every chunk of output and once when the script has exited. */
  readonly onActivity: (listener: () => void) => void
  /** True once the process has exited. */
  readonly exited: () => boolean
  /** Resolves with the whole run once the process has exited. */
  readonly done: Promise<LuaRun>
  /** Sends SIGTERM (when still running) and resolves once the process has exited. */
  readonly stop: () => Promise<LuaRun>
  /** Shuts the game server down as Roblox does (the stand-in runs its BindToClose callbacks) and resolves once it has exited. */
  readonly close: () => Promise<LuaRun>
  /** One line to the stand-in's console: join <userId> <name>, chat <userId> <text>, leave <userId>. */
  readonly write: (line: string) => void
}

/** The client module, as a ModuleScript in ServerScriptService: `require(game:GetService("ServerScriptService").MessagingClient)`. */
export const CLIENT_MODULE = join(REPO_ROOT, 'roblox', 'MessagingClient.lua')

/**
 * Starts a script through the stand-in. `serverUrl` goes behind the seed's placeholder URL;
 * `rewrites` maps further URL prefixes (`--rewrite FROM=TO`).
 */
export const startRobloxScript = (
  script: string,
  serverUrl: string,
  options: { readonly env?: Record<string, string>; readonly rewrites?: Record<string, string>; readonly modules?: Record<string, string> } = {},
): RunningScript => {
  const rewrites = Object.entries(options.rewrites ?? {}).flatMap(([from, to]) => ['--rewrite', `${from}=${to}`])
  const modules = Object.entries(options.modules ?? {}).flatMap(([name, path]) => ['--module', `${name}=${path}`])
  const child = spawn('lua5.1', [RUNNER, ...rewrites, ...modules, script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ROBLOX_HTTP_ENABLED: 'true', MESSAGING_SERVER_URL: serverUrl, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  // A script that is not told to close sees no input; one that is gets the line "close".
  child.stdin.on('error', () => undefined)
  let stdout = ''
  let stderr = ''
  let exited = false
  const listeners: Array<() => void> = []
  const notify = () => listeners.forEach((listener) => listener())
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((stdout += chunk), notify()))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => ((stderr += chunk), notify()))
  const done = new Promise<LuaRun>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      exited = true
      notify()
      resolve({ code, stdout, stderr })
    })
  })
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    onActivity: (listener) => void listeners.push(listener),
    exited: () => exited,
    done,
    stop: () => {
      if (!exited) child.kill('SIGTERM')
      return done
    },
    close: () => {
      if (!exited) child.stdin.write('close\n')
      return done
    },
    write: (line) => {
      if (!exited) child.stdin.write(`${line}\n`)
    },
  }
}

/** Runs a script through the stand-in with `serverUrl` behind the seed's placeholder URL; resolves on exit. */
export const runRobloxScript = (script: string, serverUrl: string, env: Record<string, string> = {}): Promise<LuaRun> =>
  startRobloxScript(script, serverUrl, { env }).done
