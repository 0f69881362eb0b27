// What NATS alone stores per second on this machine (no daemon, no consumer): the same two events a placement needs
// (pod.requested, pod.scheduled), published with msgIDs, 500 in flight, on one nats-server or a 3-node cluster (R3, TLS).
// A placement cannot be faster than its two appends, so half this rate bounds the placement benchmark from above.
import { jetstream } from '@nats-io/jetstream';
import { podEvent, PodSpec } from '../../src/events/schemas/mod.js';
import { subjectOf } from '../../src/events/schemas/subjects.js';
import { benchNats } from '../lib/env.js';
import { benchNatsCluster } from '../lib/nats-cluster.js';
import { windowed } from '../lib/dataset.js';

export async function benchNatsAlone(o: { pods: number; natsNodes: 1 | 3 }) {
  const n = o.natsNodes === 3 ? await benchNatsCluster() : await benchNats();
  try {
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox' }] });
    const messages = (function* () {
      for (let i = 0; i < o.pods; i++) {
        const pod = `na${i}`;
        const at = Date.now();
        for (const e of [
          podEvent('pod.requested', pod, { spec, start: true }, { id: `${pod}.req`, at, by: 'bench' }),
          podEvent('pod.scheduled', pod, { host: 'h1', run: 1, attempt: 0 }, { id: `${pod}.r1a0.scheduled`, at, by: 'scheduler:bench' }),
        ]) yield { subject: subjectOf(e), payload: JSON.stringify(e), id: e.id };
      }
    })();
    const js = jetstream(n.nc);
    const eventsPerSec = await windowed(messages, 500, (m) => js.publish(m.subject, m.payload, { msgID: m.id }));
    return { natsNodes: o.natsNodes, events: o.pods * 2, eventsPerSec: Math.round(eventsPerSec), placementsPerSecCeiling: Math.round(eventsPerSec / 2) };
  } finally {
    await n.close();
  }
}
