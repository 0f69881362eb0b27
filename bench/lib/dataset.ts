// Synthetic but valid event logs for benchmarks: hosts joining and pods walking a full lifecycle.
import { hostEvent, parseEvent, podEvent, PodSpec, type HyperEvent } from '../../src/events/schemas/mod.js';
import type { EventStore } from '../../src/events/store/event-store.js';

const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'registry.local/app:1', command: ['/bin/app', '--serve'], env: { MODE: 'bench' } }] });

export function hostJoined(host: string, at: number): HyperEvent {
  return hostEvent('host.joined', host, { capacity: { cpus: 100_000, memoryMb: 100_000_000 }, drivers: ['hollow'], daemon: `${host}-bench`, version: 'bench', hollow: true, maxVm: null, reattach: false }, { id: `${host}.joined`, at, by: 'bench' });
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
  return windowed(events, window, (e) => store.append(e), onProgress);
}

/**
 * Runs `send` for each item with at most `window` in flight (one waiter for a free slot: racing every promise in flight
 * adds a reaction to each per item); with `ratePerSec`, items start no faster than that. Returns items sent per second.
 */
export async function windowed<T>(items: Iterable<T>, window: number, send: (item: T) => Promise<unknown>, onProgress?: (n: number) => void, ratePerSec?: number): Promise<number> {
  const t0 = performance.now();
  let inflight = 0;
  let slot: (() => void) | null = null;
  let n = 0;
  const all: Promise<unknown>[] = [];
  for (const item of items) {
    if (ratePerSec) {
      const due = t0 + (n * 1000) / ratePerSec;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    inflight++;
    all.push(send(item).finally(() => {
      inflight--;
      slot?.();
      slot = null;
    }));
    if (++n % 20_000 === 0) onProgress?.(n);
    while (inflight >= window) await new Promise<void>((r) => (slot = r));
  }
  await Promise.all(all);
  return n / ((performance.now() - t0) / 1000);
}
