// `hyper logs`: a pod's container output, read back from NATS; -f keeps following.
import type { Command } from 'commander';
import { addressOf } from '../../events/schemas/subjects.js';
import { readLogs } from '../../events/store/logs.js';
import { openSession, type GlobalOptions } from '../connection.js';

export function registerLogs(program: Command, globals: () => GlobalOptions): void {
  program
    .command('logs <pod>')
    .description('print the output of a pod\'s containers (stdout to stdout, stderr to stderr)')
    .option('-f, --follow', 'keep printing new output')
    .option('-c, --container <name>', 'only this container')
    .action(async (ref: string, o: { follow?: boolean; container?: string }) => {
      const s = await openSession(globals());
      try {
        const pod = s.resolve(await s.view(), ref);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        for await (const chunk of readLogs(s.nc, addressOf(pod.context), { follow: o.follow, signal: abort.signal, scoped: s.store.scoped })) {
          if (o.container && chunk.container !== o.container) continue;
          (chunk.stream === 2 ? process.stderr : process.stdout).write(chunk.data);
        }
      } finally {
        await s.close();
      }
    });
}
