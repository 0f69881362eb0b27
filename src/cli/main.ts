#!/usr/bin/env node
// The hyper CLI: publishes intents as events and reports what the cluster did about them. Only the module of the command
// being run is loaded (every command pays the CLI's start-up: `hyper --version` loads none).
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { VERSION } from '../version.js';
import type { GlobalOptions } from './connection.js';
import { COMMAND_MODULES, commandName, DAEMON } from './command-table.js';
import { inRepo } from '../repo-root.js';
import { exitFlushed, guardPipes } from './stdio.js';

guardPipes();

const program = new Command('hyper')
  .description('run pods of containers, each in its own lightweight VM')
  .version(VERSION, '-v, --version')
  .option('--nats <urls>', 'NATS servers, comma-separated (default: HYPER_NATS, else the local daemon\'s)')
  .option('--data-dir <dir>', 'the local daemon\'s data dir (to find its embedded NATS)')
  .option('-o, --output <format>', 'text or json')
  .option('--creds <file>', 'NATS client credentials: the admin\'s {user, password} or a tenant\'s file from hyper tenant add (default: HYPER_CREDS, else the local daemon\'s)')
  .option('--tenant <name>', 'the tenant to act for with admin credentials (default: HYPER_TENANT, else "default")')
  .option('--tls-ca <file>', 'the CA to verify a TLS NATS by (default: HYPER_TLS_CA, the local daemon\'s, or the one in a tenant\'s credentials)')
  .enablePositionalOptions()
  .showHelpAfterError();

// connection and output options work before or after the subcommand: `hyper -o json ps` and `hyper ps -o json`
let current: GlobalOptions = {};
const ownsDashO = new Set<Command>();
const globals = () => current;
program.hook('preAction', (_root, action) => {
  const local = action.opts<GlobalOptions>();
  const root = program.opts<GlobalOptions>();
  const output = ownsDashO.has(action) ? undefined : local.output;
  current = { nats: local.nats ?? root.nats, dataDir: local.dataDir ?? root.dataDir, output: output ?? root.output, creds: local.creds ?? root.creds, tenant: local.tenant ?? root.tenant, tlsCa: local.tlsCa ?? root.tlsCa };
});
const args = process.argv.slice(2);
const name = commandName(args);
const wanted = COMMAND_MODULES.filter(([names]) => name === undefined || names.includes(name));
// a word that names no command (help, a typo) gets every command loaded, for help and "did you mean"; --version none
const versionOnly = name === undefined && args.some((a) => a === '-v' || a === '--version');
const only = versionOnly ? [] : wanted.length || name === DAEMON ? wanted : COMMAND_MODULES;

async function main(): Promise<void> {
  for (const register of await Promise.all(only.map(([, load]) => load()))) register(program, globals);
  for (const cmd of program.commands.flatMap((c) => (c.commands.length ? c.commands : [c]))) {
    cmd.option('--nats <urls>', 'NATS servers, comma-separated').option('--data-dir <dir>', 'the local daemon\'s data dir').option('--creds <file>', 'NATS client credentials').option('--tenant <name>', 'the tenant to act for (admin credentials)');
    // a command with its own -o keeps it (`hyper save -o FILE`, as Docker's); its -o is then no output format
    if (cmd.options.some((opt) => opt.short === '-o')) ownsDashO.add(cmd);
    else cmd.option('-o, --output <format>', 'text or json');
  }
  if (!versionOnly && (name === undefined || name === DAEMON || !wanted.length)) {
    // the daemon is never bundled with the CLI: it is loaded from dist/ as built
    const daemon = pathToFileURL(inRepo('dist', 'src', 'daemon', 'command.js')).href;
    // inside bin/hyper.cjs's vm.Script, import() goes through the launcher's (a plain module's) own
    const load = (globalThis as { __hyperImport?: (url: string) => Promise<unknown> }).__hyperImport ?? ((url: string) => import(url));
    program.addCommand(((await load(daemon)) as typeof import('../daemon/command.js')).daemonCommand(DAEMON));
  }
  await program.parseAsync(process.argv);
}

main().then(
  () => {
    // NATS sockets may linger a moment after close; the command is done once its output is out
    setImmediate(() => void exitFlushed(Number(process.exitCode ?? 0)));
  },
  (err: Error) => {
    process.stderr.write(`hyper: ${err.message}\n`);
    void exitFlushed(err instanceof ValidationError ? 2 : 1);
  },
);
