import { Command, CommanderError, Option } from 'commander'
import { defaultText, MEANINGS, SETTINGS, type Config, type SettingName } from './config'

/*
 * The command line (`npx roblox-messaging-server --port 5000 --store
 * memory`): every setting as a flag named after its variable (PORT is
 * --port, MAX_STREAMS_PER_ADDRESS is --max-streams-per-address), a flag
 * winning over the variable. commander parses the flags; the values are
 * decoded by readConfig like the environment's, so a bad one is refused
 * with the same words, naming the flag it came from.
 */

export const flagOf = (name: keyof Config): string => `--${name.toLowerCase().replace(/_/g, '-')}`

/** What the command line asks: to run with these settings, or to print something and exit. */
export type CommandLine =
  | { readonly _tag: 'Run'; readonly settings: NodeJS.ProcessEnv; readonly nameOf: SettingName }
  | { readonly _tag: 'Exit'; readonly code: number; readonly stdout: string; readonly stderr: string }

const program = (version: string, out: { stdout: string; stderr: string }): Command => {
  const command = new Command('roblox-messaging-server')
    .description('A messaging server for Roblox games: an HTTP API and a browser tester, in memory or on Redis.')
    .version(version, '-v, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit')
    .addHelpText(
      'after',
      '\nEvery setting may also be given as its environment variable (shown in each line); a flag wins over its variable.\n' +
        'Endpoints: /api (status), /healthz, /readyz, /metrics, /api/openapi.json. See README.md, "Operating it".',
    )
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out.stdout += text), writeErr: (text) => (out.stderr += text) })
  for (const name of SETTINGS) {
    const fallback = defaultText(name)
    command.addOption(new Option(`${flagOf(name)} <value>`, `${MEANINGS[name]} (env ${name}, default ${fallback === '' ? 'none' : JSON.stringify(fallback)})`))
  }
  return command
}

/** Reads `argv` (without node and the script) over `env`. */
export const readCommandLine = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv, version: string): CommandLine => {
  const out = { stdout: '', stderr: '' }
  const command = program(version, out)
  try {
    command.parse([...argv], { from: 'user' })
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    // --help and --version end here too, with code 0; a usage error exits 2, as a bad setting does.
    return { _tag: 'Exit', code: err.exitCode === 0 ? 0 : 2, ...out }
  }
  const given = command.opts<Record<string, string | undefined>>()
  const settings: NodeJS.ProcessEnv = { ...env }
  const fromFlag = new Set<keyof Config>()
  for (const name of SETTINGS) {
    const value = given[command.options.find((o) => o.long === flagOf(name))?.attributeName() ?? '']
    if (value === undefined) continue
    settings[name] = value
    fromFlag.add(name)
  }
  return { _tag: 'Run', settings, nameOf: (name) => (fromFlag.has(name) ? flagOf(name) : name) }
}
