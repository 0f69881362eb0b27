// `GET /events`: Docker's container events from hyper's event log, the best source any engine has for them: create,
// start, die (with its exit code), oom, kill, stop, rename, destroy, each with the container's name and image, in the log's
// order, between since and until (unix seconds; without since, from now on, as docker's), and followed live without until.
import type { ServerResponse } from 'node:http';
import type { EventStore } from '../events/store/event-store.js';
import type { PodEvent } from '../events/schemas/mod.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';
import type { Record_ } from '../model/record.js';

export interface DockerEvent {
  Type: 'container';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  status: string;
  id: string;
  from: string;
  scope: 'local';
  time: number;
  timeNano: number;
}

interface Known { name: string; image: string; labels: Record<string, string> }

/** The Docker action a pod event is, if any (a pod of one container: its id is the container's). */
function actionOf(e: PodEvent): { action: string; extra?: Record<string, string> } | null {
  switch (e.type) {
    case 'pod.requested': return { action: 'create' };
    case 'container.started': return { action: 'start' };
    case 'container.exited': return { action: 'die', extra: { exitCode: String(e.data.exitCode) } };
    case 'container.oom': return { action: 'oom' };
    case 'pod.killed': return { action: 'kill', extra: { signal: String(e.data.signal) } };
    case 'pod.stopped': return { action: 'stop' };
    case 'pod.delete.requested': return { action: 'destroy' };
    case 'pod.rename.requested': return { action: 'rename' };
    default: return null;
  }
}

export interface EventQuery { sinceMs: number | null; untilMs: number | null; containers: string[]; actions: string[] }

/** Docker's events of one record, as the pods known so far name them (their pod.requested comes first in the log). */
export function toDockerEvents(r: Record_, known: Map<string, Known>, q: EventQuery): DockerEvent[] {
  if (!r.ok || !('pod' in r.event)) return [];
  const e = r.event as PodEvent;
  if ((e.tenant ?? DEFAULT_TENANT) !== DEFAULT_TENANT) return [];
  if (e.type === 'pod.requested') known.set(e.pod, { name: e.data.spec.name ?? e.pod, image: e.data.spec.containers[0].image, labels: e.data.spec.labels });
  const a = actionOf(e);
  let k = known.get(e.pod);
  if (!a || !k) return [];
  if (e.type === 'pod.rename.requested') {
    a.extra = { oldName: `/${k.name}` };
    known.set(e.pod, (k = { ...k, name: e.data.name }));
  }
  if (q.sinceMs !== null && e.at < q.sinceMs) return [];
  if (q.untilMs !== null && e.at > q.untilMs) return [];
  if (q.actions.length && !q.actions.includes(a.action)) return [];
  if (q.containers.length && !q.containers.some((c) => c === k.name || e.pod.startsWith(c))) return [];
  return [{ Type: 'container', Action: a.action, Actor: { ID: e.pod, Attributes: { name: k.name, image: k.image, ...k.labels, ...a.extra } }, status: a.action, id: e.pod, from: k.image, scope: 'local', time: Math.floor(e.at / 1000), timeNano: e.at * 1_000_000 }];
}

/** Streams the events as JSON lines: the log from its start (for names), then live unless `until` was given. */
export async function streamEvents(store: EventStore, q: EventQuery, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const known = new Map<string, Known>();
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  // an until still to come ends the stream when it comes, events or not
  const timer = q.untilMs !== null && q.untilMs > Date.now() ? setTimeout(() => abort.abort(), q.untilMs - Date.now()) : null;
  const batches = q.untilMs !== null && q.untilMs <= Date.now() ? store.replayBatches(1) : store.readBatches({ fromSeq: 1, signal: abort.signal });
  try {
    outer: for await (const batch of batches) {
      const lines: string[] = [];
      for (const r of batch) {
        if (q.untilMs !== null && r.ok && r.event.at > q.untilMs) break outer;
        for (const d of toDockerEvents(r, known, q)) lines.push(JSON.stringify(d));
      }
      if (lines.length) res.write(lines.join('\n') + '\n');
      if (abort.signal.aborted) break;
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    if (timer) clearTimeout(timer);
  }
  res.end();
}
