// Host leases, pure: when a survivor may declare a silent host lost, when a host must fence itself, which runs a loss ends.
// Times are durations on each process's own monotonic clock, passed in: no clock is read here, and no two clocks are compared.
import type { ClusterView, HostRecord, PodRecord } from './cluster-view.js';
import { HOLDS_RESOURCES } from './pod-machine.js';

export interface Lease {
  /** How long a host may run pods after its last renewal that NATS acknowledged (by its own clock). */
  leaseMs: number;
  /** Survivors wait this much past the lease (by theirs); the host fences this much before it: together, the room for clock-rate drift. */
  marginMs: number;
  /** How often a host renews. */
  beatMs: number;
}

/**
 * 3 s: failover in ~4 s (renewals every 750 ms; survivors act 3.5 s after the last one). Renewals run on a worker thread,
 * so a saturated daemon (five on two cores placing 1,000 pods; two placing 10,000) still renews on time.
 */
export const DEFAULT_LEASE_MS = 3_000;

/** The lease, its margin and renewal period from one setting: renewals every quarter lease, margins of a sixth. */
export function leaseOf(leaseMs = DEFAULT_LEASE_MS): Lease {
  if (!Number.isFinite(leaseMs) || leaseMs < 300) throw new RangeError(`a host lease must be at least 300 ms, not ${leaseMs}`);
  return { leaseMs, marginMs: Math.max(50, Math.round(leaseMs / 6)), beatMs: Math.max(50, Math.round(leaseMs / 4)) };
}

/**
 * Whether a survivor may declare a host lost: silent (no renewal seen) for longer than the lease plus the margin, measured
 * from when this survivor last saw it renew — or from when it started watching, if it never has.
 */
export function isSilent(lease: Lease, lastSeenAt: number, now: number): boolean {
  return now - lastSeenAt > lease.leaseMs + lease.marginMs;
}

/**
 * Whether a host must stop its pods: its last acknowledged renewal was sent longer ago than the lease minus the margin.
 * A survivor saw that renewal no earlier than it was sent, and waits lease + margin from then, so with clocks whose
 * rates differ by less than margin/lease the host has stopped everything a full 2 × margin before anyone acts.
 */
export function mustFence(lease: Lease, lastRenewalSentAt: number, now: number): boolean {
  return now > fenceDeadline(lease, lastRenewalSentAt);
}

/** The moment (same clock as the renewal's) after which a host whose last acknowledged renewal was sent then must have fenced. */
export function fenceDeadline(lease: Lease, lastRenewalSentAt: number): number {
  return lastRenewalSentAt + lease.leaseMs - lease.marginMs;
}

/** Hosts this survivor should declare lost now: up, not its own, and silent by the rule above. */
export function hostsToDeclareLost<H extends { id: string; state: string }>(hosts: Iterable<H>, lease: Lease, lastSeen: (host: string) => number, now: number, local: ReadonlySet<string>): H[] {
  const out: H[] = [];
  for (const h of hosts) if (h.state === 'up' && !local.has(h.id) && isSilent(lease, lastSeen(h.id), now)) out.push(h);
  return out;
}

/** Runs that a loss ended but the log does not say so yet: pods holding resources on a host that is lost. */
export function runsOnLostHosts(view: ClusterView): PodRecord[] {
  const lost = new Set<string>();
  for (const h of view.hosts.values()) if (h.state === 'lost' && view.usageOf(h.id).pods > 0) lost.add(h.id);
  if (lost.size === 0) return [];
  const out: PodRecord[] = [];
  for (const p of view.pods.values()) if (p.context.host && lost.has(p.context.host) && HOLDS_RESOURCES.has(p.state)) out.push(p);
  return out;
}

/** The words a lost run's pod carries: which host, when (the loss's own time, as RFC 3339), and why. */
export function lossReason(host: HostRecord): string {
  const at = host.lost ? new Date(host.lost.at).toISOString() : 'an unknown time';
  return `host ${host.id} lost at ${at}: ${host.lost?.reason ?? 'silent past its lease'}`;
}
