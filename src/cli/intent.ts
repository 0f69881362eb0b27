// Publishes an intent as an event: a fresh random id (the msgID, so a retried publish is deduplicated), stamped with who asked.
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { podEvent, type PodEventType } from '../events/schemas/mod.js';
import type { AppendResult, EventStore } from '../events/store/event-store.js';

export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {}
  return `cli:${user}@${hostname()}`;
}

export function publishIntent<T extends PodEventType>(
  store: EventStore,
  type: T,
  pod: string,
  data: Parameters<typeof podEvent<T>>[2],
  opts: { expectLastSeq?: number } = {},
): Promise<AppendResult> {
  return store.append(podEvent(type, pod, data, { id: randomUUID(), at: Date.now(), by: cliActor() }), opts);
}
