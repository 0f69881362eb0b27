// Submits an intent: validated here, published to the pod's intent subject with a fresh random id (its msgID, so a resent
// intent is one intent), then waited for until a host accepts it into the pod's log — or says why it refused it.
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { HyperError, ValidationError } from '../errors.js';
import { isTransient } from '../nats/errors.js';
import { parseEvent, podEvent, type PodEventType } from '../events/schemas/mod.js';
import type { EventStore } from '../events/store/event-store.js';
import { intentSubject, podSubject, type PodAddress } from '../events/schemas/subjects.js';

export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {}
  return `cli:${user}@${hostname()}`;
}

/** How long a command waits for a host to accept its intent (HYPER_ACCEPT_TIMEOUT_MS); it stays queued after that. */
const acceptTimeoutMs = () => Number(process.env.HYPER_ACCEPT_TIMEOUT_MS) || 30_000;

export interface Accepted {
  /** Stream sequence of the accepted fact in the pod's log: follow the pod from the one after it. */
  seq: number;
  id: string;
}

/** Submits an intent for the pod at `at` (a new pod: its id and the session's tenant); the host stamps the tenant on the fact. */
export async function publishIntent<T extends PodEventType>(store: EventStore, type: T, at: PodAddress, data: Parameters<typeof podEvent<T>>[2], o: { /** to submit the same intent again (one intent: its id is the msgID) */ id?: string; fromSeq?: number; /** who asks (default: this CLI's user) */ by?: string; /** no "waiting for a hyperd" line on stderr */ quiet?: boolean } = {}): Promise<Accepted> {
  const pod = at.pod;
  const intent = parseEvent(podEvent(type, pod, data, { id: o.id ?? randomUUID(), at: Date.now(), by: o.by ?? cliActor() }));
  const from = o.fromSeq ?? (await store.lastPodSeq(at)) + 1;
  // a NATS node lost (a stream leader election) fails publishes for seconds: the same message again, dedup'd by its msgID
  // unanswered within 3 s (a leader electing), sent again: the same msgID, so one intent
  const js = jetstream(store.nc, { timeout: 3_000 });
  for (let attempt = 1; ; attempt++) {
    try {
      await js.publish(intentSubject(at), JSON.stringify(intent), { msgID: intent.id });
      break;
    } catch (err) {
      if (attempt >= 40 || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1_000, 100 * attempt)));
    }
  }
  const abort = new AbortController();
  const slow = setTimeout(() => o.quiet || process.stderr.write(`${pod}: ${type} recorded; waiting for a hyperd to accept it…\n`), 3_000);
  const timeout = setTimeout(() => abort.abort(), acceptTimeoutMs());
  try {
    // a read that fails transiently (its consumer made while JetStream elects after a node loss) is made again from where it was
    for (let next = from; !abort.signal.aborted; ) {
      try {
        for await (const r of store.read({ filter: podSubject(at), fromSeq: next, signal: abort.signal })) {
          next = r.seq + 1;
          if (!r.ok) continue;
          if (r.event.id === intent.id) return { seq: r.seq, id: intent.id };
          if (r.event.type === 'intent.rejected' && r.event.data.intent === intent.id) {
            const { reason, issues } = r.event.data;
            if (issues?.length) throw new ValidationError(`${type} (refused by ${r.event.by})`, issues);
            throw new HyperError('intent-rejected', `${r.event.by} refused ${type} for pod ${pod}: ${reason}`);
          }
        }
      } catch (err) {
        if (!isTransient((err as { cause?: unknown }).cause ?? err) && !isTransient(err)) throw err;
      }
      if (!abort.signal.aborted) await new Promise((r) => setTimeout(r, 500));
    }
    throw new HyperError('not-accepted', `no hyperd accepted ${type} for pod ${pod} within ${Math.round(acceptTimeoutMs() / 1000)} s; it stays queued (intent ${intent.id}) and takes effect when a daemon runs — start one with: hyperd &`);
  } finally {
    clearTimeout(slow);
    clearTimeout(timeout);
    abort.abort();
  }
}
