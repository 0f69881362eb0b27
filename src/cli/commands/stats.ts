// `hyper stats [--no-stream] [POD…]`: CPU, memory, processes and uptime of running pods, read from their guests and refreshed
// every second as docker stats does. CPU % is the share of one vCPU in use between two samples (200% = two vCPUs busy).
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import type { GuestStats } from '../../drivers/driver.js';
import type { PodRecord } from '../../model/cluster-view.js';
import { openSession, type GlobalOptions, type Session } from '../connection.js';
import { binaryBytes, shortDuration, table } from '../format.js';
import { podProcesses, podStats } from '../probe-client.js';
import { ExecError, reportExecError } from '../session-io.js';
import { write } from '../stdio.js';

interface Sample { at: number; stats: GuestStats; pids: number }

/** One pod's figures from two samples of it (the first alone gives no CPU figure yet). */
export function statsRow(pod: PodRecord, now: Sample, before?: Sample) {
  const s = now.stats;
  const dTotal = before ? s.cpuTotalMs - before.stats.cpuTotalMs : 0;
  const cpu = before && dTotal > 0 ? ((s.cpuMs - before.stats.cpuMs) / dTotal) * s.cpus * 100 : null;
  const used = s.memTotal - s.memAvailable;
  return {
    id: pod.context.id, name: pod.context.name ?? pod.context.id, cpuPercent: cpu === null ? null : Math.max(0, Math.round(cpu * 100) / 100),
    memUsage: used, memLimit: s.memTotal, memPercent: s.memTotal ? Math.round((used / s.memTotal) * 10_000) / 100 : 0, pids: now.pids,
    vcpus: s.cpus, uptimeMs: s.uptimeMs,
  };
}
type Row = ReturnType<typeof statsRow>;

async function sample(nc: NatsConnection, pod: PodRecord): Promise<Sample> {
  const [stats, list] = await Promise.all([podStats(nc, pod), podProcesses(nc, pod)]);
  return { at: Date.now(), stats, pids: list.processes.length };
}

function render(rows: (Row | { id: string; name: string; error: string })[]): string {
  return table(
    ['POD ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS', 'UPTIME'],
    rows.map((r) => ('error' in r
      ? [r.id.slice(0, 12), r.name, '--', '--', '--', '--', r.error]
      : [r.id.slice(0, 12), r.name, r.cpuPercent === null ? '--' : `${r.cpuPercent.toFixed(2)}%`, `${binaryBytes(r.memUsage)} / ${binaryBytes(r.memLimit)}`, `${r.memPercent.toFixed(2)}%`, String(r.pids), shortDuration(r.uptimeMs)])),
  );
}

async function podsToShow(s: Session, refs: string[]): Promise<PodRecord[]> {
  const view = await s.view();
  if (refs.length) return refs.map((r) => s.resolve(view, r));
  return view.livePods(s.tenant).filter((p) => p.state === 'running').sort((a, b) => a.context.createdAt - b.context.createdAt);
}

export function registerStats(program: Command, globals: () => GlobalOptions): void {
  program
    .command('stats [pod...]')
    .description('CPU, memory, processes and uptime of running pods (all of them, or those named), refreshed every second')
    .option('--no-stream', 'print one sample and exit')
    .action(async (refs: string[], o: { stream: boolean }) => {
      const g = globals();
      const s = await openSession(g);
      const last = new Map<string, Sample>();
      const tty = process.stdout.isTTY;
      let stopped = false;
      const stop = () => void (stopped = true);
      process.once('SIGINT', stop);
      try {
        let pods = await podsToShow(s, refs);
        if (refs.length) for (const p of pods) if (p.state !== 'running') throw new ExecError(`pod ${p.context.name ?? p.context.id} is not running (it is ${p.state}) — start it with hyper start ${p.context.name ?? p.context.id}`);
        for (let round = 0; !stopped; round++) {
          const rows = await Promise.all(pods.map(async (p) => {
            try {
              const now = await sample(s.nc, p);
              const row = statsRow(p, now, last.get(p.context.id));
              last.set(p.context.id, now);
              return row;
            } catch (err) {
              return { id: p.context.id, name: p.context.name ?? p.context.id, error: (err as Error).message };
            }
          }));
          // the first sample only sets the baseline for CPU: --no-stream takes a second one shortly after, as docker does
          if (round === 0) {
            await new Promise((r) => setTimeout(r, 500));
            continue;
          }
          if (g.output === 'json') {
            if (!o.stream) await write(process.stdout, JSON.stringify(rows, null, 2) + '\n');
            else for (const r of rows) await write(process.stdout, JSON.stringify(r) + '\n');
          } else await write(process.stdout, (tty && o.stream ? '\x1b[2J\x1b[H' : '') + render(rows) + '\n');
          if (!o.stream) {
            const failed = rows.find((r) => 'error' in r);
            if (failed && refs.length) process.exitCode = 1;
            break;
          }
          await new Promise((r) => setTimeout(r, 1000));
          // without names: pods that started or ended since come and go, as in docker stats
          if (!refs.length && round % 5 === 0) pods = await podsToShow(s, refs);
        }
      } catch (err) {
        reportExecError(err, 1);
      } finally {
        process.off('SIGINT', stop);
        await s.close();
      }
    });
}
