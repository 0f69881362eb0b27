// bench/daemon-restart: pods outliving their daemon under hyperd --driver qemu. (1) Re-attach: SIGKILL hyperd with 1, 10
// and 30 running VMs, restart it, time spawn → ready → every pod re-attached, beside an empty daemon's start in the same
// run. (2) The kill/restart trial: --cycles (default 100) SIGKILLs with --pods (3) counters running; pods lost, orphans,
// gaps and duplicated output bytes must all be 0. JSON on stdout, progress on stderr.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podEvent } from '../src/events/schemas/mod.js';
import { attachedBy, isRunning, killCycles, qemuPids, startDaemon, submitCounters, waitAll, type TrialEnv } from './lib/kill-cycles.js';
import { benchNats, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, dflt: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const cycles = Number(arg('--cycles', '100'));
const trialPods = Number(arg('--pods', '3'));
const sizes = arg('--reattach', '1,10,30').split(',').filter(Boolean).map(Number);
const pct = (xs: number[], p: number) => (xs.length ? Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]) : null);
const stats = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), max: xs.length ? Math.max(...xs) : null });

const n = await benchNats();
const env: TrialEnv = { nc: n.nc, store: n.store, natsUrl: n.server.url, dataDir: join(n.dir, 'd'), hostId: 'bench' };
execFileSync(join(root, 'scripts', 'import-busybox.sh'), [env.dataDir]);

async function removeAll(pods: string[]): Promise<void> {
  for (const p of pods) await n.store.append(podEvent('pod.delete.requested', p, { force: true }, { id: `${p}.rm.${Date.now()}`, at: Date.now(), by: 'bench' }));
  for (let i = 0; i < 600 && qemuPids(env.dataDir).length; i++) await new Promise((r) => setTimeout(r, 100));
}

const out: Record<string, unknown> = { bench: 'daemon-restart', at: new Date().toISOString(), driver: 'qemu' };
try {
  // baseline: the same daemon starting with nothing to re-attach
  let d = startDaemon(env);
  const baseline = (await d.ready).wallMs;
  const reattach: Record<string, unknown>[] = [];
  for (const size of sizes) {
    const pods = await submitCounters(env, size, { tag: `r${size}-`, everyMs: 1_000 });
    await waitAll(n.store, pods, `${size} pods running`, isRunning, 30_000 + size * 5_000);
    progress(`${size} pods running; SIGKILL hyperd`);
    d.proc.kill('SIGKILL');
    await new Promise((r) => d.proc.once('exit', r));
    const t0 = performance.now();
    d = startDaemon(env);
    const { wallMs, record } = await d.ready;
    await waitAll(n.store, pods, 're-attach', attachedBy(String(record.daemon)), 120_000);
    const attachedMs = Math.round(performance.now() - t0);
    progress(`${size} VMs: ready in ${wallMs} ms, all re-attached in ${attachedMs} ms`);
    reattach.push({ vms: size, readyMs: wallMs, allAttachedMs: attachedMs, perVmMs: Math.round((attachedMs - wallMs) / size), vsEmptyStart: +(attachedMs / baseline).toFixed(2) });
    await removeAll(pods);
  }
  out.reattach = { emptyDaemonStartMs: baseline, runs: reattach };

  const pods = await submitCounters(env, trialPods, { tag: 'trial', everyMs: 100 });
  await waitAll(n.store, pods, 'trial pods running', isRunning, 60_000);
  const { result, daemon } = await killCycles(env, pods, cycles, d, (i, ms) => { if (i % 10 === 0 || i === cycles) progress(`cycle ${i}/${cycles}: re-attached in ${ms} ms`); });
  d = daemon;
  out.killCycles = { ...result, readyMs: stats(result.readyMs), attachedMs: stats(result.attachedMs), target: { podsLost: 0, orphans: 0, vmsReplaced: 0, gaps: 0, duplicatedBytes: 0 } };
  await removeAll(pods);
  await d.stop();
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
} finally {
  for (const pid of qemuPids(env.dataDir)) process.kill(pid, 'SIGKILL');
  await n.close();
}
