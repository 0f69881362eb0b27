// Follows one pod's events after an intent, folding them locally, printing progress, until the pod reaches a state the command waits for.
import { foldPod, type PodFold } from '../model/pod-fold.js';
import type { PodState } from '../model/pod-machine.js';
import type { PodEvent } from '../events/schemas/mod.js';
import type { EventStore } from '../events/store/event-store.js';
import { addressOf, podSubject } from '../events/schemas/subjects.js';

export function describe(e: PodEvent): string | null {
  switch (e.type) {
    case 'pod.scheduled': return `scheduled on host ${e.data.host}`;
    case 'pod.rejected': return `host ${e.data.host} rejected the pod: ${e.data.reason}; rescheduling`;
    case 'pod.unschedulable': return `cannot be scheduled: ${e.data.reason}`;
    case 'pod.waiting': return `waiting for room: ${e.data.reason}`;
    case 'pod.lost': return `${e.data.reason}`;
    case 'image.pulling': return `pulling ${e.data.image}…`;
    case 'image.ready': return e.data.pulled ? `pulled ${e.data.image} (${e.data.id.slice(7, 19)}) in ${e.data.ms} ms${e.data.converted ? ', converted to EROFS' : ''}` : `image ${e.data.image} (${e.data.id.slice(7, 19)}) is here`;
    case 'vm.booting': return `booting vm ${e.data.vm} (${e.data.driver})`;
    case 'vm.booted': return `vm booted in ${e.data.bootMs} ms`;
    case 'vm.origin': return e.data.origin === 'cold' ? `vm booted cold${e.data.why ? `: ${e.data.why}` : ''}` : `vm restored from ${e.data.origin === 'pool' ? 'the pool' : `template ${e.data.template}`}`;
    case 'vm.failed': return `vm failed: ${e.data.reason}`;
    case 'vm.exited': return `vm exited: ${e.data.reason}`;
    case 'agent.ready': return `guest agent ready (${e.data.version})`;
    case 'agent.failed': return `guest agent failed: ${e.data.reason}`;
    case 'container.started': return `container ${e.data.container} started`;
    case 'container.failed': return `container ${e.data.container} failed: ${e.data.reason}`;
    case 'container.exited': return `container ${e.data.container} exited with code ${e.data.exitCode}`;
    case 'pod.stopped': return `stopped${e.data.reason ? `: ${e.data.reason}` : ''}`;
    default: return null;
  }
}

export interface WatchOptions {
  store: EventStore;
  pod: PodFold;
  /** First sequence to read (the one after the intent's ack). */
  fromSeq: number;
  /** Stop at the first accepted event that leaves the pod in one of these states. */
  until: ReadonlySet<PodState>;
  onProgress?: (line: string) => void;
}

export async function watchPod(o: WatchOptions): Promise<PodFold> {
  let pod = o.pod;
  for await (const r of o.store.read({ filter: podSubject(addressOf(pod.context)), fromSeq: o.fromSeq })) {
    if (!r.ok) continue;
    const next = foldPod(pod, r.event as PodEvent);
    if (next === pod) continue;
    const line = describe(r.event as PodEvent);
    if (line) o.onProgress?.(line);
    pod = next;
    if (o.until.has(pod.state)) break;
  }
  return pod;
}
