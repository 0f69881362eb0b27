// Replay throughput over a large log: end to end from JetStream into the cluster view, the fold alone, and XState's generic transition() for comparison.
import { initialTransition, transition } from 'xstate';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAM } from '../../src/events/schemas/subjects.js';
import { ClusterView } from '../../src/model/cluster-view.js';
import { decodeRecord, type Record_ } from '../../src/events/store/event-store.js';
import { loadView } from '../../src/events/store/load-view.js';
import { podMachine } from '../../src/model/pod-machine.js';
import type { PodEvent } from '../../src/events/schemas/mod.js';
import { appendAll, hostJoined, podLifecycle } from '../lib/dataset.js';
import { benchNats, progress } from '../lib/env.js';

export async function benchReplay(o: { events: number }) {
  const n = await benchNats();
  try {
    const pods = Math.ceil(o.events / 8);
    const hosts = Array.from({ length: 100 }, (_, i) => `rh${i}`);
    const now = Date.now();
    const events = (function* () {
      for (const h of hosts) yield hostJoined(h, now);
      for (let i = 0; i < pods; i++) yield* podLifecycle(`rp${i}`, hosts[i % hosts.length], now + i);
    })();
    progress(`replay: writing ${pods * 8 + hosts.length} events`);
    const appendRate = await appendAll(n.store, events, 1_000, (k) => progress(`replay: ${k} written`));
    const total = await n.store.lastSeq();

    progress('replay: folding from JetStream');
    const t0 = performance.now();
    const { view, folded } = await loadView(n.store, { useSnapshot: false });
    const e2eSec = (performance.now() - t0) / 1000;

    // the fold alone: decode + validate + fold, from payloads already in memory
    const raw: { seq: number; subject: string; data: Uint8Array }[] = [];
    for await (const r of rawMessages(n.nc, total)) raw.push(r);
    const t1 = performance.now();
    const v2 = new ClusterView();
    for (const m of raw) v2.apply(decodeRecord(m.seq, m.subject, m.data));
    const foldSec = (performance.now() - t1) / 1000;

    // XState's generic transition() over the same pod events (a sample), the baseline the compiled fold replaces
    const sample = raw.slice(0, 40_000).map((m) => decodeRecord(m.seq, m.subject, m.data)).filter((r): r is Extract<Record_, { ok: true }> => r.ok && 'pod' in r.event);
    const snaps = new Map<string, ReturnType<typeof initialTransition<typeof podMachine>>[0]>();
    const t2 = performance.now();
    for (const r of sample) {
      const e = r.event as PodEvent;
      const s = snaps.get(e.pod) ?? initialTransition(podMachine, { id: e.pod })[0];
      snaps.set(e.pod, transition(podMachine, s, e)[0]);
    }
    const xstateSec = (performance.now() - t2) / 1000;

    return {
      events: total,
      pods: view.pods.size,
      appendPerSec: Math.round(appendRate),
      endToEnd: { seconds: +e2eSec.toFixed(2), eventsPerSec: Math.round(folded / e2eSec) },
      foldOnly: { eventsPerSec: Math.round(raw.length / foldSec) },
      xstateTransitionBaseline: { eventsPerSec: Math.round(sample.length / xstateSec), sample: sample.length },
      sameView: JSON.stringify(v2.toSnapshot()) === JSON.stringify(view.toSnapshot()),
      target: { eventsPerSec: 100_000 },
    };
  } finally {
    await n.close();
  }
}

/** The stream's messages undecoded, so the fold can be timed without the network. */
async function* rawMessages(nc: NatsConnection, last: number) {
  const c = await jetstream(nc).consumers.get(STREAM, {});
  const it = await c.consume({ max_messages: 5_000 });
  for await (const m of it) {
    yield { seq: m.seq, subject: m.subject, data: m.data };
    if (m.seq >= last) break;
  }
  await it.close();
}
