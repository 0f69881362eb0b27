// Appends a pod fact observed by a host actor, with a deterministic id so a retried append is deduplicated.
import type { Logger } from '../log.js';
import { podEvent, type PodEventOf, type PodEventType } from '../events/schemas/mod.js';
import type { EventStore } from '../events/store/event-store.js';

export type Emit = <T extends PodEventType>(type: T, data: Parameters<typeof podEvent<T>>[2], key: string) => Promise<void>;

export interface Links { causation?: string; correlation?: string }

/** The causation (the intent a fact answers) and correlation (the intent that began the run) of a pod's next fact. */
export function linksOf(ctx: { lastIntent: string | null; runIntent: string | null } | undefined): Links {
  return { ...(ctx?.lastIntent ? { causation: ctx.lastIntent } : {}), ...(ctx?.runIntent ? { correlation: ctx.runIntent } : {}) };
}

/** Facts are true whatever happened meanwhile, so they append without an expectation; the pod machine ignores those that no longer apply. */
export function emitterFor(store: EventStore, podId: string, prefix: string, by: string, log: Logger, links: () => Links): Emit {
  return async (type, data, key) => {
    const e = podEvent(type, podId, data, { id: `${podId}.${prefix}.${key}`, at: Date.now(), by, ...links() }) as PodEventOf<typeof type>;
    try {
      await store.append(e);
    } catch (err) {
      log.error({ err, pod: podId, type }, `could not record ${type} for pod ${podId}`);
    }
  };
}
