// bench/churn: pods created and destroyed without pause on one hyperd --driver qemu for --seconds (default 60), a few in
// flight at a time, booted cold, restored from a template and taken from a pool, in the same run: each pod runs `true`,
// ends, its VM goes, and it is deleted; the sustained rate in pods per second and per core, and the time of one create → deleted. JSON out.
import { availableParallelism } from 'node:os';
import { podEvent, PodSpec, type PodEvent } from '../src/events/schemas/mod.js';
import { DEFAULT_TENANT, podSubject } from '../src/events/schemas/subjects.js';
import { benchNats, benchQemuDaemon, progress, type BenchNats } from './lib/env.js';

type Mode = 'cold' | 'template' | 'pool';
const arg = (name: string, d: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : d);
const seconds = Number(arg('seconds', '60'));
const inFlight = Number(arg('in-flight', '2'));
const modes = arg('modes', 'cold,template,pool').split(',') as Mode[];
const cores = availableParallelism();
const pct = (xs: number[], p: number) => (xs.length ? Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]) : null);
const FLAGS: Record<Mode, string[]> = { cold: [], template: ['--templates'], pool: ['--pool', `256=${inFlight + 1}`] };

/** Waits on a pod's subject (from `fromSeq`) for an event `done` accepts; throws on one `bad` accepts. */
async function until(n: BenchNats, pod: string, fromSeq: number, done: (e: PodEvent) => boolean, bad: (e: PodEvent) => boolean): Promise<number> {
  for await (const r of n.store.read({ filter: podSubject({ pod, tenant: DEFAULT_TENANT }), fromSeq })) {
    if (!r.ok) continue;
    const e = r.event as PodEvent;
    if (bad(e)) throw new Error(`pod ${pod}: ${e.type} ${JSON.stringify(e.data).slice(0, 300)}`);
    if (done(e)) return r.seq;
  }
  throw new Error(`pod ${pod}: its events ended`);
}

async function measure(mode: Mode) {
  const n = await benchNats();
  const { d } = benchQemuDaemon(n, 'churn', ['--stop-pods-on-exit', ...FLAGS[mode]]);
  const cycleMs: number[] = [];
  const origins: Record<string, number> = {};
  try {
    await d.ready;
    // settle: the template (and the pool) are made before the clock starts
    if (mode !== 'cold') await new Promise((r) => setTimeout(r, 5_000));
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['true'] }] });
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let next = 0;
    const worker = async () => {
      while (performance.now() < end) {
        const id = `ch${next++}`;
        const c0 = performance.now();
        const at = { at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT };
        const ack = await n.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, ...at }));
        const failed = (e: PodEvent) => e.type === 'vm.failed' || e.type === 'agent.failed' || e.type === 'container.failed' || e.type === 'pod.unschedulable';
        // its container ended and its VM is gone (what a pod holds is released), then it is deleted
        await until(n, id, ack.seq, (e) => {
          if (e.type === 'vm.origin') origins[e.data.origin] = (origins[e.data.origin] ?? 0) + 1;
          return e.type === 'vm.exited';
        }, failed);
        await n.store.append(podEvent('pod.delete.requested', id, { force: false }, { id: `${id}.del`, at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
        cycleMs.push(performance.now() - c0);
        if (cycleMs.length % 10 === 0) progress(`${mode}: ${cycleMs.length} pods created and deleted in ${Math.round((performance.now() - t0) / 1000)} s`);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const wallS = (performance.now() - t0) / 1000;
    const rate = cycleMs.length / wallS;
    return { pods: cycleMs.length, wallS: +wallS.toFixed(1), origins, podsPerSecond: +rate.toFixed(2), podsPerSecondPerCore: +(rate / cores).toFixed(2), createToDeletedMs: { p50: pct(cycleMs, 50), p95: pct(cycleMs, 95) } };
  } finally {
    await d.stop();
    await n.close();
  }
}

const results: Partial<Record<Mode, Awaited<ReturnType<typeof measure>>>> = {};
for (const m of modes) results[m] = await measure(m);
process.stdout.write(JSON.stringify({ bench: 'churn', at: new Date().toISOString(), seconds, inFlight, cores, driver: 'qemu', ...results }, null, 2) + '\n');
