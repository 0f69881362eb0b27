#!/usr/bin/env node
// The hyper CLI: publishes intents as events and reports what the cluster did about them.
import { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { VERSION } from '../version.js';
import { daemonCommand } from '../daemon/command.js';
import type { GlobalOptions } from './connection.js';
import { registerRun } from './commands/run.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerPs } from './commands/ps.js';
import { registerEvents } from './commands/events.js';
import { registerHosts } from './commands/hosts.js';
import { registerVersion } from './commands/version.js';
import { registerInfo } from './commands/info.js';
import { registerLogs } from './commands/logs.js';
import { registerExec } from './commands/exec.js';
import { registerAttach } from './commands/attach.js';
import { registerStats } from './commands/stats.js';
import { registerCp } from './commands/cp.js';
import { registerTop } from './commands/top.js';
import { registerImages } from './commands/images.js';
import { registerTenant } from './commands/tenant.js';
import { registerCluster } from './commands/cluster.js';
import { registerScenario } from './commands/scenario.js';
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
registerRun(program, globals);
registerLifecycle(program, globals);
registerPs(program, globals);
registerEvents(program, globals);
registerHosts(program, globals);
registerVersion(program, globals);
registerInfo(program, globals);
registerLogs(program, globals);
registerExec(program, globals);
registerAttach(program, globals);
registerStats(program, globals);
registerCp(program, globals);
registerTop(program, globals);
registerImages(program, globals);
registerTenant(program, globals);
registerCluster(program, globals);
registerScenario(program);
for (const cmd of program.commands.flatMap((c) => (c.commands.length ? c.commands : [c]))) {
  cmd.option('--nats <urls>', 'NATS servers, comma-separated').option('--data-dir <dir>', 'the local daemon\'s data dir').option('--creds <file>', 'NATS client credentials').option('--tenant <name>', 'the tenant to act for (admin credentials)');
  // a command with its own -o keeps it (`hyper save -o FILE`, as Docker's); its -o is then no output format
  if (cmd.options.some((opt) => opt.short === '-o')) ownsDashO.add(cmd);
  else cmd.option('-o, --output <format>', 'text or json');
}
program.addCommand(daemonCommand('daemon'));

program.parseAsync(process.argv).then(
  () => {
    // NATS sockets may linger a moment after close; the command is done once its output is out
    setImmediate(() => void exitFlushed(Number(process.exitCode ?? 0)));
  },
  (err: Error) => {
    process.stderr.write(`hyper: ${err.message}\n`);
    void exitFlushed(err instanceof ValidationError ? 2 : 1);
  },
);
