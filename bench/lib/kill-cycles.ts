// The kill/restart trial shared by the test suite (20 cycles) and bench/daemon-restart (100): pods print a counter while
// hyperd is SIGKILLed and restarted again and again; afterwards every pod must still run in its first VM, with every
// number of its counter stored exactly once, and no QEMU may be left over or missing.
import { DEFAULT_TENANT } from '../../src/events/schemas/subjects.js';
import { execFileSync } from 'node:child_process';
import { podEvent, PodSpec, type PodEvent } from '../../src/events/schemas/mod.js';
import type { EventStore } from '../../src/events/store/event-store.js';
import { readLogs } from '../../src/events/store/logs.js';
import type { NatsConnection } from '../../src/nats/connect.js';
import { spawnHyperd, type Hyperd } from './env.js';

export interface TrialEnv { nc: NatsConnection; store: EventStore; natsUrl: string; dataDir: string; hostId?: string }

export function qemuPids(dataDir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dataDir}`]).toString().trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function startDaemon(env: TrialEnv): Hyperd {
  return spawnHyperd(['--nats', env.natsUrl, '--host-id', env.hostId ?? 'trial', '--data-dir', env.dataDir, '--driver', 'qemu', '--memory', '16384', '--cpus', '64']);
}

/** Submits pods that print `prefix N` every `everyMs` (N from 0), straight to the event store; returns their ids. */
export async function submitCounters(env: TrialEnv, n: number, o: { everyMs?: number; memoryMb?: number; tag?: string } = {}): Promise<string[]> {
  const sleep = ((o.everyMs ?? 100) / 1000).toFixed(2);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${o.tag ?? 'ctr'}${i}`;
    const spec = PodSpec.parse({ resources: { cpus: 1, memoryMb: o.memoryMb ?? 128 }, containers: [{ name: 'main', image: 'busybox', args: ['sh', '-c', `i=0; while true; do echo $i; i=$((i+1)); sleep ${sleep}; done`] }] });
    await env.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, at: Date.now(), by: 'trial', tenant: DEFAULT_TENANT }));
    ids.push(id);
  }
  return ids;
}

async function events(store: EventStore, pod: string): Promise<PodEvent[]> {
  return (await store.history({ pod, tenant: DEFAULT_TENANT })).filter((r) => r.ok).map((r) => (r as { event: PodEvent }).event);
}

/** Polls until `ok` holds for every pod's events, or throws after timeoutMs naming the pods that are not there yet. */
export async function waitAll(store: EventStore, pods: string[], what: string, ok: (evs: PodEvent[]) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = pods;
  for (;;) {
    const checks = await Promise.all(pending.map(async (p) => [p, ok(await events(store, p))] as const));
    pending = checks.filter(([, done]) => !done).map(([p]) => p);
    if (!pending.length) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms by ${pending.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const isRunning = (evs: PodEvent[]) => evs.some((e) => e.type === 'container.started');
export const attachedBy = (daemon: string) => (evs: PodEvent[]) => evs.some((e) => e.type === 'vm.attached' && e.data.daemon === daemon);

/** Reads a pod's stored counter back: numbers missing, numbers stored twice (and their bytes), and the count. */
export async function checkCounter(nc: NatsConnection, pod: string): Promise<{ lines: number; gaps: number; duplicates: number; duplicatedBytes: number; other: number }> {
  let text = '';
  for await (const c of readLogs(nc, { pod, tenant: DEFAULT_TENANT })) text += Buffer.from(c.data).toString();
  const nums = text.split('\n').filter(Boolean);
  let gaps = 0, duplicates = 0, duplicatedBytes = 0, other = 0, expect = 0;
  for (const s of nums) {
    if (!/^\d+$/.test(s)) {
      other++;
      continue;
    }
    const n = Number(s);
    if (n === expect) expect++;
    else if (n < expect) {
      duplicates++;
      duplicatedBytes += s.length + 1;
    } else {
      gaps += n - expect;
      expect = n + 1;
    }
  }
  return { lines: nums.length, gaps, duplicates, duplicatedBytes, other };
}

export interface TrialResult {
  cycles: number;
  pods: number;
  podsLost: number;
  orphans: number;
  vmsReplaced: number;
  gaps: number;
  duplicatedBytes: number;
  counterLines: number;
  /** SIGKILL → new daemon ready, and → every pod re-attached, per cycle. */
  readyMs: number[];
  attachedMs: number[];
}

/** `cycles` times: SIGKILL the daemon, start a new one, wait until it re-attached every pod; then check everything. */
export async function killCycles(env: TrialEnv, pods: string[], cycles: number, first: Hyperd, onCycle: (i: number, ms: number) => void = () => {}): Promise<{ result: TrialResult; daemon: Hyperd }> {
  const vms0 = new Set(qemuPids(env.dataDir));
  let d = first;
  const readyMs: number[] = [], attachedMs: number[] = [];
  for (let i = 1; i <= cycles; i++) {
    d.proc.kill('SIGKILL');
    await new Promise((r) => (d.proc.exitCode !== null || d.proc.signalCode !== null ? r(null) : d.proc.once('exit', r)));
    const t0 = performance.now();
    d = startDaemon(env);
    const { record } = await d.ready;
    readyMs.push(Math.round(performance.now() - t0));
    await waitAll(env.store, pods, `re-attach in cycle ${i}`, attachedBy(String(record.daemon)), 60_000);
    attachedMs.push(Math.round(performance.now() - t0));
    onCycle(i, attachedMs.at(-1)!);
    await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 400))); // let the counters run between kills
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const vms = new Set(qemuPids(env.dataDir));
  const states = await Promise.all(pods.map(async (p) => (await events(env.store, p)).some((e) => e.type === 'vm.exited' || e.type === 'vm.failed' || e.type === 'pod.stopped')));
  const counters = await Promise.all(pods.map((p) => checkCounter(env.nc, p)));
  return {
    daemon: d,
    result: {
      cycles, pods: pods.length,
      podsLost: states.filter(Boolean).length,
      orphans: [...vms].filter((p) => !vms0.has(p)).length,
      vmsReplaced: [...vms0].filter((p) => !vms.has(p)).length,
      gaps: counters.reduce((a, c) => a + c.gaps, 0),
      duplicatedBytes: counters.reduce((a, c) => a + c.duplicatedBytes, 0),
      counterLines: counters.reduce((a, c) => a + c.lines, 0),
      readyMs, attachedMs,
    },
  };
}
