// Pure placement: spreads by free capacity, refuses with a reason naming the roomiest host, ranks daemons deterministically.
import { describe, expect, it } from 'vitest';
import { hash, place, rankOf } from '../../src/model/placement.js';

const host = (id: string, cpus: number, memoryMb: number, used = { cpus: 0, memoryMb: 0 }) => ({ id, capacity: { cpus, memoryMb }, used });

describe('place', () => {
  it('picks the host left emptiest', () => {
    const r = place('p1', { cpus: 1, memoryMb: 256 }, [host('a', 8, 4096, { cpus: 6, memoryMb: 1024 }), host('b', 8, 4096, { cpus: 1, memoryMb: 512 })]);
    expect(r).toEqual({ host: 'b' });
  });

  it('skips hosts that cannot fit and says why when none can', () => {
    expect(place('p1', { cpus: 4, memoryMb: 256 }, [host('a', 2, 8192), host('b', 8, 8192)])).toEqual({ host: 'b' });
    const r = place('p1', { cpus: 1, memoryMb: 9000 }, [host('a', 8, 8192, { cpus: 0, memoryMb: 1000 }), host('b', 8, 4096)]);
    expect('reason' in r && r.reason).toMatch(/no host can fit 1 vCPU \/ 9000 MB: the roomiest, a, has 8 vCPU \/ 7192 MB free \(of 2 hosts up\)/);
  });

  it('refuses with a hint when no host is up', () => {
    expect(place('p1', { cpus: 1, memoryMb: 1 }, [])).toEqual({ reason: expect.stringContaining('no host is up') });
  });

  it('spreads equal hosts by pod id (deterministic, so every daemon agrees)', () => {
    const hosts = ['a', 'b', 'c', 'd'].map((id) => host(id, 8, 8192));
    const chosen = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const r = place(`pod${i}`, { cpus: 1, memoryMb: 1 }, hosts) as { host: string };
      expect(place(`pod${i}`, { cpus: 1, memoryMb: 1 }, hosts)).toEqual(r);
      chosen.set(r.host, (chosen.get(r.host) ?? 0) + 1);
    }
    expect([...chosen.values()].length).toBe(4);
    for (const n of chosen.values()) expect(n).toBeGreaterThan(60);
  });
});

describe('agreement across versions', () => {
  // daemons of different versions share a cluster (rolling upgrades): the hash, tie-breaks and ranks must not change.
  // These values were computed by the 0.6 code (before the hashing was made incremental).
  it('hashes, breaks ties and ranks exactly as earlier versions did', () => {
    expect(hash('pod-1/host-a')).toBe(662812681);
    const hosts = ['a', 'b', 'c', 'd', 'e'].map((id) => host(id, 8, 8192));
    const picks = Array.from({ length: 12 }, (_, i) => (place(`pod${i}`, { cpus: 1, memoryMb: 1 }, hosts) as { host: string }).host);
    expect(picks).toEqual(['c', 'c', 'e', 'd', 'd', 'a', 'c', 'b', 'a', 'c', 'c', 'e']);
    const ds = ['d1', 'd2', 'd3'];
    expect([0, 1, 2, 3, 4, 5].map((i) => ds.map((d) => rankOf(`pod${i}`, d, ds)))).toEqual([[1, 2, 0], [0, 1, 2], [2, 1, 0], [0, 1, 2], [0, 1, 2], [2, 0, 1]]);
    expect(rankOf('pod0', 'd1', ['d1'])).toBe(0);
  });
});

describe('rankOf', () => {
  it('gives every daemon a distinct rank per pod, rank 0 to exactly one', () => {
    const daemons = ['d1', 'd2', 'd3', 'd4', 'd5'];
    for (let i = 0; i < 100; i++) {
      const ranks = daemons.map((d) => rankOf(`pod${i}`, d, daemons)).sort();
      expect(ranks).toEqual([0, 1, 2, 3, 4]);
    }
  });
});

describe('placement and driver limits', () => {
  it('skips a host whose driver cannot run a VM that big, and says so when none can', () => {
    const small = { id: 'small', capacity: { cpus: 64, memoryMb: 65536 }, used: { cpus: 0, memoryMb: 0 }, maxVm: { cpus: 2, memoryMb: 4096 } };
    const big = { id: 'big', capacity: { cpus: 8, memoryMb: 8192 }, used: { cpus: 0, memoryMb: 0 }, maxVm: { cpus: 8, memoryMb: 8192 } };
    expect(place('p', { cpus: 4, memoryMb: 512 }, [small, big])).toEqual({ host: 'big' });
    expect(place('p', { cpus: 16, memoryMb: 512 }, [small, big])).toEqual({ reason: expect.stringMatching(/no host's driver runs a VM of 16 vCPU \/ 512 MB: the largest any can run is 8 vCPU \/ 8192 MB/) });
  });
});
