// Pure placement: pick the host that stays emptiest after taking the pod (spread), or say why none fits.
import type { Capacity } from '../events/schemas/host-events.js';

export interface Candidate {
  id: string;
  capacity: Capacity;
  used: { cpus: number; memoryMb: number };
  /** The largest VM this host's driver can run, if it said. */
  maxVm?: Capacity | null;
}

export type Placement = { host: string } | { reason: string };

/** FNV-1a with a murmur finaliser: a stable hash for tie-breaks and rendezvous ranking (no randomness, so every daemon agrees). */
export function hash(s: string): number {
  return finish(fnv(FNV_BASIS, s));
}

const FNV_BASIS = 0x811c9dc5;

/** FNV-1a over `s`, continuing from `h`: hash(a + b) is finish(fnv(fnv(FNV_BASIS, a), b)), with no string built. */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function finish(h: number): number {
  // murmur3's finalizer: FNV alone spreads near-identical keys (pod1, pod2…) poorly
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function place(podId: string, need: Capacity, hosts: Candidate[]): Placement {
  if (hosts.length === 0) return { reason: 'no host is up: start one with `hyperd` (or `hyper daemon`)' };
  const fits = (h: Candidate) => !h.maxVm || (need.cpus <= h.maxVm.cpus && need.memoryMb <= h.maxVm.memoryMb);
  const able = hosts.every(fits) ? hosts : hosts.filter(fits);
  if (able.length === 0) {
    const biggest = hosts.map((h) => h.maxVm!).sort((a, b) => b.cpus - a.cpus || b.memoryMb - a.memoryMb)[0];
    return { reason: `no host's driver runs a VM of ${need.cpus} vCPU / ${need.memoryMb} MB: the largest any can run is ${biggest.cpus} vCPU / ${biggest.memoryMb} MB (hyper info lists each driver's limits)` };
  }
  hosts = able;
  let best: Candidate | null = null;
  let bestScore = -1;
  let bestTie = 0;
  const prefix = fnv(FNV_BASIS, `${podId}/`);
  for (const h of hosts) {
    const freeCpus = h.capacity.cpus - h.used.cpus - need.cpus;
    const freeMem = h.capacity.memoryMb - h.used.memoryMb - need.memoryMb;
    if (freeCpus < 0 || freeMem < 0) continue;
    const score = Math.min(freeCpus / h.capacity.cpus, freeMem / h.capacity.memoryMb);
    // hash(`${podId}/${h.id}`), without building the string for every host
    const tie = finish(fnv(prefix, h.id));
    if (score > bestScore || (score === bestScore && tie > bestTie)) {
      best = h;
      bestScore = score;
      bestTie = tie;
    }
  }
  if (best) return { host: best.id };
  const roomiest = [...hosts].sort((a, b) => b.capacity.memoryMb - b.used.memoryMb - (a.capacity.memoryMb - a.used.memoryMb))[0];
  return {
    reason:
      `no host can fit ${need.cpus} vCPU / ${need.memoryMb} MB: ` +
      `the roomiest, ${roomiest.id}, has ${roomiest.capacity.cpus - roomiest.used.cpus} vCPU / ${roomiest.capacity.memoryMb - roomiest.used.memoryMb} MB free ` +
      `(of ${hosts.length} host${hosts.length === 1 ? '' : 's'} up) — lower --cpus/--memory, stop pods, or add a host`,
  };
}

/** Rendezvous ranking of daemons for one pod: rank 0 schedules at once, the others only if it has not after their grace. */
export function rankOf(podId: string, daemon: string, daemons: string[]): number {
  if (daemons.length === 1 && daemons[0] === daemon) return 0;
  const prefix = fnv(FNV_BASIS, `${podId}@`);
  const mine = finish(fnv(prefix, daemon));
  let rank = 0;
  for (const d of daemons) if (d !== daemon && finish(fnv(prefix, d)) > mine) rank++;
  return rank;
}
