// `hyper top POD [-c CONTAINER]`: the processes running in a pod's containers, read from its guest's /proc, as docker top.
import type { Command } from 'commander';
import { openSession, type GlobalOptions } from '../connection.js';
import { binaryBytes, cpuTime, printJson, table } from '../format.js';
import { podProcesses } from '../probe-client.js';
import { reportExecError } from '../session-io.js';

/** Local time of day, as ps shows a start time. */
const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 8);

export function registerTop(program: Command, globals: () => GlobalOptions): void {
  program
    .command('top <pod>')
    .description('the processes running in a pod\'s containers (-c for one of them)')
    .option('-c, --container <name>', 'only this container\'s processes')
    .action(async (ref: string, o: { container?: string }) => {
      const g = globals();
      const s = await openSession(g);
      try {
        const view = await s.view();
        const pod = s.resolve(view, ref);
        const list = await podProcesses(s.nc, pod, o.container, view);
        const ps = [...list.processes].sort((a, b) => a.container.localeCompare(b.container) || a.pid - b.pid);
        if (g.output === 'json') return printJson({ pod: pod.context.id, at: new Date(list.atMs).toISOString(), processes: ps, ...(list.omitted ? { omitted: list.omitted } : {}) });
        process.stdout.write(table(['CONTAINER', 'UID', 'PID', 'PPID', 'STIME', 'TIME', 'RSS', 'CMD'],
          ps.map((p) => [p.container, String(p.uid), String(p.pid), String(p.ppid), clock(p.startedAtMs), cpuTime(p.cpuMs), binaryBytes(p.rss), p.command])) + '\n');
        if (list.omitted) process.stderr.write(`hyper: ${list.omitted}\n`);
      } catch (err) {
        reportExecError(err, 1);
      } finally {
        await s.close();
      }
    });
}
