// Host leases and loss on the pure model: the fencing inequality, epochs, host.lost and pod.lost folds, stale host facts,
// and pods that wait for room. Times are plain numbers passed in: no clock is read.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ClusterView } from '../../src/model/cluster-view.js';
import { hostsToDeclareLost, isSilent, leaseOf, lossReason, mustFence, runsOnLostHosts } from '../../src/model/lease.js';
import { hostEvent, parseEvent, podEvent, type PodEvent } from '../../src/events/schemas/mod.js';
import { foldPod, initialPod, type PodFold } from '../../src/model/pod-fold.js';
import { spec } from '../harness/events.js';

let seq = 0;
let n = 0;
const apply = (v: ClusterView, e: unknown) => v.applyEvent(parseEvent(e), ++seq);
const joined = (host: string, daemon = `${host}-d`) =>
  hostEvent('host.joined', host, { capacity: { cpus: 4, memoryMb: 4096 }, drivers: ['hollow'], daemon, version: 't', hollow: true }, { id: `${host}.j${++n}`, at: 100 + n, by: `host:${host}` });
const lost = (host: string, epoch: number) => hostEvent('host.lost', host, { epoch, reason: 'no lease renewal for 3500 ms', silentMs: 3500 }, { id: `${host}.e${epoch}.lost.${++n}`, at: 5_000, by: 'host:b' });
const pe = (type: PodEvent['type'], data: unknown, by = 'test', pod = 'p1') => parseEvent(podEvent(type as 'pod.waiting', pod, data as never, { id: `${pod}.${type}.${++n}`, at: 1_000 + n, by })) as PodEvent;

const runningOn = (host: string, restartPolicy: 'never' | 'on-failure' | 'always' = 'never', pod = 'p1'): PodEvent[] => [
  pe('pod.requested', { spec: spec({ restartPolicy }), start: true }, 'cli:ana@x', pod),
  pe('pod.scheduled', { host, run: 1, attempt: 0 }, 'scheduler:d', pod),
  pe('vm.booting', { host, vm: `${pod}-r1`, driver: 'hollow', deadline: 9_999 }, `host:${host}`, pod),
  pe('vm.booted', { vm: `${pod}-r1`, bootMs: 5 }, `host:${host}`, pod),
  pe('agent.ready', { version: 'v' }, `host:${host}`, pod),
  pe('container.started', { container: 'main', pid: 7 }, `host:${host}`, pod),
];
const fold = (events: PodEvent[], from: PodFold = initialPod('p1')) => events.reduce(foldPod, from);
const lostRun = (host: string, run = 1) => pe('pod.lost', { host, run, reason: `host ${host} lost at 1970-01-01T00:00:05.000Z: silent` }, 'scheduler:b');

describe('the lease rule', () => {
  it('is derived from one setting: renewals every quarter lease, margins of a sixth', () => {
    expect(leaseOf(3_000)).toEqual({ leaseMs: 3_000, marginMs: 500, beatMs: 750 });
    expect(() => leaseOf(10)).toThrow(/at least 300 ms/);
  });

  it('a host fences itself before any survivor may declare it lost, whenever the survivor saw its last renewal', () => {
    // the survivor saw the renewal no earlier than it was sent; both count durations on their own clocks
    fc.assert(
      fc.property(fc.integer({ min: 300, max: 60_000 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 120_000 }), (leaseMs, seenDelay, t) => {
        const lease = leaseOf(leaseMs);
        const sent = 0;
        const seen = sent + seenDelay;
        // at any time the survivor may act, the host has been fenced for at least 2 × margin
        if (isSilent(lease, seen, t)) return mustFence(lease, sent, t - 2 * lease.marginMs + 1);
        return true;
      }),
    );
  });

  it('neither side acts while renewals keep coming', () => {
    const lease = leaseOf(3_000);
    expect(mustFence(lease, 1_000, 1_000 + 2_500)).toBe(false);
    expect(mustFence(lease, 1_000, 1_000 + 2_501)).toBe(true);
    expect(isSilent(lease, 1_000, 1_000 + 3_500)).toBe(false);
    expect(isSilent(lease, 1_000, 1_000 + 3_501)).toBe(true);
  });
});

describe('hosts: epochs and loss', () => {
  it('each join is a new epoch; a loss applies to the epoch it names, never to a later join', () => {
    const v = new ClusterView();
    apply(v, joined('a'));
    expect(v.hosts.get('a')).toMatchObject({ state: 'up', epoch: 1, lost: null });
    apply(v, lost('a', 1));
    expect(v.hosts.get('a')).toMatchObject({ state: 'lost', epoch: 1, lost: { at: 5_000, reason: 'no lease renewal for 3500 ms' } });
    apply(v, joined('a'));
    expect(v.hosts.get('a')).toMatchObject({ state: 'up', epoch: 2, lost: null });
    // a late (or replayed) loss of epoch 1 does not take down epoch 2
    apply(v, lost('a', 1));
    expect(v.hosts.get('a')!.state).toBe('up');
  });

  it('survivors pick only up hosts that are not their own and are silent past lease + margin', () => {
    const v = new ClusterView();
    for (const h of ['a', 'b', 'c']) apply(v, joined(h));
    apply(v, lost('c', 1));
    const lease = leaseOf(3_000);
    const seen: Record<string, number> = { a: 0, b: 0 };
    expect(hostsToDeclareLost(v.hosts.values(), lease, (h) => seen[h] ?? 0, 3_600, new Set(['b'])).map((h) => h.id)).toEqual(['a']);
    expect(hostsToDeclareLost(v.hosts.values(), lease, (h) => seen[h] ?? 0, 3_400, new Set(['b']))).toEqual([]);
  });

  it('a lost host\'s runs are the ones to end, and ending them releases its capacity', () => {
    const v = new ClusterView();
    apply(v, joined('a'));
    apply(v, joined('b'));
    for (const e of runningOn('a', 'always')) v.applyEvent(e, ++seq);
    expect(runsOnLostHosts(v)).toEqual([]);
    apply(v, lost('a', 1));
    expect(runsOnLostHosts(v).map((p) => p.context.id)).toEqual(['p1']);
    expect(lossReason(v.hosts.get('a')!)).toBe('host a lost at 1970-01-01T00:00:05.000Z: no lease renewal for 3500 ms');
    expect(v.usageOf('a').pods).toBe(1);
    v.applyEvent(lostRun('a'), ++seq);
    expect(v.usageOf('a')).toEqual({ cpus: 0, memoryMb: 0, pods: 0, measuredMb: 0 });
    expect(v.pods.get('p1')).toMatchObject({ state: 'pending', context: { run: 2, host: null, vm: null } });
    expect(runsOnLostHosts(v)).toEqual([]);
  });
});

describe('pod.lost', () => {
  it('restartable (always, on-failure): a new run, placed again, containers fresh', () => {
    for (const policy of ['always', 'on-failure'] as const) {
      const p = fold([...runningOn('a', policy), lostRun('a')]);
      expect(p.state).toBe('pending');
      expect(p.context).toMatchObject({ run: 2, attempt: 0, host: null, vm: null, attached: false, reason: expect.stringContaining('host a lost at') });
      expect(p.context.pendingSince).not.toBeNull();
      expect(p.context.containers.main).toMatchObject({ state: 'waiting' });
    }
  });

  it('never: the run fails with the host and time in its reason', () => {
    const p = fold([...runningOn('a', 'never'), lostRun('a')]);
    expect(p.state).toBe('failed');
    expect(p.context.reason).toMatch(/^host a lost at 1970-01-01T00:00:05.000Z/);
    expect(p.context.containers.main).toMatchObject({ state: 'failed' });
  });

  it('placed but never booted: placed again (same run) whatever the policy', () => {
    const p = fold([...runningOn('a', 'never').slice(0, 2), lostRun('a')]);
    expect(p).toMatchObject({ state: 'pending', context: { run: 1, attempt: 1, host: null } });
  });

  it('being stopped or deleted: the stop is done', () => {
    const stop = pe('pod.stop.requested', { graceMs: 1 }, 'cli:ana@x');
    expect(fold([...runningOn('a', 'always'), stop, lostRun('a')]).state).toBe('stopped');
    const del = pe('pod.delete.requested', { force: true }, 'cli:ana@x');
    expect(fold([...runningOn('a', 'always'), del, lostRun('a')]).state).toBe('deleted');
  });

  it('a loss naming another host or an earlier run changes nothing', () => {
    const running = fold(runningOn('a', 'always'));
    expect(foldPod(running, lostRun('b'))).toBe(running);
    expect(foldPod(running, lostRun('a', 7))).toBe(running);
  });

  it('what the old host reports after its run moved is ignored; the new host\'s facts count', () => {
    const moved = fold([...runningOn('a', 'always'), lostRun('a'), pe('pod.scheduled', { host: 'b', run: 2, attempt: 0 }, 'scheduler:d')]);
    expect(moved.state).toBe('scheduled');
    // owed facts of the fenced run landing after the partition heals
    for (const late of [pe('container.exited', { container: 'main', exitCode: 137 }, 'host:a'), pe('vm.exited', { vm: 'p1-r1', reason: 'killed' }, 'host:a'), pe('pod.stopped', {}, 'host:a')]) {
      expect(foldPod(moved, late)).toBe(moved);
    }
    expect(foldPod(moved, pe('vm.booting', { host: 'b', vm: 'p1-r2', driver: 'hollow', deadline: 1 }, 'host:b')).state).toBe('booting');
  });
});

describe('a pod that fits nowhere waits', () => {
  it('pod.waiting keeps it pending with the reason; pod.unschedulable (its wait timed out) fails it', () => {
    const req = pe('pod.requested', { spec: spec({ waitTimeoutMs: 1_000 }), start: true }, 'cli:ana@x');
    const waiting = fold([req, pe('pod.waiting', { reason: 'no host can fit 1 vCPU / 256 MB' }, 'scheduler:d')]);
    expect(waiting).toMatchObject({ state: 'pending', context: { reason: 'no host can fit 1 vCPU / 256 MB', pendingSince: req.at } });
    const gaveUp = foldPod(waiting, pe('pod.unschedulable', { reason: 'gave up after waiting 1 s for room' }, 'scheduler:d'));
    expect(gaveUp).toMatchObject({ state: 'failed', context: { pendingSince: null } });
    expect(foldPod(waiting, pe('pod.scheduled', { host: 'a', run: 1, attempt: 0 }, 'scheduler:d')).context.pendingSince).toBeNull();
  });
});
