// Placements per second: N pod intents against D daemons running H hollow hosts in all; time until every pod.scheduled is in the log.
import { podEvent, PodSpec } from '../../src/events/schemas/mod.js';
import { benchNats, progress, spawnHyperd } from '../lib/env.js';
import { appendAll } from '../lib/dataset.js';
import { join } from 'node:path';

export async function benchPlacement(o: { pods: number; hosts: number; daemons: number }) {
  const n = await benchNats();
  const perDaemon = Math.ceil(o.hosts / o.daemons);
  const daemons = Array.from({ length: o.daemons }, (_, i) =>
    spawnHyperd(['--nats', n.server.url, '--host-id', `d${i}`, '--data-dir', join(n.dir, `d${i}`), '--driver', 'hollow', '--hollow-hosts', String(perDaemon), '--cpus', '1000', '--memory', '10000000']),
  );
  try {
    await Promise.all(daemons.map((d) => d.ready));
    progress(`placement: ${o.daemons} daemons with ${perDaemon * o.daemons} hollow hosts ready; submitting ${o.pods} pods`);
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox' }] });
    const base = await n.store.lastSeq();
    let scheduled = 0;
    let running = 0;
    let doneScheduled = 0;
    let doneRunning = 0;
    const seenHosts = new Set<string>();
    const t0 = performance.now();
    const watch = (async () => {
      for await (const r of n.store.read({ fromSeq: base + 1 })) {
        if (!r.ok) continue;
        if (r.event.type === 'pod.scheduled') {
          seenHosts.add(r.event.data.host);
          if (++scheduled === o.pods) doneScheduled = performance.now();
        }
        if (r.event.type === 'container.started' && ++running === o.pods) {
          doneRunning = performance.now();
          break;
        }
      }
    })();
    const intents = (function* () {
      for (let i = 0; i < o.pods; i++) yield podEvent('pod.requested', `bp${i}`, { spec, start: true }, { id: `bp${i}.req`, at: Date.now(), by: 'bench' });
    })();
    const submitRate = await appendAll(n.store, intents, 500);
    const submittedAt = performance.now();
    await Promise.race([watch, new Promise((r) => setTimeout(r, 300_000))]);
    return {
      pods: o.pods,
      daemons: o.daemons,
      hollowHosts: perDaemon * o.daemons,
      hostsUsed: seenHosts.size,
      intentsPerSec: Math.round(submitRate),
      submitSeconds: +((submittedAt - t0) / 1000).toFixed(2),
      scheduledSeconds: +((doneScheduled - t0) / 1000).toFixed(2),
      placementsPerSec: doneScheduled ? Math.round(o.pods / ((doneScheduled - t0) / 1000)) : 0,
      allRunningSeconds: doneRunning ? +((doneRunning - t0) / 1000).toFixed(2) : null,
      scheduledEvents: scheduled,
      target: { placementsPerSec: 2000 },
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await n.close();
  }
}
