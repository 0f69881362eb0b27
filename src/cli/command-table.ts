// Which module registers which top-level command, loaded only when that command runs, and how the command is found in argv.
import type { Command } from 'commander';
import type { GlobalOptions } from './connection.js';

type Register = (program: Command, globals: () => GlobalOptions) => void;
/** Each command module and the top-level commands it registers, in the order help lists them (a test keeps them in step). */
export const COMMAND_MODULES: [names: string[], load: () => Promise<Register>][] = [
  [['run', 'create'], async () => (await import('./commands/run.js')).registerRun],
  [['start', 'stop', 'kill', 'rename', 'rm'], async () => (await import('./commands/lifecycle.js')).registerLifecycle],
  [['ps', 'port', 'inspect'], async () => (await import('./commands/ps.js')).registerPs],
  [['events'], async () => (await import('./commands/events.js')).registerEvents],
  [['history', 'why', 'state', 'audit'], async () => (await import('./commands/audit.js')).registerAudit],
  [['hosts'], async () => (await import('./commands/hosts.js')).registerHosts],
  [['version'], async () => (await import('./commands/version.js')).registerVersion],
  [['info'], async () => (await import('./commands/info.js')).registerInfo],
  [['logs'], async () => (await import('./commands/logs.js')).registerLogs],
  [['exec'], async () => (await import('./commands/exec.js')).registerExec],
  [['attach'], async () => (await import('./commands/attach.js')).registerAttach],
  [['stats'], async () => (await import('./commands/stats.js')).registerStats],
  [['cp'], async () => (await import('./commands/cp.js')).registerCp],
  [['top'], async () => (await import('./commands/top.js')).registerTop],
  [['pull', 'load', 'images', 'rmi', 'save', 'login'], async () => (await import('./commands/images.js')).registerImages],
  [['volume'], async () => (await import('./commands/volume.js')).registerVolume],
  [['template'], async () => (await import('./commands/template.js')).registerTemplate],
  [['tenant'], async () => (await import('./commands/tenant.js')).registerTenant],
  [['cluster'], async () => (await import('./commands/cluster.js')).registerCluster],
  [['scenario'], async () => { const { registerScenario } = await import('./commands/scenario.js'); return (p) => registerScenario(p); }],
];
/** `hyper daemon` is the daemon itself: never bundled with the CLI, loaded from dist/ as built. */
export const DAEMON = 'daemon';

/** Root options that take a value: the command's name is the first word that is neither one of them nor an option. */
export const VALUED = new Set(['--nats', '--data-dir', '-o', '--output', '--creds', '--tenant', '--tls-ca']);
export function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('-')) return a;
    if (VALUED.has(a)) i++;
  }
  return undefined;
}

