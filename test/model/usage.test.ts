// Capacity by measured use on the pure model: host.usage folds into each host's usage (a VM's measure, never more than it
// was given, what it was given until measured), survives a snapshot, and lets placement fit pods by what they take; the
// usage meter's pure half decides which VMs are reported and when a new measure is worth an event.
import { describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/model/cluster-view.js';
import { place } from '../../src/model/placement.js';
import { changed, podVms } from '../../src/actors/host/usage-meter.js';
import { hostEvent, mayWrite, parseEvent, podEvent, type PodEvent } from '../../src/events/schemas/mod.js';
import { spec } from '../harness/events.js';

let seq = 0;
let n = 0;
const apply = (v: ClusterView, e: unknown) => v.applyEvent(parseEvent(e), ++seq);
const joined = (host: string, memoryMb = 1024) =>
  hostEvent('host.joined', host, { capacity: { cpus: 64, memoryMb }, drivers: ['qemu'], daemon: `${host}-d`, version: '0.8.0', hollow: false, maxVm: null, reattach: true }, { id: `${host}.j${++n}`, at: 100 + n, by: `host:${host}` });
const usage = (host: string, memoryMbByVm: Record<string, number>) => hostEvent('host.usage', host, { memoryMbByVm }, { id: `${host}.usage.${++n}`, at: 2_000 + n, by: `host:${host}` });
const pe = (pod: string, type: PodEvent['type'], data: unknown) => parseEvent(podEvent(type as 'pod.waiting', pod, data as never, { id: `${pod}.${type}.${++n}`, at: 1_000 + n, by: 'test' }));
/** A pod of `memoryMb` running on `host` in run `run` (VM `${pod}-r${run}`). */
function run(v: ClusterView, pod: string, host: string, memoryMb = 256) {
  for (const e of [
    pe(pod, 'pod.requested', { spec: spec({ resources: { cpus: 1, memoryMb } }), start: true }),
    pe(pod, 'pod.scheduled', { host, run: 1, attempt: 0 }),
    pe(pod, 'vm.booting', { host, vm: `${pod}-r1`, driver: 'qemu', deadline: 9_999 }),
    pe(pod, 'vm.booted', { vm: `${pod}-r1`, bootMs: 5 }),
  ]) v.applyEvent(e, ++seq);
}

describe('memory by measured use', () => {
  it('a host\'s pods count what their VMs take once measured, what they were given before, never more', () => {
    const v = new ClusterView();
    apply(v, joined('h'));
    run(v, 'p1', 'h');
    run(v, 'p2', 'h');
    expect(v.usageOf('h')).toEqual({ cpus: 2, memoryMb: 512, pods: 2, measuredMb: 512 });
    apply(v, usage('h', { 'p1-r1': 35, 'p2-r1': 400 }));
    // p2 took more than it was given (QEMU's own memory): it counts its 256
    expect(v.usageOf('h')).toMatchObject({ memoryMb: 512, measuredMb: 35 + 256 });
    // a pod placed after the measure counts what it is given until the next one
    run(v, 'p3', 'h');
    expect(v.usageOf('h').measuredMb).toBe(35 + 256 + 256);
    apply(v, usage('h', { 'p1-r1': 35, 'p2-r1': 36, 'p3-r1': 34 }));
    expect(v.usageOf('h').measuredMb).toBe(105);
    // a pod that ends takes its measure with it
    v.applyEvent(pe('p2', 'pod.stop.requested', {}), ++seq);
    v.applyEvent(pe('p2', 'pod.stopped', { reason: 'stop requested' }), ++seq);
    expect(v.usageOf('h')).toMatchObject({ pods: 2, memoryMb: 512, measuredMb: 69 });
    // a measure of a VM on another host, or of one no pod holds, counts for nothing
    apply(v, joined('g'));
    apply(v, usage('g', { 'p1-r1': 1, ghost: 99 }));
    expect(v.usageOf('h').measuredMb).toBe(69);
    expect(v.usageOf('g').measuredMb).toBe(0);
  });

  it('is kept through a snapshot and rebuilt the same by a fold from it', () => {
    const v = new ClusterView();
    apply(v, joined('h'));
    for (const p of ['a', 'b', 'c']) run(v, p, 'h');
    apply(v, usage('h', { 'a-r1': 30, 'b-r1': 31, 'c-r1': 32 }));
    const back = ClusterView.fromSnapshot(JSON.parse(JSON.stringify(v.toSnapshot())));
    expect(back.usageOf('h')).toEqual(v.usageOf('h'));
    expect(back.hosts.get('h')?.measured).toEqual({ memoryMbByVm: { 'a-r1': 30, 'b-r1': 31, 'c-r1': 32 }, at: expect.any(Number) });
  });

  it('lets placement fit pods by what they take: a 1,024 MB host holds 4 pods of 256 MB given, 20 of 40 MB measured', () => {
    const v = new ClusterView();
    apply(v, joined('h', 1024));
    for (let i = 0; i < 4; i++) run(v, `q${i}`, 'h');
    const candidate = (used: number) => [{ id: 'h', capacity: { cpus: 64, memoryMb: 1024 }, used: { cpus: v.usageOf('h').cpus, memoryMb: used } }];
    expect(place('q4', { cpus: 1, memoryMb: 256 }, candidate(v.usageOf('h').measuredMb))).toMatchObject({ reason: expect.stringMatching(/no host can fit/) });
    apply(v, usage('h', Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`q${i}-r1`, 40]))));
    expect(place('q4', { cpus: 1, memoryMb: 256 }, candidate(v.usageOf('h').measuredMb))).toEqual({ host: 'h' });
    expect(v.usageOf('h').memoryMb).toBe(1024);
  });

  it('host.usage is written only once every host of the cluster reads it (0.8 and later)', () => {
    expect(mayWrite('host.usage', ['0.8.0', '0.9.0'])).toBe(true);
    expect(mayWrite('host.usage', ['0.8.0', '0.7.0'])).toBe(false);
    expect(mayWrite('host.usage', null)).toBe(false);
    expect(mayWrite('pod.requested', ['0.1.0'])).toBe(true);
    expect(() => parseEvent(usage('h', { 'bad vm': 1 }))).toThrow(/memoryMbByVm/);
    expect(() => parseEvent(usage('h', { 'p1-r1': -1 }))).toThrow(/memoryMbByVm/);
  });
});

describe('the usage meter', () => {
  it('reports the VMs of the pods this host holds, and a new measure only when one came, went or moved enough', () => {
    const v = new ClusterView();
    apply(v, joined('h'));
    apply(v, joined('g'));
    run(v, 'p1', 'h');
    run(v, 'p2', 'g');
    // a pool's or spare's QEMU (no pod's) and another host's VM are left out
    expect(podVms(v, 'h', new Map([['p1-r1', 33], ['p2-r1', 30], ['p-pool', 20]]))).toEqual({ 'p1-r1': 33 });
    expect(changed(undefined, {})).toBe(false);
    expect(changed(undefined, { a: 30 })).toBe(true);
    expect(changed({ a: 30 }, { a: 32 })).toBe(false); // idle noise
    expect(changed({ a: 30 }, { a: 40 })).toBe(true);
    expect(changed({ a: 300 }, { a: 305 })).toBe(false); // 5 MB of 300: under a tenth
    expect(changed({ a: 30 }, { a: 30, b: 30 })).toBe(true);
    expect(changed({ a: 30, b: 30 }, { a: 30 })).toBe(true);
    expect(changed({ a: 30 }, { b: 30 })).toBe(true);
  });
});
