// bench/failover: a host killed (SIGKILL of its hyperd, hollow driver) → every restartable pod it ran running on a survivor.
// --trials (default 10) kills per lease setting (--leases, default "3s,1s": the default and a short one); each
// trial starts two fresh daemons on one nats-server, runs --pods (10) pods with restart policy always, kills the daemon
// holding most of them, and times kill → all of them running elsewhere. JSON on stdout, progress on stderr.
import { join } from 'node:path';
import { podEvent, PodSpec } from '../src/events/schemas/mod.js';
import { loadView } from '../src/events/store/load-view.js';
import type { ClusterView } from '../src/model/cluster-view.js';
import { benchNats, progress, spawnHyperd } from './lib/env.js';

const arg = (name: string, dflt: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const trials = Number(arg('--trials', '10'));
const pods = Number(arg('--pods', '10'));
const leases = arg('--leases', '3s,1s').split(',').filter(Boolean);
const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);

async function until(n: Awaited<ReturnType<typeof benchNats>>, ok: (v: ClusterView) => boolean, ms: number): Promise<ClusterView> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = (await loadView(n.store, { useSnapshot: false })).view;
    if (ok(v)) return v;
    if (performance.now() > deadline) throw new Error(`timed out: ${[...v.pods.values()].map((p) => `${p.context.id}=${p.state}@${p.context.host}`).join(' ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const out: { bench: string; at: string; pods: number; trials: number; results: unknown[] } = { bench: 'failover', at: new Date().toISOString(), pods, trials, results: [] };
const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox' }], restartPolicy: 'always' });
for (const lease of leases) {
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    const n = await benchNats();
    const ds = ['a', 'b'].map((h) => spawnHyperd(['--nats', n.server.url, '--host-id', `fo-${h}`, '--data-dir', join(n.dir, h), '--driver', 'hollow', '--host-lease', lease, '--cpus', '256', '--memory', '262144']));
    try {
      await Promise.all(ds.map((d) => d.ready));
      const ids = Array.from({ length: pods }, (_, i) => `fo${i}`);
      for (const id of ids) await n.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, at: Date.now(), by: 'bench' }), { expectLastSeq: 0 });
      progress(`failover (lease ${lease}) trial ${t + 1}/${trials}: daemons ready, ${pods} pods submitted`);
      const v = await until(n, (v) => ids.every((id) => v.pods.get(id)?.state === 'running'), 30_000);
      const onA = ids.filter((id) => v.pods.get(id)!.context.host === 'fo-a');
      const victim = onA.length * 2 >= ids.length ? 0 : 1;
      const moved = ids.filter((id) => v.pods.get(id)!.context.host === `fo-${['a', 'b'][victim]}`);
      const t0 = performance.now();
      ds[victim].proc.kill('SIGKILL');
      await until(n, (v) => moved.every((id) => v.pods.get(id)?.state === 'running' && v.pods.get(id)?.context.host === `fo-${['a', 'b'][1 - victim]}`), 120_000);
      times.push(performance.now() - t0);
      progress(`failover (lease ${lease}) trial ${t + 1}/${trials}: ${moved.length} pods running elsewhere ${Math.round(times.at(-1)!)} ms after the kill`);
    } finally {
      await Promise.all(ds.map((d) => d.stop()));
      await n.close();
    }
  }
  out.results.push({ hostLease: lease, failoverMs: { p50: pct(times, 50), max: Math.round(Math.max(...times)) }, target: { p50Ms: 5_000 } });
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.exit(0);
