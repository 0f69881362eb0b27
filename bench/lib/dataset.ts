// Synthetic but valid event logs for benchmarks: hosts joining and pods walking a full lifecycle.
import { hostEvent, parseEvent, podEvent, PodSpec, type HyperEvent } from '../../src/events/schemas/mod.js';
import type { EventStore } from '../../src/events/store/event-store.js';

const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'registry.local/app:1', command: ['/bin/app', '--serve'], env: { MODE: 'bench' } }] });

export function hostJoined(host: string, at: number): HyperEvent {
  return hostEvent('host.joined', host, { capacity: { cpus: 100_000, memoryMb: 100_000_000 }, drivers: ['hollow'], daemon: `${host}-bench`, version: 'bench', hollow: true }, { id: `${host}.joined`, at, by: 'bench' });
}

/** Eight events: requested → scheduled → booting → booted → agent ready → started → stop requested → stopped. */
export function podLifecycle(pod: string, host: string, at: number): HyperEvent[] {
  const m = (k: string, dt: number) => ({ id: `${pod}.${k}`, at: at + dt, by: `host:${host}` });
  return [
    podEvent('pod.requested', pod, { spec, start: true }, m('req', 0)),
    podEvent('pod.scheduled', pod, { host, run: 1, attempt: 0 }, m('sched', 1)),
    podEvent('vm.booting', pod, { host, vm: `${pod}-r1`, driver: 'hollow', deadline: at + 30_000 }, m('booting', 2)),
    podEvent('vm.booted', pod, { vm: `${pod}-r1`, bootMs: 3 }, m('booted', 5)),
    podEvent('agent.ready', pod, { version: 'bench' }, m('agent', 6)),
    podEvent('container.started', pod, { container: 'main', pid: 2 }, m('started', 7)),
    podEvent('pod.stop.requested', pod, { graceMs: 10_000 }, m('stopreq', 100)),
    podEvent('pod.stopped', pod, {}, m('stopped', 101)),
  ].map((e) => parseEvent(e));
}

/** Appends events keeping `window` publishes in flight; returns events appended per second. */
export async function appendAll(store: EventStore, events: Iterable<HyperEvent>, window = 1_000, onProgress?: (n: number) => void): Promise<number> {
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  let n = 0;
  for (const e of events) {
    const p: Promise<unknown> = store.append(e).then((): void => void inflight.delete(p));
    inflight.add(p);
    if (++n % 20_000 === 0) onProgress?.(n);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return n / ((performance.now() - t0) / 1000);
}
