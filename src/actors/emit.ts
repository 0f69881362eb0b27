// Appends a pod fact observed by a host actor, with a deterministic id so a retried append is deduplicated; a fact is owed
// until NATS has it, so a failed append is retried with the same id until it lands or the daemon stops.
import { setTimeout as sleep } from 'node:timers/promises';
import { ValidationError } from '../errors.js';
import type { Logger } from '../log.js';
import { podEvent, versionToWrite, type PodEventOf, type PodEventType } from '../events/schemas/mod.js';
import type { EventStore } from '../events/store/event-store.js';
import type { PodAddress } from '../events/schemas/subjects.js';

export type Emit = <T extends PodEventType>(type: T, data: Parameters<typeof podEvent<T>>[2], key: string) => Promise<void>;

export interface Links { causation?: string; correlation?: string }

/** The causation (the intent a fact answers) and correlation (the intent that began the run) of a pod's next fact. */
export function linksOf(ctx: { lastIntent: string | null; runIntent: string | null } | undefined): Links {
  return { ...(ctx?.lastIntent ? { causation: ctx.lastIntent } : {}), ...(ctx?.runIntent ? { correlation: ctx.runIntent } : {}) };
}

/**
 * Facts are true whatever happened meanwhile, so they append without an expectation; the pod machine ignores those that
 * no longer apply. The time and id are fixed at the first attempt, so every retry is the same message (NATS dedups it).
 * If the daemon stops first, the fact is left to the next start, which re-derives what it owes from the folded state.
 */
export function emitterFor(store: EventStore, at: PodAddress, prefix: string, by: string, log: Logger, links: () => Links, stopping: AbortSignal, hostVersions: () => Iterable<string> | null = () => null): Emit {
  const podId = at.pod;
  return async (type, data, key) => {
    // a newer version of the type once every host of the cluster reads it (versions.ts), else the one this build writes
    const v = versionToWrite(type, hostVersions());
    const e = podEvent(type, podId, data, { id: `${podId}.${prefix}.${key}`, at: Date.now(), by, tenant: at.tenant, ...links(), v }) as PodEventOf<typeof type>;
    for (let attempt = 1; ; attempt++) {
      try {
        await store.append(e);
        if (attempt > 1) log.info({ pod: podId, type, attempts: attempt }, `recorded ${type} for pod ${podId} after ${attempt} attempts`);
        return;
      } catch (err) {
        // an invalid fact is a bug in this daemon: retrying cannot fix it
        if (err instanceof ValidationError) return void log.error({ err, pod: podId, type }, `could not record ${type} for pod ${podId}: it does not validate`);
        if (stopping.aborted) return void log.warn({ err, pod: podId, type }, `${type} for pod ${podId} not recorded before hyperd stopped; the next start re-derives it`);
        if (attempt === 1 || attempt % 10 === 0) log.warn({ err, pod: podId, type, attempt }, `could not record ${type} for pod ${podId} yet; retrying until NATS takes it`);
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)), undefined, { signal: stopping }).catch(() => {});
      }
    }
  };
}
