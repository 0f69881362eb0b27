// The folded state of the whole cluster (every pod, every host, per-host usage), rebuilt by replay. Pure: no I/O, no clock.
import { foldPod, initialPod, type PodFold } from './pod-fold.js';
import { HOLDS_RESOURCES, type PodState } from './pod-machine.js';
import { ReplayError } from '../errors.js';
import type { HostEvent, HyperEvent, Newer, PodEvent, TenantEvent } from '../events/schemas/mod.js';
import type { TenantPolicy } from '../events/schemas/tenant-events.js';
import type { Record_ } from './record.js';
import { DEFAULT_TENANT, podOfSubject } from '../events/schemas/subjects.js';

export interface PodRecord extends PodFold {
  /** Stream sequence of the last message on this pod's subject: the expectation for the next OCC append. */
  seq: number;
  /**
   * Ids of the pod's last RECENT_IDS events folded, newest last: an event stored again under its id (nats-server 2.9 now and
   * then stores one publish twice across a leader change, despite its msgID) is folded once. Absent in snapshots before 0.6.
   */
  recent?: string[];
  /**
   * Set only on a pod read from a snapshot's summary (snapshot-codec.ts's LazySnapshot, for `hyper state --at`): its
   * row's index in the snapshot. Its context then holds only the summary's fields, and its events are refused until the
   * row is loaded (which clears this).
   */
  summaryRow?: number;
}

/** How many of a pod's latest event ids its record keeps to fold a twice-stored event once. */
export const RECENT_IDS = 16;

export interface HostRecord {
  id: string;
  /** up: joined; left: its daemon stopped cleanly (its pods keep running, re-attached when it comes back); lost: silent past its lease. */
  state: 'up' | 'left' | 'lost';
  /** Its incarnation: 1 at its first join, +1 at every join after. Heartbeats and losses name it. */
  epoch: number;
  /** When it was declared lost (the event's time), and why. */
  lost: { at: number; reason: string } | null;
  capacity: { cpus: number; memoryMb: number };
  drivers: string[];
  daemon: string;
  hollow: boolean;
  version: string;
  /** The largest VM the host's driver runs (null: not announced, before 0.2). */
  maxVm: { cpus: number; memoryMb: number } | null;
  /**
   * What its VMs really took at its last host.usage (absent: never measured; the hollow driver does not): each VM's
   * memory in MB by its id, and when. A pod's usage counts its VM's measure instead of what the VM was given
   * (Usage.measuredMb); a VM not measured yet (a new run) counts what it was given.
   */
  measured?: { memoryMbByVm: Record<string, number>; at: number };
  joinedAt: number;
  seq: number;
}

export interface TenantRecord {
  name: string;
  /** The public nkey its clients sign in with; null once removed. */
  nkey: string | null;
  policy: TenantPolicy;
  state: 'active' | 'removed';
  addedAt: number;
  by: string;
  seq: number;
}

export interface Usage {
  cpus: number;
  /** Memory its pods' VMs were given. */
  memoryMb: number;
  pods: number;
  /** Memory its pods take: each pod's last measure (host.usage), or what its VM was given until it is measured. */
  measuredMb: number;
}

export type Change =
  | { kind: 'pod'; pod: PodRecord; event: PodEvent; before: PodState; accepted: boolean; /** the same event folded before */ duplicate?: true }
  | { kind: 'host'; host: HostRecord; event: HostEvent }
  | { kind: 'tenant'; tenant: TenantRecord; event: TenantEvent }
  | { kind: 'invalid'; seq: number; subject: string; issues: { path: string; message: string }[]; newer?: Newer };

/**
 * 2: pods' context gained `attached`, containers their `pid`, hosts their `maxVm` (0.2).
 * 3: pods' context gained `tenant`, the view its `tenants` (0.3).
 * 4: pods' context gained `pendingSince`, hosts their `epoch` and `lost` (0.4); pods their optional `recent` ids (0.6: additive, so
 *    still 4 — a 0.5 daemon reads it and ignores them; a pod without them folds on). Older snapshots are upcast when read.
 */
export const SNAPSHOT_FORMAT = 4;

/** Reads a snapshot of any format this build knows, in the current format; null for a format it does not know. */
export function upcastSnapshot(s: ViewSnapshot): ViewSnapshot | null {
  if (s.format === SNAPSHOT_FORMAT) return s;
  if (s.format === 3) {
    // before 0.4 no host was ever lost, and a pending pod's wait is counted from its last change
    return {
      ...s,
      format: 4,
      hosts: s.hosts.map((h) => ({ ...h, epoch: h.epoch ?? 1, lost: h.lost ?? null })),
      pods: s.pods.map((p) => ({ ...p, context: { ...p.context, pendingSince: p.state === 'pending' ? p.context.updatedAt : null } })),
    };
  }
  if (s.format === 2) {
    // before 0.3 every pod was the default tenant's, on the old subject layout, and there were no other tenants
    return upcastSnapshot({ ...s, format: 3, tenants: [], pods: s.pods.map((p) => ({ ...p, context: { ...p.context, tenant: null } })) });
  }
  if (s.format !== 1) return null;
  // before 0.2 a daemon held every VM it ran: attached whenever a VM exists past its boot
  const attachedStates: ReadonlySet<PodState> = new Set(['booted', 'starting', 'running', 'stopping']);
  return upcastSnapshot({
    ...s,
    format: 2,
    hosts: s.hosts.map((h) => ({ ...h, maxVm: h.maxVm ?? null })),
    pods: s.pods.map((p) => ({
      ...p,
      context: {
        ...p.context,
        attached: attachedStates.has(p.state) && p.context.vm !== null,
        containers: Object.fromEntries(Object.entries(p.context.containers).map(([n, c]) => [n, { ...c, pid: (c as { pid?: number | null }).pid ?? null }])),
      },
    })),
  });
}

export interface ViewSnapshot {
  format: number;
  seq: number;
  pods: PodRecord[];
  hosts: HostRecord[];
  tenants: TenantRecord[];
  invalid: number;
}

/** What a VM is counted as taking: its host's last measure of it, never more than it was given (which counts until then). */
function measuredOf(host: HostRecord | undefined, vm: string | null, given: number): number {
  const by = host?.measured?.memoryMbByVm;
  const m = vm !== null && by && Object.hasOwn(by, vm) ? by[vm] : undefined;
  return m === undefined ? given : Math.min(given, m);
}

export class ClusterView {
  readonly pods = new Map<string, PodRecord>();
  readonly hosts = new Map<string, HostRecord>();
  readonly tenants = new Map<string, TenantRecord>();
  readonly usage = new Map<string, Usage>();
  /** The pods whose resources each host holds (what usage counts), so a host's new measure recounts only its own. */
  private readonly held = new Map<string, Set<string>>();
  /** Last stream sequence folded. */
  seq = 0;
  invalid = 0;

  /** Becomes `other` (a fresh fold of the log), in place: whoever holds this view sees the new one. */
  replaceWith(other: ClusterView): void {
    for (const k of ['pods', 'hosts', 'tenants', 'usage', 'held'] as const) {
      const mine = this[k] as Map<string, unknown>;
      mine.clear();
      for (const [id, v] of other[k] as Map<string, unknown>) mine.set(id, v);
    }
    this.seq = other.seq;
    this.invalid = other.invalid;
  }

  /**
   * Folds one stored record. `strict` is for audit replays of a whole log: an invalid record or a gap in the
   * sequence is a ReplayError; otherwise an invalid record is counted and skipped.
   */
  apply(r: Record_, strict = false): Change {
    if (r.seq <= this.seq) throw new ReplayError(r.seq, `sequence went backwards (already folded up to ${this.seq})`);
    if (strict && r.seq !== this.seq + 1) throw new ReplayError(r.seq, `events ${this.seq + 1}..${r.seq - 1} are missing`);
    this.seq = r.seq;
    if (!r.ok) {
      if (strict) throw new ReplayError(r.seq, `invalid event on ${r.subject}: ${r.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
      this.invalid++;
      const at = podOfSubject(r.subject);
      const pod = at ? this.pods.get(at.pod) : undefined;
      if (pod && pod.context.tenant === at!.tenant) pod.seq = r.seq;
      return { kind: 'invalid', seq: r.seq, subject: r.subject, issues: r.issues, newer: r.newer };
    }
    return this.applyEvent(r.event, r.seq);
  }

  applyEvent(e: HyperEvent, seq: number): Change {
    if ('pod' in e) return this.applyPod(e as PodEvent, seq);
    if ('host' in e) return this.applyHost(e as HostEvent, seq);
    return this.applyTenant(e as TenantEvent, seq);
  }

  private applyPod(e: PodEvent, seq: number): Change {
    let rec = this.pods.get(e.pod);
    if (rec?.summaryRow !== undefined) throw new ReplayError(seq, `pod ${e.pod} is held only as its snapshot summary: its row must be loaded before its events are folded`);
    if (!rec) {
      rec = { ...initialPod(e.pod), seq: 0 };
      this.pods.set(e.pod, rec);
    } else if ((e.tenant ?? null) !== rec.context.tenant) {
      // another tenant's subject naming this pod's id is not this pod's history (hosts never write one; ignore it)
      return { kind: 'pod', pod: rec, event: e, before: rec.state, accepted: false };
    }
    const before = rec.state;
    const recent = (rec.recent ??= []);
    if (recent.includes(e.id)) {
      rec.seq = seq;
      return { kind: 'pod', pod: rec, event: e, before, accepted: false, duplicate: true };
    }
    recent.push(e.id);
    if (recent.length > RECENT_IDS) recent.shift();
    const beforeHost = rec.context.host;
    const next = foldPod(rec, e);
    const accepted = next !== rec;
    if (accepted) {
      this.account(before, beforeHost, rec, -1);
      rec.state = next.state;
      rec.context = next.context;
      this.account(rec.state, rec.context.host, rec, +1);
    }
    rec.seq = seq;
    if (rec.state === 'new') this.pods.delete(e.pod); // a stray fact about a pod never requested creates nothing
    return { kind: 'pod', pod: rec, event: e, before, accepted };
  }

  private account(state: PodState, host: string | null, rec: PodRecord, sign: 1 | -1): void {
    if (!host || !HOLDS_RESOURCES.has(state) || !rec.context.spec) return;
    const u = this.usage.get(host) ?? { cpus: 0, memoryMb: 0, pods: 0, measuredMb: 0 };
    const given = rec.context.spec.resources.memoryMb;
    u.cpus += sign * rec.context.spec.resources.cpus;
    u.memoryMb += sign * given;
    u.pods += sign;
    let held = this.held.get(host);
    if (!held) this.held.set(host, (held = new Set()));
    if (sign > 0) held.add(rec.context.id);
    else held.delete(rec.context.id);
    // the measure stands for the pod until the next one (host.usage recounts every pod of the host)
    u.measuredMb += sign * measuredOf(this.hosts.get(host), rec.context.vm, given);
    this.usage.set(host, u);
  }

  /** A host's measured usage counted again from its pods: each one's new measure, or its VM's size. */
  private remeasure(host: HostRecord): void {
    const u = this.usage.get(host.id);
    if (!u) return;
    u.measuredMb = 0;
    for (const id of this.held.get(host.id) ?? []) {
      const p = this.pods.get(id);
      if (!p?.context.spec) continue;
      const given = p.context.spec.resources.memoryMb;
      u.measuredMb += measuredOf(host, p.context.vm, given);
    }
  }

  private applyHost(e: HostEvent, seq: number): Change {
    const prev = this.hosts.get(e.host);
    let host: HostRecord;
    if (e.type === 'host.joined') {
      const epoch = (prev?.epoch ?? 0) + 1;
      host = { id: e.host, state: 'up', epoch, lost: null, capacity: e.data.capacity, drivers: e.data.drivers, daemon: e.data.daemon, hollow: e.data.hollow, version: e.data.version, maxVm: e.data.maxVm ?? null, joinedAt: e.at, seq };
    } else if (!prev) {
      host = { id: e.host, state: e.type === 'host.left' ? 'left' : 'lost', epoch: 0, lost: null, capacity: { cpus: 0, memoryMb: 0 }, drivers: [], daemon: 'unknown', hollow: false, version: '', maxVm: null, joinedAt: e.at, seq };
    } else if (e.type === 'host.usage') {
      // measures, not a change of state: the host keeps its incarnation
      host = { ...prev, measured: { memoryMbByVm: e.data.memoryMbByVm, at: e.at }, seq };
      this.hosts.set(e.host, host);
      this.remeasure(host);
      return { kind: 'host', host, event: e };
    } else if (e.type === 'host.left') {
      host = { ...prev, state: 'left', seq };
    } else {
      // a loss names the incarnation it saw silent: one of an earlier join (the host came back meanwhile) changes nothing
      host = e.data.epoch === prev.epoch && prev.state === 'up' ? { ...prev, state: 'lost', lost: { at: e.at, reason: e.data.reason }, seq } : { ...prev, seq };
    }
    this.hosts.set(e.host, host);
    return { kind: 'host', host, event: e };
  }

  private applyTenant(e: TenantEvent, seq: number): Change {
    const prev = this.tenants.get(e.tenant);
    const tenant: TenantRecord =
      e.type === 'tenant.added'
        ? { name: e.tenant, nkey: e.data.nkey, policy: e.data.policy, state: 'active', addedAt: e.at, by: e.by, seq }
        : { name: e.tenant, nkey: null, policy: prev?.policy ?? {}, state: 'removed', addedAt: prev?.addedAt ?? e.at, by: e.by, seq };
    this.tenants.set(e.tenant, tenant);
    return { kind: 'tenant', tenant, event: e };
  }

  /** The tenant's record when it may act: "default" always may (its policy is the cluster's), others while added. */
  activeTenant(name: string): TenantRecord | null {
    if (name === DEFAULT_TENANT) return this.tenants.get(name)?.state === 'active' ? this.tenants.get(name)! : { name, nkey: null, policy: {}, state: 'active', addedAt: 0, by: 'built-in', seq: 0 };
    const t = this.tenants.get(name);
    return t?.state === 'active' ? t : null;
  }

  /**
   * The hyper version of every host the cluster has known, up, left or lost (a host that left may come back as it was):
   * what a newer event version waits for before it is written (versionToWrite). Lazy: most types never ask.
   */
  *hostVersions(): Generator<string> {
    for (const h of this.hosts.values()) yield h.version;
  }

  usageOf(hostId: string): Usage {
    return this.usage.get(hostId) ?? { cpus: 0, memoryMb: 0, pods: 0, measuredMb: 0 };
  }

  /** Pods visible to users: everything not deleted (of one tenant, when given). */
  livePods(tenant?: string): PodRecord[] {
    return [...this.pods.values()].filter((p) => p.state !== 'deleted' && (tenant === undefined || (p.context.tenant ?? DEFAULT_TENANT) === tenant));
  }

  toSnapshot(): ViewSnapshot {
    return { format: SNAPSHOT_FORMAT, seq: this.seq, pods: [...this.pods.values()], hosts: [...this.hosts.values()], tenants: [...this.tenants.values()], invalid: this.invalid };
  }

  static fromSnapshot(raw: ViewSnapshot): ClusterView {
    const s = upcastSnapshot(raw);
    if (!s) throw new ReplayError(raw.seq, `snapshot format ${raw.format} is not one this build reads (1..${SNAPSHOT_FORMAT})`);
    const v = new ClusterView();
    v.seq = s.seq;
    v.invalid = s.invalid;
    for (const h of s.hosts) v.hosts.set(h.id, h);
    for (const t of s.tenants) v.tenants.set(t.name, t);
    for (const p of s.pods) {
      v.pods.set(p.context.id, p);
      v.account(p.state, p.context.host, p, +1);
    }
    return v;
  }
}
