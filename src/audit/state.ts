// The cluster as it stood at a point of the log, pure: fold records up to a sequence or a time (from a snapshot when
// one is given), summarise hosts, pods, placements and resources, and diff two such states.
import { ClusterView, type ViewSnapshot } from '../model/cluster-view.js';
import type { Record_ } from '../model/record.js';
import { iso } from './history.js';
import type { LazyStart } from '../events/store/snapshot-codec.js';

export type Point = { seq: number } | { at: number };

export interface ClusterState {
  seq: number;
  /** The time of the last event folded (null: none). */
  at: number | null;
  hosts: { id: string; state: string; epoch: number; capacity: { cpus: number; memoryMb: number }; used: { cpus: number; memoryMb: number; pods: number }; drivers: string[] }[];
  pods: { id: string; name: string | null; tenant: string; state: string; run: number; host: string | null; containers: Record<string, { state: string; exitCode: number | null; restarts: number }>; reason: string | null }[];
  tenants: { name: string; state: string }[];
  invalid: number;
}

/** Whether a record lies after the point (a time point ends at the first event stamped after it, in stream order). */
export function pastPoint(r: Record_, p: Point): boolean {
  if ('seq' in p) return r.seq > p.seq;
  return r.ok && r.event.at > p.at;
}

/** Folds records (in stream order, after the snapshot's sequence if one is given) up to the point. */
export async function foldTo(records: AsyncIterable<Record_[]> | Iterable<Record_[]>, p: Point, from?: ViewSnapshot | LazyStart | null): Promise<{ view: ClusterView; at: number | null; folded: number }> {
  const lazy = from && 'prepare' in from ? from : null;
  const snapshot = lazy ? lazy.snapshot : (from as ViewSnapshot | null | undefined);
  const view = snapshot ? ClusterView.fromSnapshot(snapshot) : new ClusterView();
  let at: number | null = null;
  let folded = 0;
  outer: for await (const batch of records as AsyncIterable<Record_[]>) {
    // the snapshot's own last event comes again (for its time): its pod's row is not needed for that
    if (lazy) await lazy.prepare(batch[0] && batch[0].seq <= view.seq ? batch.filter((r) => r.seq > view.seq) : batch, view);
    for (const r of batch) {
      // the snapshot's own last event is read again for its time only
      if (r.seq <= view.seq) {
        if (r.ok && r.seq === view.seq) at = r.event.at;
        continue;
      }
      if (pastPoint(r, p)) break outer;
      view.apply(r);
      if (r.ok) at = r.event.at;
      folded++;
    }
  }
  return { view, at, folded };
}

export function clusterState(view: ClusterView, at: number | null): ClusterState {
  const hosts = [...view.hosts.values()].sort((a, b) => a.id.localeCompare(b.id)).map((h) => ({ id: h.id, state: h.state, epoch: h.epoch, capacity: h.capacity, used: view.usageOf(h.id), drivers: h.drivers }));
  const pods = [...view.pods.values()]
    .sort((a, b) => a.context.createdAt - b.context.createdAt || a.context.id.localeCompare(b.context.id))
    .map((p) => ({
      id: p.context.id, name: p.context.name, tenant: p.context.tenant ?? 'default', state: p.state, run: p.context.run, host: p.context.host, reason: p.context.reason,
      containers: containersOf(p.context.containers),
    }));
  const tenants = [...view.tenants.values()].map((t) => ({ name: t.name, state: t.state }));
  return { seq: view.seq, at, hosts, pods, tenants, invalid: view.invalid };
}

/** Each container's state, exit code and restarts (a loop: this runs once per pod of a 100,000-pod answer). */
function containersOf(cs: Record<string, { state: string; exitCode: number | null; restarts: number }>): ClusterState['pods'][number]['containers'] {
  const out: ClusterState['pods'][number]['containers'] = {};
  for (const n in cs) {
    const c = cs[n];
    out[n] = { state: c.state, exitCode: c.exitCode, restarts: c.restarts };
  }
  return out;
}

export function renderState(s: ClusterState): string {
  const out = [`cluster at seq ${s.seq}${s.at !== null ? ` (${iso(s.at)})` : ''}: ${s.hosts.length} host(s), ${s.pods.length} pod(s)${s.invalid ? `, ${s.invalid} invalid message(s) skipped` : ''}`];
  out.push('HOSTS');
  for (const h of s.hosts) out.push(`  ${h.id.padEnd(16)} ${h.state.padEnd(5)} epoch ${h.epoch}  ${h.used.cpus}/${h.capacity.cpus} vCPU  ${h.used.memoryMb}/${h.capacity.memoryMb} MB  ${h.used.pods} pod(s)  ${h.drivers.join(',')}`);
  out.push('PODS');
  for (const p of s.pods) {
    const cs = Object.entries(p.containers).map(([n, c]) => `${n}=${c.state}${c.exitCode !== null ? `(${c.exitCode})` : ''}${c.restarts ? `×${c.restarts}` : ''}`).join(' ');
    out.push(`  ${(p.name ?? '-').padEnd(16)} ${p.id}  ${p.tenant.padEnd(10)} ${p.state.padEnd(10)} run ${p.run}  ${(p.host ?? '-').padEnd(12)} ${cs}`);
  }
  return out.join('\n');
}

/** What changed from state a to state b, a line each: hosts and pods that came, went or changed. */
export function diffStates(a: ClusterState, b: ClusterState): string[] {
  const out: string[] = [`from seq ${a.seq}${a.at !== null ? ` (${iso(a.at)})` : ''} to seq ${b.seq}${b.at !== null ? ` (${iso(b.at)})` : ''}`];
  const byId = <T extends { id: string }>(xs: T[]) => new Map(xs.map((x) => [x.id, x]));
  const ha = byId(a.hosts);
  const hb = byId(b.hosts);
  for (const [id, h] of hb) {
    const before = ha.get(id);
    if (!before) out.push(`+ host ${id} ${h.state}`);
    else if (before.state !== h.state || before.epoch !== h.epoch) out.push(`~ host ${id} ${before.state} (epoch ${before.epoch}) → ${h.state} (epoch ${h.epoch})`);
  }
  for (const id of ha.keys()) if (!hb.has(id)) out.push(`- host ${id}`);
  const pa = byId(a.pods);
  const pb = byId(b.pods);
  for (const [id, p] of pb) {
    const before = pa.get(id);
    const label = `pod ${p.name ?? id}${p.name ? ` (${id})` : ''}`;
    if (!before) out.push(`+ ${label} ${p.state}${p.host ? ` on ${p.host}` : ''}`);
    else {
      const changes: string[] = [];
      if (before.state !== p.state) changes.push(`${before.state} → ${p.state}`);
      if (before.host !== p.host) changes.push(`host ${before.host ?? '-'} → ${p.host ?? '-'}`);
      if (before.run !== p.run) changes.push(`run ${before.run} → ${p.run}`);
      for (const [n, c] of Object.entries(p.containers)) {
        const bc = before.containers[n];
        if (bc && (bc.state !== c.state || bc.restarts !== c.restarts)) changes.push(`${n} ${bc.state} → ${c.state}${c.restarts !== bc.restarts ? ` (restarts ${bc.restarts} → ${c.restarts})` : ''}`);
      }
      if (changes.length) out.push(`~ ${label}: ${changes.join(', ')}`);
    }
  }
  for (const [id, p] of pa) if (!pb.has(id)) out.push(`- pod ${p.name ?? id}`);
  if (out.length === 1) out.push('no change');
  return out;
}
