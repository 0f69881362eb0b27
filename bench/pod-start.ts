// bench/pod-start: 20 sequential pods of a cached image on hyperd --driver qemu: intent → container.started and → first
// output, with the breakdown from event times; then `hyper run` as a user sees it, and QEMU RSS/PSS of an idle pod. JSON out.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podEvent, PodSpec, type PodEvent } from '../src/events/schemas/mod.js';
import { DEFAULT_TENANT, podSubject } from '../src/events/schemas/subjects.js';
import { readLogs } from '../src/events/store/logs.js';
import { benchNats, benchQemuDaemon, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
const stats = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95) });

const n = await benchNats();
const { d, dataDir } = benchQemuDaemon(n, 'bench');
try {
  await d.ready;
  const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['echo', 'hi'] }] });
  const started: number[] = [], output: number[] = [];
  const phases: Record<string, number[]> = { placement: [], runnerReaction: [], vmBoot: [], qemuStart: [], kernelAndAgentBoot: [], agentConnect: [], containerStart: [] };
  for (let i = 0; i < runs; i++) {
    const id = `ps${i}`;
    const logs = readLogs(n.nc, { pod: id, tenant: DEFAULT_TENANT }, { follow: true });
    const firstOutput = logs.next().then(() => performance.now());
    const t0 = performance.now();
    const ack = await n.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
    const at: Record<string, number> = {};
    let booted: { vmmMs?: number; guestMs?: number } | undefined;
    for await (const r of n.store.read({ filter: podSubject({ pod: id, tenant: DEFAULT_TENANT }), fromSeq: ack.seq })) {
      if (!r.ok) continue;
      const e = r.event as PodEvent;
      at[e.type] ??= e.at;
      if (e.type === 'vm.booted') booted ??= e.data;
      if (e.type === 'container.started') started.push(performance.now() - t0);
      if (e.type === 'container.exited') break;
    }
    output.push((await firstOutput) - t0);
    await logs.return(undefined);
    phases.placement.push(at['pod.scheduled'] - at['pod.requested']);
    phases.runnerReaction.push(at['vm.booting'] - at['pod.scheduled']);
    phases.vmBoot.push(at['vm.booted'] - at['vm.booting']);
    phases.qemuStart.push(booted?.vmmMs ?? NaN);
    phases.kernelAndAgentBoot.push(booted?.guestMs ?? NaN);
    phases.agentConnect.push(at['agent.ready'] - at['vm.booted']);
    phases.containerStart.push(at['container.started'] - at['agent.ready']);
    progress(`pod ${i + 1}/${runs}: started after ${Math.round(started.at(-1)!)} ms`);
  }

  // as a user sees it: the CLI process from spawn to its first byte of container output
  const cli: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const p = spawn('node', [join(root, 'bin', 'hyper.cjs'), 'run', 'busybox', 'echo', 'hi'], { env: { ...process.env, HYPER_NATS: n.server.url, HYPER_QUIET: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => p.stdout.once('data', () => { cli.push(performance.now() - t0); resolve(); }));
    await new Promise((r) => p.once('exit', r));
  }

  // an idle pod's VMM footprint
  await n.store.append(podEvent('pod.requested', 'idle', { spec: PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['sleep', '1000'] }] }), start: true }, { id: 'idle.req', at: Date.now(), by: 'bench' }));
  let qemuPid = '';
  for (let i = 0; i < 100 && !qemuPid; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      qemuPid = execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dataDir}`]).toString().trim().split('\n')[0];
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 2000));
  const rollup = readFileSync(`/proc/${qemuPid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);

  process.stdout.write(JSON.stringify({
    bench: 'pod-start', at: new Date().toISOString(), runs, driver: 'qemu',
    intentToContainerStartedMs: { ...stats(started), target: 1000 },
    intentToFirstOutputMs: stats(output),
    cliSpawnToFirstOutputMs: stats(cli),
    breakdownMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, stats(v)])),
    idleQemu: { rssMb: +(kb('Rss') / 1024).toFixed(1), pssMb: +(kb('Pss') / 1024).toFixed(1), vmMemoryMb: 256 },
  }, null, 2) + '\n');
} finally {
  await d.stop();
  await n.close();
}
