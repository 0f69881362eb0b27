// `hyper audit verify`, pure parts: refold a whole log and check it — sequences without gaps, every message valid
// (those that are not are listed, not fatal), every stored snapshot equal to the refold at its sequence, projections
// equal to the refold at the end — reporting each divergence by entity, sequence, field, expected and found.
import { ClusterView, type PodRecord, type ViewSnapshot } from '../model/cluster-view.js';
import { summaryOf } from '../events/store/snapshot-codec.js';
import type { Record_ } from '../model/record.js';

export interface Divergence {
  /** What holds the wrong value: "snapshot@SEQ", "names bucket", … */
  source: string;
  /** pod <id>, host <id>, tenant <name>, or view. */
  entity: string;
  seq: number;
  field: string;
  expected: unknown;
  found: unknown;
}

export interface VerifyReport {
  events: number;
  firstSeq: number | null;
  lastSeq: number | null;
  gaps: { from: number; to: number }[];
  invalid: { seq: number; subject: string; problem: string }[];
  /** Messages a newer hyper wrote (a type or version this build does not know): not wrong, unread here. */
  newer: { seq: number; subject: string; problem: string }[];
  snapshots: { seq: number; ok: boolean }[];
  /** The daemons whose live views were compared (live verify only). */
  daemons?: string[];
  divergences: Divergence[];
  view: ClusterView;
}

/** Each field where two values differ, as dotted paths (arrays by index), up to `max`. */
export function fieldDiffs(expected: unknown, found: unknown, path = '', out: { field: string; expected: unknown; found: unknown }[] = [], max = 20): typeof out {
  if (out.length >= max) return out;
  if (expected === found) return out;
  const isObj = (v: unknown) => typeof v === 'object' && v !== null;
  if (isObj(expected) && isObj(found) && Array.isArray(expected) === Array.isArray(found)) {
    const keys = new Set([...Object.keys(expected as object), ...Object.keys(found as object)]);
    for (const k of keys) fieldDiffs((expected as Record<string, unknown>)[k], (found as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, max);
    return out;
  }
  if (JSON.stringify(expected) !== JSON.stringify(found)) out.push({ field: path || '(whole)', expected, found });
  return out;
}

/** The divergences of a stored snapshot from the refold at its sequence. */
export function snapshotDivergences(expected: ViewSnapshot, found: ViewSnapshot, source: string): Divergence[] {
  const out: Divergence[] = [];
  const seq = found.seq;
  const each = <T>(kind: string, a: T[], b: T[], key: (x: T) => string) => {
    const ma = new Map(a.map((x) => [key(x), x]));
    const mb = new Map(b.map((x) => [key(x), x]));
    for (const [k, x] of ma) {
      const y = mb.get(k);
      if (!y) out.push({ source, entity: `${kind} ${k}`, seq, field: '(whole)', expected: 'present', found: 'missing' });
      else for (const d of fieldDiffs(x, y)) out.push({ source, entity: `${kind} ${k}`, seq, ...d });
    }
    for (const k of mb.keys()) if (!ma.has(k)) out.push({ source, entity: `${kind} ${k}`, seq, field: '(whole)', expected: 'absent', found: 'present' });
  };
  each('pod', expected.pods, found.pods, (p) => p.context.id);
  each('host', expected.hosts, found.hosts, (h) => h.id);
  each('tenant', expected.tenants, found.tenants, (t) => t.name);
  if (expected.invalid !== found.invalid) out.push({ source, entity: 'view', seq, field: 'invalid', expected: expected.invalid, found: found.invalid });
  return out;
}

/**
 * A stored snapshot, read only when the refold reaches its sequence. `part` says it holds only some of the view's pods
 * (those at these [start, end) positions of the view's order: blocks no snapshot compared before held) and how many the
 * whole holds; null: it could not be read (replaced meanwhile).
 */
export interface StoredSnapshot {
  source: string;
  seq: number;
  load(): Promise<{ snapshot: ViewSnapshot; part?: { ranges: [number, number][]; total: number; /** what `hyper state --at` reads of the same pods */ summaries?: PodRecord[] } } | null>;
}

/**
 * Refolds the records (the whole stream, in order, from its first retained sequence `firstRetained`) and compares each
 * snapshot with the refold when it reaches the snapshot's sequence.
 */
export async function refold(batches: AsyncIterable<Record_[]> | Iterable<Record_[]>, o: { firstRetained: number; snapshots: (StoredSnapshot | { source: string; snapshot: ViewSnapshot })[]; onProgress?: (seq: number) => void }): Promise<VerifyReport> {
  const view = new ClusterView();
  const report: VerifyReport = { events: 0, firstSeq: null, lastSeq: null, gaps: [], invalid: [], newer: [], snapshots: [], divergences: [], view };
  const pending: StoredSnapshot[] = o.snapshots.map((s) => ('snapshot' in s ? { source: s.source, seq: s.snapshot.seq, load: async () => ({ snapshot: s.snapshot }) } : s)).sort((a, b) => a.seq - b.seq);
  const check = async (upTo: number) => {
    while (pending.length && pending[0].seq <= upTo) {
      const { source, seq, load } = pending.shift()!;
      // the refold stands exactly at the snapshot's sequence only if nothing after it was folded yet
      if (view.seq !== seq) {
        report.snapshots.push({ seq, ok: false });
        report.divergences.push({ source, entity: 'view', seq, field: 'seq', expected: `a sequence of the log (the refold went from ${view.seq} on)`, found: seq });
        continue;
      }
      const got = await load();
      if (!got) continue;
      const expected = view.toSnapshot();
      const d: Divergence[] = [];
      if (got.part) {
        if (got.part.total !== expected.pods.length) d.push({ source, entity: 'view', seq, field: 'pods', expected: expected.pods.length, found: got.part.total });
        expected.pods = got.part.ranges.flatMap(([start, end]) => expected.pods.slice(start, end));
      }
      d.push(...snapshotDivergences(expected, got.snapshot, source));
      // the blocks' summaries (what `hyper state --at` reads instead of the rows) must say what the refold does
      for (const [i, p] of (got.part?.summaries ?? []).entries()) {
        const want = expected.pods[i];
        for (const f of fieldDiffs(want ? summaryOf(want) : 'present', summaryOf(p))) d.push({ source: `${source} summary`, entity: `pod ${p.context.id}`, seq, ...f });
      }
      report.snapshots.push({ seq, ok: d.length === 0 });
      report.divergences.push(...d);
    }
  };
  let expect = o.firstRetained;
  for await (const batch of batches as AsyncIterable<Record_[]>) {
    for (const r of batch) {
      // a snapshot taken at a sequence before this record is compared before it is folded
      if (pending.length && pending[0].seq <= r.seq - 1) await check(r.seq - 1);
      if (r.seq > expect) report.gaps.push({ from: expect, to: r.seq - 1 });
      expect = r.seq + 1;
      report.firstSeq ??= r.seq;
      report.lastSeq = r.seq;
      report.events++;
      if (!r.ok) (r.newer ? report.newer : report.invalid).push({ seq: r.seq, subject: r.subject, problem: r.issues.map((i) => `${i.path || '(message)'}: ${i.message}`).join('; ') });
      view.apply(r);
    }
    o.onProgress?.(view.seq);
  }
  await check(Number.MAX_SAFE_INTEGER);
  return report;
}
