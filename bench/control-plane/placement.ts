// Placements per second: N pod intents against D daemons running H hollow hosts in all; time until every pod.scheduled is in
// the log, and each pod's submit → pod.scheduled latency. `via: 'intents'` submits them as clients do (HYPER_INTENTS, accepted
// by a host); `via: 'facts'` appends pod.requested straight to the pods' log (the path without the accept step).
import { jetstream } from '@nats-io/jetstream';
import { podEvent, PodSpec } from '../../src/events/schemas/mod.js';
import { intentSubject } from '../../src/events/schemas/subjects.js';
import { benchNats, progress, spawnHyperd } from '../lib/env.js';
import { benchNatsCluster } from '../lib/nats-cluster.js';
import { windowed } from '../lib/dataset.js';
import { join } from 'node:path';

/** `ratePerSec`: submit at that steady rate instead of all at once (latency without a queue in front of it). */
export async function benchPlacement(o: { pods: number; hosts: number; daemons: number; via?: 'facts' | 'intents'; ratePerSec?: number; natsNodes?: number }) {
  const via = o.via ?? 'facts';
  // one embedded-style nats-server, or a 3-node JetStream cluster (R3 streams, TLS) as on separate machines
  const cluster = o.natsNodes === 3 ? await benchNatsCluster() : null;
  const n = cluster ? { ...cluster, server: { url: cluster.urls.join(',') } } : await benchNats();
  const natsArgs = cluster ? cluster.daemonArgs : ['--nats', n.server.url];
  const perDaemon = Math.ceil(o.hosts / o.daemons);
  const daemons = Array.from({ length: o.daemons }, (_, i) =>
    spawnHyperd([...natsArgs, '--host-id', `d${i}`, '--data-dir', join(n.dir, `d${i}`), '--driver', 'hollow', '--hollow-hosts', String(perDaemon), '--cpus', '1000', '--memory', '10000000']),
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
    const submitted = new Map<string, number>();
    const latency: number[] = [];
    const t0 = performance.now();
    const watch = (async () => {
      for await (const r of n.store.read({ fromSeq: base + 1 })) {
        if (!r.ok) continue;
        if (r.event.type === 'pod.scheduled') {
          seenHosts.add(r.event.data.host);
          const at = submitted.get(r.event.pod);
          if (at !== undefined) latency.push(performance.now() - at);
          if (++scheduled === o.pods) doneScheduled = performance.now();
        }
        if (r.event.type === 'container.started' && ++running === o.pods) {
          doneRunning = performance.now();
          break;
        }
      }
    })();
    const intents = (function* () {
      for (let i = 0; i < o.pods; i++) {
        submitted.set(`bp${i}`, performance.now());
        yield podEvent('pod.requested', `bp${i}`, { spec, start: true }, { id: `bp${i}.req`, at: Date.now(), by: 'bench' });
      }
    })();
    const js = jetstream(n.nc);
    const submitRate =
      via === 'facts'
        ? await windowed(intents, 500, (e) => n.store.append(e), undefined, o.ratePerSec)
        : await windowed(intents, 500, (e) => js.publish(intentSubject({ pod: e.pod, tenant: null }), JSON.stringify(e), { msgID: e.id }), undefined, o.ratePerSec);
    const submittedAt = performance.now();
    await Promise.race([watch, new Promise((r) => setTimeout(r, 300_000))]);
    const sorted = latency.sort((a, b) => a - b);
    const pct = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);
    return {
      via,
      ...(o.ratePerSec ? { submitRatePerSec: o.ratePerSec } : {}),
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
      submitToScheduledMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: Math.round(sorted[sorted.length - 1] ?? NaN) },
      target: { placementsPerSec: 2000 },
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await n.close();
  }
}
