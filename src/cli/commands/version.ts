// `hyper version`: this client's version, and the NATS server's when one is reachable.
import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { printJson } from '../format.js';

export function registerVersion(program: Command, globals: () => GlobalOptions): void {
  program
    .command('version')
    .description('print versions')
    .action(async () => {
      const g = globals();
      const out: Record<string, unknown> = { hyper: VERSION, node: process.version };
      try {
        const s = await openSession(g);
        out.nats = { servers: s.servers, version: s.nc.info?.version, jetstream: s.nc.info?.jetstream ?? false };
        await s.close();
      } catch (err) {
        out.nats = { error: (err as Error).message };
      }
      if (g.output === 'json') return printJson(out);
      process.stdout.write(`hyper ${VERSION} (node ${process.version})\n`);
      const n = out.nats as { version?: string; servers?: string[]; error?: string };
      process.stdout.write(n.error ? `nats: not connected — ${n.error}\n` : `nats-server ${n.version} at ${n.servers?.join(',')}\n`);
    });
}
