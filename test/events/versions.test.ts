// Per-type event versions: older versions are upcast to the one this build reads (pure), a type this build writes at an
// older version goes out in that version's shape, and a newer version or an unknown type is refused by name.
import { describe, expect, it } from 'vitest';
import { EVENT_VERSIONS, hostEvent, parseEvent, podEvent, readsVersion, safeParseEvent, versionToWrite, writesVersion } from '../../src/events/schemas/mod.js';
import { compareVersions, dataForWrite, upcast } from '../../src/events/schemas/versions.js';
import { VERSION } from '../../src/version.js';

const joinedV1 = { id: 'h1.joined', v: 1, at: 1, by: 'host:h1', type: 'host.joined', host: 'h1', data: { capacity: { cpus: 8, memoryMb: 4096 }, drivers: ['hollow'], daemon: 'd1', version: '0.1.0', hollow: true } };

describe('event versions', () => {
  it('every versioned type reads what it writes, and has an upcaster for each older version', () => {
    for (const [type, t] of Object.entries(EVENT_VERSIONS)) {
      expect(t.writes, type).toBeLessThanOrEqual(t.reads);
      for (let n = 1; n < t.reads; n++) expect(typeof t.upcast[n], `${type} ${n}→${n + 1}`).toBe('function');
      if (t.writes < t.reads) expect(typeof t.write, `${type} writes an older version`).toBe('function');
    }
    expect(readsVersion('pod.requested')).toBe(1);
    expect(writesVersion('pod.requested')).toBe(1);
  });

  it('a host.joined of 0.1 (v1, no maxVm or reattach) is read as v2 with both filled in', () => {
    const e = parseEvent(joinedV1);
    expect(e.v).toBe(2);
    expect(e.type === 'host.joined' && e.data).toMatchObject({ maxVm: null, reattach: false, hollow: true });
    const withBoth = parseEvent({ ...joinedV1, data: { ...joinedV1.data, maxVm: { cpus: 4, memoryMb: 1024 }, reattach: true } });
    expect(withBoth.type === 'host.joined' && withBoth.data).toMatchObject({ maxVm: { cpus: 4, memoryMb: 1024 }, reattach: true });
    expect(joinedV1.v).toBe(1); // upcasting copies, the raw message is untouched
  });

  it('upcasting is pure: the same input gives the same output, again and again', () => {
    expect(upcast(joinedV1)).toEqual(upcast(joinedV1));
    expect(upcast({ type: 'pod.requested', v: 1 })).toEqual({ ok: true, raw: { type: 'pod.requested', v: 1 } });
  });

  it('host.joined is written as v1 while 0.4 daemons may still read the log (no null maxVm, which v1 does not allow)', () => {
    const e = hostEvent('host.joined', 'h1', { capacity: { cpus: 8, memoryMb: 4096 }, drivers: ['qemu'], daemon: 'd1', version: VERSION, hollow: false, maxVm: null, reattach: true }, { id: 'x', at: 1, by: 'host:h1' });
    expect(e.v).toBe(1);
    expect('maxVm' in e.data).toBe(false);
    expect(e.data.reattach).toBe(true);
    const read = parseEvent(e);
    expect(read.type === 'host.joined' && read.data.maxVm).toBe(null);
  });

  it('a version newer than this build reads is refused, naming the type, the version and what to do', () => {
    const r = safeParseEvent({ ...joinedV1, v: 3 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.newer).toEqual({ type: 'host.joined', v: 3, reads: 2 });
    expect(r.issues[0]).toEqual({ path: 'v', message: `host.joined version 3 is newer than this hyper reads (up to 2): written by a newer hyper — upgrade this one` });
  });

  it('an unknown type is refused as a newer hyper\'s (or a foreign client\'s), not as a malformed event', () => {
    const r = safeParseEvent({ ...joinedV1, type: 'host.drained' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.newer).toEqual({ type: 'host.drained', v: 1, reads: null });
    expect(r.issues[0].message).toMatch(/^unknown event type "host\.drained" \(this hyper knows \d+\): written by a newer hyper, or by a client that is not hyper$/);
  });

  it('a malformed old version is still refused by field, after its upcast', () => {
    const r = safeParseEvent({ ...joinedV1, data: { ...joinedV1.data, capacity: { cpus: 'many', memoryMb: 1 } } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain('data.capacity.cpus');
  });

  it('vm.booted v2 (origin, template) is read from 0.8 and still written as v1; a v1 reads as v2 without them', () => {
    const base = { id: 'p1.r1a0.booted', at: 1, by: 'host:h1', type: 'vm.booted', pod: 'p1', data: { vm: 'p1-r1a0', bootMs: 120 } };
    const v1 = parseEvent({ ...base, v: 1 });
    expect(v1.v).toBe(2);
    expect(v1.type === 'vm.booted' && v1.data).toEqual({ vm: 'p1-r1a0', bootMs: 120 });
    const v2 = parseEvent({ ...base, v: 2, data: { ...base.data, origin: 'template', template: '0123456789abcdef' } });
    expect(v2.type === 'vm.booted' && v2.data).toMatchObject({ origin: 'template', template: '0123456789abcdef' });
    expect(safeParseEvent({ ...base, v: 2, data: { ...base.data, origin: 'warm' } }).ok).toBe(false);
    expect(writesVersion('vm.booted')).toBe(1);
    expect(dataForWrite('vm.booted', { vm: 'p1-r1a0', bootMs: 120, origin: 'pool' })).toEqual({ vm: 'p1-r1a0', bootMs: 120 });
  });

  it('vm.booted is written as v2 once every host the cluster knows runs 0.8 or later, else as v1 without origin', () => {
    const data = { vm: 'p1-r1', bootMs: 80, origin: 'template' as const, template: '0123456789abcdef' };
    const meta = { id: 'p1.r1a0.vm.booted', at: 1, by: 'host:h1' };
    expect(versionToWrite('vm.booted', [VERSION])).toBe(2);
    expect(versionToWrite('vm.booted', ['0.8.0', '0.9.1', '1.0.0-rc.1'])).toBe(2);
    // a host of 0.7 (up, left or lost: it may come back as it was) would refuse v2; a host of no known version too
    expect(versionToWrite('vm.booted', ['0.8.0', '0.7.0'])).toBe(1);
    expect(versionToWrite('vm.booted', ['0.8.0', ''])).toBe(1);
    expect(versionToWrite('vm.booted', null)).toBe(1);
    // a type without a release to wait for is written as this build writes it, whatever the hosts
    expect(versionToWrite('host.joined', ['9.0.0'])).toBe(writesVersion('host.joined'));
    const v2 = parseEvent(podEvent('vm.booted', 'p1', data, { ...meta, v: 2 }));
    expect(v2.v).toBe(2);
    expect(v2.type === 'vm.booted' && v2.data).toMatchObject({ origin: 'template', template: '0123456789abcdef' });
    const v1 = podEvent('vm.booted', 'p1', data, { ...meta, v: 1 });
    expect(v1).toMatchObject({ v: 1, data: { vm: 'p1-r1', bootMs: 80 } });
    expect(v1.data).not.toHaveProperty('origin');
    expect(podEvent('vm.booted', 'p1', data, meta).v).toBe(writesVersion('vm.booted'));
  });

  it('compares hyper versions by number, not as strings', () => {
    expect(compareVersions('0.10.0', '0.8.0')).toBeGreaterThan(0);
    expect(compareVersions('0.8.0', '0.8.0')).toBe(0);
    expect(compareVersions('0.8.0-dev', '0.8.0')).toBe(0);
    expect(compareVersions('', '0.1.0')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '0.99.99')).toBeGreaterThan(0);
  });
});
