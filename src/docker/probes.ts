// docker top and docker stats through the Engine API: what a container runs and uses, read from its guest by the pod's
// host (as hyper top and hyper stats do), in the shapes the docker CLI prints from.
import type { NatsConnection } from '@nats-io/transport-node';
import type { GuestStats } from '../drivers/driver.js';
import type { PodRecord } from '../model/cluster-view.js';
import { podProcesses, podStats } from '../cli/probe-client.js';
import { cpuTime } from '../cli/format.js';
import { ApiError } from './lifecycle.js';

const hhmm = (ms: number) => new Date(ms).toTimeString().slice(0, 5);

function running(rec: PodRecord): void {
  if (rec.state !== 'running' || !rec.context.host) throw new ApiError(409, `Container ${rec.context.id} is not running`);
}

/** GET /containers/ID/top: ps's columns, for the processes of the container (the pod's first, or `container`). */
export async function containerTop(nc: NatsConnection, rec: PodRecord, psArgs: string | null, container?: string): Promise<unknown> {
  running(rec);
  if (psArgs && psArgs !== '-ef') throw new ApiError(400, `ps_args ${psArgs}: hyper reads processes from the guest's /proc and serves ps -ef's columns only`);
  const list = await podProcesses(nc, rec, container ?? rec.context.spec?.containers[0]?.name);
  const ps = [...list.processes].sort((a, b) => a.pid - b.pid);
  return {
    Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
    Processes: ps.map((p) => [String(p.uid), String(p.pid), String(p.ppid), '0', hhmm(p.startedAtMs), '?', cpuTime(p.cpuMs), p.command]),
  };
}

/** docker's stats object for one sample, the one before it as precpu (the CLI's CPU % is the difference). */
function statsJson(rec: PodRecord, now: GuestStats, before: GuestStats | null, readMs: number, preMs: number): unknown {
  const cpu = (s: GuestStats | null) => ({
    cpu_usage: { total_usage: Math.round((s?.cpuMs ?? 0) * 1e6), usage_in_kernelmode: 0, usage_in_usermode: 0 },
    system_cpu_usage: Math.round((s?.cpuTotalMs ?? 0) * 1e6),
    online_cpus: s?.cpus ?? 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  const used = Math.max(0, now.memTotal - now.memAvailable);
  return {
    name: `/${rec.context.name ?? rec.context.id}`,
    id: rec.context.id,
    read: new Date(readMs).toISOString(),
    preread: before ? new Date(preMs).toISOString() : '0001-01-01T00:00:00Z',
    pids_stats: { current: now.processes },
    cpu_stats: cpu(now),
    precpu_stats: cpu(before),
    memory_stats: { usage: used, limit: now.memTotal, stats: {} },
    blkio_stats: { io_service_bytes_recursive: [] },
    networks: {},
  };
}

/**
 * GET /containers/ID/stats: with stream=false two samples a second apart (as docker's, so CPU % means something; one-shot
 * takes one), else a sample a second until the client goes or the container stops.
 */
export async function containerStats(nc: NatsConnection, rec: PodRecord, o: { stream: boolean; oneShot: boolean }, write: (line: string) => boolean, closed: () => boolean): Promise<void> {
  running(rec);
  let before: { s: GuestStats; at: number } | null = null;
  if (!o.stream && !o.oneShot) {
    before = { s: await podStats(nc, rec), at: Date.now() };
    await new Promise((r) => setTimeout(r, 1_000));
  }
  for (;;) {
    let s: GuestStats;
    try {
      s = await podStats(nc, rec);
    } catch (err) {
      if (before) return; // it stopped meanwhile: the stream ends
      throw err;
    }
    const at = Date.now();
    write(JSON.stringify(statsJson(rec, s, before?.s ?? null, at, before?.at ?? 0)) + '\n');
    if (!o.stream || closed()) return;
    before = { s, at };
    await new Promise((r) => setTimeout(r, 1_000));
    if (closed()) return;
  }
}
