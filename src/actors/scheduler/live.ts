// The live scheduler (one per daemon): tries to place pending pods with an OCC-guarded append; the first writer wins, no
// leader needed. A pod that fits nowhere waits (pod.waiting, once) and is tried again, oldest first, whenever capacity
// may have appeared — a pod ended or moved, a host joined — until its wait timeout, if it has one, gives up.
import { hostsWithPortsFree } from '../../net/ipam.js';
import { ConflictError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { podEvent } from '../../events/schemas/mod.js';
import type { EventStore } from '../../events/store/event-store.js';
import type { Change, ClusterView, HostRecord, PodRecord } from '../../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../../model/pod-machine.js';
import { place, rankOf, type Placement } from '../../model/placement.js';
import { linksOf } from '../emit.js';

export interface SchedulerDeps {
  view: ClusterView;
  store: EventStore;
  daemonId: string;
  aliveHosts: () => HostRecord[];
  log: Logger;
  /** How long a daemon of rank r waits (r × graceMs) before placing a pod its betters have not placed. */
  graceMs?: number;
}

export class Scheduler {
  /** Placements we appended but have not yet folded back (kube-scheduler's "assume"): keeps a burst from piling onto one host. */
  private readonly assumed = new Map<string, { host: string; cpus: number; memoryMb: number }>();
  /** The same, summed per host, so a placement costs O(hosts) however many are in flight. */
  private readonly assumedByHost = new Map<string, { cpus: number; memoryMb: number }>();
  private readonly waiting = new Map<string, number>();
  /** Pods no host could fit, by id: tried again, in the order they became pending, when capacity may have appeared. */
  private readonly blocked = new Set<string>();
  private capacityChanged = false;
  private readonly timer: NodeJS.Timeout;
  private readonly graceMs: number;
  private readonly noted = new Set<string>();
  placed = 0;
  conflicts = 0;

  constructor(private readonly d: SchedulerDeps) {
    this.graceMs = d.graceMs ?? 1_000;
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(250, this.graceMs / 2)));
    this.timer.unref();
  }

  /** Fed only with live changes. */
  onChange(c: Change): void {
    if (c.kind === 'host') {
      // a host joined, or measured its VMs (host.usage: what they take may leave room that what they were given did not)
      if (c.event.type === 'host.joined' || c.event.type === 'host.usage') this.capacityChanged = true;
      return;
    }
    if (c.kind !== 'pod' || !c.accepted) return;
    if (c.event.type === 'pod.scheduled' || c.event.type === 'pod.unschedulable') this.forget(c.pod.context.id);
    if (c.pod.state !== 'pending') this.blocked.delete(c.pod.context.id);
    if (HOLDS_RESOURCES.has(c.before) && !HOLDS_RESOURCES.has(c.pod.state)) this.capacityChanged = true;
    if (c.pod.state === 'pending' && c.before !== 'pending') this.consider(c.pod);
  }

  /**
   * A pod this daemon's acceptor has just written (its record folded from that one pod.requested): placed at once when it
   * is this daemon's to place, instead of after the log brings it back through the follow — an intent is then placed in
   * the same step that accepts it. Once the view has folded the pod, the usual path decides (whichever comes first places;
   * the other finds it assumed).
   */
  placeAccepted(pod: PodRecord): void {
    if (pod.state !== 'pending' || this.d.view.pods.has(pod.context.id)) return;
    if (rankOf(pod.context.id, this.d.daemonId, this.daemons()) === 0) void this.attemptOn(pod);
  }

  /** After catching up: every pod still pending is ours to consider. */
  considerAll(): void {
    for (const p of this.d.view.pods.values()) if (p.state === 'pending') this.consider(p);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private assume(podId: string, host: string, need: { cpus: number; memoryMb: number }): void {
    this.assumed.set(podId, { host, ...need });
    const a = this.assumedByHost.get(host) ?? { cpus: 0, memoryMb: 0 };
    a.cpus += need.cpus;
    a.memoryMb += need.memoryMb;
    this.assumedByHost.set(host, a);
  }

  private forget(podId: string): void {
    const x = this.assumed.get(podId);
    if (!x) return;
    this.assumed.delete(podId);
    const a = this.assumedByHost.get(x.host)!;
    a.cpus -= x.cpus;
    a.memoryMb -= x.memoryMb;
  }

  private daemons(alive = this.d.aliveHosts()): string[] {
    // a handful of daemons run many hosts: a short array beats a Set per call
    const out: string[] = [];
    for (const h of alive) if (!out.includes(h.daemon)) out.push(h.daemon);
    return out;
  }

  private consider(pod: PodRecord): void {
    const rank = rankOf(pod.context.id, this.d.daemonId, this.daemons());
    if (rank === 0) void this.attempt(pod.context.id);
    else this.waiting.set(pod.context.id, Date.now() + rank * this.graceMs);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, due] of this.waiting) {
      if (due > now) continue;
      this.waiting.delete(id);
      void this.attempt(id);
    }
    if (this.blocked.size === 0) return;
    const retry = this.capacityChanged;
    this.capacityChanged = false;
    // oldest first; a wait timeout is checked even when nothing changed
    const order = [...this.blocked].map((id) => this.d.view.pods.get(id)).filter((p): p is PodRecord => p?.state === 'pending');
    order.sort((a, b) => (a.context.pendingSince ?? 0) - (b.context.pendingSince ?? 0) || a.seq - b.seq);
    for (const p of order) if (retry || timedOut(p, now)) void this.attempt(p.context.id);
  }

  /**
   * A pod that publishes fixed host ports goes only where they are free (the view knows every port a live run holds);
   * where none is, it waits like a pod without room, the reason naming who holds the port.
   */
  private withPorts<C extends { id: string }>(pod: PodRecord, candidates: C[], choose: (c: C[]) => Placement): Placement {
    const { free, clash } = hostsWithPortsFree(this.d.view, pod, candidates.map((c) => c.id));
    if (free.length === candidates.length) return choose(candidates);
    if (free.length) return choose(candidates.filter((c) => free.includes(c.id)));
    return { reason: `${clash}${candidates.length > 1 ? ' (and on every other host up)' : ''}: it waits for the port, or publish another` };
  }

  /** Pods waiting for room (for `hyper ps` and tests). */
  get blockedCount(): number {
    return this.blocked.size;
  }

  private attempt(podId: string): Promise<void> {
    const pod = this.d.view.pods.get(podId);
    return pod ? this.attemptOn(pod) : Promise.resolve();
  }

  private async attemptOn(pod: PodRecord): Promise<void> {
    const podId = pod.context.id;
    if (pod.state !== 'pending' || !pod.context.spec || this.assumed.has(podId)) return;
    const need = pod.context.spec.resources;
    const candidates = this.d.aliveHosts().map((h) => {
      const u = this.d.view.usageOf(h.id);
      const a = this.assumedByHost.get(h.id);
      // memory as its host last measured it (host.usage), a VM not measured yet as what it is given
      return { id: h.id, capacity: h.capacity, maxVm: h.maxVm, used: { cpus: u.cpus + (a?.cpus ?? 0), memoryMb: u.measuredMb + (a?.memoryMb ?? 0) } };
    });
    const choice = this.withPorts(pod, candidates, (ok) => place(podId, need, ok));
    const { run, attempt } = pod.context;
    const meta = { at: Date.now(), by: `scheduler:${this.d.daemonId}`, tenant: pod.context.tenant, ...linksOf(pod.context) };
    try {
      if ('host' in choice) {
        this.assume(podId, choice.host, need);
        // one msgID per placement whichever daemon writes it: on a clustered (R3) stream nats-server 2.9 does not serialize
        // expect.lastSubjectSequence between concurrent proposals (nats-server #4320), so NATS's dedup keeps the first
        const e = podEvent('pod.scheduled', podId, { host: choice.host, run, attempt }, { ...meta, id: `${podId}.r${run}a${attempt}.scheduled` });
        const r = await this.d.store.append(e, { expectLastSeq: pod.seq });
        if (r.duplicate) this.conflicts++;
        else this.placed++;
      } else if (timedOut(pod, Date.now())) {
        const waited = Math.round((Date.now() - (pod.context.pendingSince ?? pod.context.updatedAt)) / 1000);
        const e = podEvent('pod.unschedulable', podId, { reason: `gave up after waiting ${waited} s for room (wait timeout ${pod.context.spec.waitTimeoutMs} ms): ${choice.reason}` }, { ...meta, id: `${podId}.r${run}a${attempt}.unschedulable` });
        this.blocked.delete(podId);
        await this.d.store.append(e, { expectLastSeq: pod.seq });
      } else {
        this.blocked.add(podId);
        // said once per attempt (every daemon writes the same id: NATS keeps one); the reason of a later wait is the first one's
        if (pod.context.reason !== choice.reason && !this.noted.has(`${podId}/${run}/${attempt}`)) {
          this.noted.add(`${podId}/${run}/${attempt}`);
          if (this.noted.size > 100_000) this.noted.clear();
          const e = podEvent('pod.waiting', podId, { reason: choice.reason }, { ...meta, id: `${podId}.r${run}a${attempt}.waiting` });
          await this.d.store.append(e, { expectLastSeq: pod.seq });
        }
      }
    } catch (err) {
      this.forget(podId);
      if (err instanceof ConflictError) {
        // someone decided first (or the user stopped it): once our view catches up the pod is no longer pending; if it still is, retry later
        this.conflicts++;
        this.waiting.set(podId, Date.now() + this.graceMs);
        return;
      }
      this.d.log.error({ err, pod: podId }, 'placement append failed; will retry');
      this.waiting.set(podId, Date.now() + this.graceMs);
    }
  }
}

/** Whether a pending pod's own wait timeout (spec.waitTimeoutMs) has run out. */
function timedOut(p: PodRecord, now: number): boolean {
  const limit = p.context.spec?.waitTimeoutMs;
  return limit !== undefined && now - (p.context.pendingSince ?? p.context.updatedAt) >= limit;
}
