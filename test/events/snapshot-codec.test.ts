// The stored snapshot forms (format 5's one text, format 7's header and blocks): what each decodes to is exactly the view
// snapshot it was made from — for every released fixture's view, recorded audit trails and contexts with optional keys —
// they are far smaller when pods share specs, snapshots stored in formats 1-4 (plain JSON) still read, format 7 read
// from its header and summaries alone answers `state` as the whole does, loading only the blocks of the pods a tail
// touches, and a block is known unchanged by its pods and last sequence.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClusterView, upcastSnapshot, type ViewSnapshot } from '../../src/model/cluster-view.js';
import { BLOCK_PODS, blocksOf, decodeParts, decodeSnapshot, encodeParts, encodeSnapshot, LazySnapshot, TEXT_FORMAT, type LazyStart } from '../../src/events/store/snapshot-codec.js';
import { readTrail } from '../../src/audit/trail.js';
import { clusterState, foldTo } from '../../src/audit/state.js';
import { podEvent } from '../../src/events/schemas/mod.js';
import { podSubject } from '../../src/events/schemas/subjects.js';
import type { Record_ } from '../../src/model/record.js';
import { hostJoined, podLifecycle } from '../../bench/lib/dataset.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const roundTrip = (s: ViewSnapshot) => decodeSnapshot(encodeSnapshot(s));
const partsTrip = (s: ViewSnapshot) => {
  const { header, blocks } = encodeParts(s);
  return decodeParts(header, blocks.map((b) => b!));
};

describe('snapshot codec', () => {
  it('gives back every released version\'s saved view exactly (as upcast), and still reads each as stored then', () => {
    const views = readdirSync(fixtures).filter((f) => f.endsWith('.view.json'));
    expect(views.length).toBeGreaterThanOrEqual(7);
    for (const f of views) {
      const text = readFileSync(fixtures + f, 'utf8');
      const stored = decodeSnapshot(text);
      expect(stored).toEqual(JSON.parse(text));
      // an upcast context has its added keys last; decoded, they are in the fold's order: the same values
      const view = upcastSnapshot(stored)!;
      expect(roundTrip(view)).toEqual(view);
      expect(partsTrip(view)).toEqual(view);
    }
  });

  it('gives back the views folded from recorded trails (restarts, an OOM kill, a host loss)', async () => {
    for (const f of readdirSync(`${fixtures}audit`).filter((x) => x.endsWith('.jsonl'))) {
      const t = readTrail(readFileSync(`${fixtures}audit/${f}`, 'utf8'));
      const { view } = await foldTo([t.records], { seq: Number.MAX_SAFE_INTEGER });
      const s = view.toSnapshot();
      expect(s.pods.length).toBeGreaterThan(0);
      expect(JSON.stringify(roundTrip(s))).toBe(JSON.stringify(s));
      expect(JSON.stringify(partsTrip(s))).toBe(JSON.stringify(s));
    }
  });

  it('keeps optional keys, their order, ids that do not begin with the pod\'s, and pods without a spec', () => {
    const v = new ClusterView();
    let seq = 0;
    v.applyEvent(hostJoined('h1', 1_000), ++seq);
    for (const e of podLifecycle('p1', 'h1', 2_000)) v.applyEvent(e, ++seq);
    const s = v.toSnapshot();
    const p = s.pods[0];
    const ctx = p.context as unknown as Record<string, unknown>;
    ctx.kill = { id: 'p1.kill', signal: 9, container: null };
    ctx.network = { run: 1, host: 'h1', mode: 'bridge', ip: '10.88.0.2', prefix: 16, gateway: '10.88.0.1', mac: '02:00:00:00:00:01', dns: [], ports: [] };
    (p.context.containers.main as unknown as Record<string, unknown>).lastExit = { exitCode: 1, at: 2_100 };
    p.recent = [...(p.recent ?? []), 'other.id', 'p1x'];
    s.pods.push({ state: 'new', context: { ...p.context, id: 'p2', spec: null, containers: {} }, seq: 0 });
    expect(JSON.stringify(roundTrip(s))).toBe(JSON.stringify(s));
    expect(JSON.stringify(partsTrip(s))).toBe(JSON.stringify(s));
  });

  it('stores 1,000 pods that share a spec in well under half of the plain JSON', () => {
    const v = new ClusterView();
    let seq = 0;
    for (let h = 0; h < 10; h++) v.applyEvent(hostJoined(`h${h}`, 1_000), ++seq);
    for (let i = 0; i < 1_000; i++) for (const e of podLifecycle(`pod${i}`, `h${i % 10}`, 2_000 + i)) v.applyEvent(e, ++seq);
    const s = v.toSnapshot();
    const compact = encodeSnapshot(s);
    expect(JSON.parse(compact).format).toBe(TEXT_FORMAT);
    expect(compact.length).toBeLessThan(JSON.stringify(s).length * 0.45);
    expect(roundTrip(s)).toEqual(s);
  });

  it('format 7 from its header and summaries alone: the same state, and a tail folded after loading only the blocks it touches', async () => {
    const v = new ClusterView();
    let seq = 0;
    for (let h = 0; h < 4; h++) v.applyEvent(hostJoined(`h${h}`, 1_000), ++seq);
    const n = BLOCK_PODS * 2 + 500;
    // every third pod left running (it holds its host's resources), the others stopped
    for (let i = 0; i < n; i++) for (const e of podLifecycle(`pod${i}`, `h${i % 4}`, 2_000 + i).slice(0, i % 3 ? 8 : 6)) v.applyEvent(e, ++seq);
    const s = v.toSnapshot();
    const { header, blocks: parts } = encodeParts(s);
    expect(parts).toHaveLength(3);
    const blocks = parts.map((b) => b!.rows);
    const summaries = parts.map((b) => b!.summary);
    const lazy = new LazySnapshot(header, summaries);
    expect(lazy.remaining).toBe(n);
    // the state answered from summaries alone is the whole view's, host usage included
    const whole = ClusterView.fromSnapshot(s);
    expect(clusterState(ClusterView.fromSnapshot(lazy.snapshot), null)).toEqual(clusterState(whole, null));

    // a tail stopping a running pod of the second block and creating a new one
    const target = `pod${BLOCK_PODS + 3}`;
    const tail: Record_[] = [
      podEvent('pod.stop.requested', target, { graceMs: 0 }, { id: `${target}.stop2`, at: 9_000, by: 'cli:test' }),
      podEvent('pod.stopped', target, {}, { id: `${target}.stopped2`, at: 9_001, by: 'host:h3' }),
    ].map((e) => ({ ok: true, seq: ++seq, subject: podSubject({ pod: e.pod, tenant: null }), event: e }) as Record_);
    const loaded: number[] = [];
    const start: LazyStart = {
      snapshot: lazy.snapshot,
      prepare: async (batch, view) => {
        for (const b of lazy.blocksFor(batch.map((r) => view.pods.get(r.ok ? (r.event as { pod: string }).pod : '')))) {
          loaded.push(b);
          lazy.load(b, blocks[b]);
        }
      },
    };
    const lazyFold = await foldTo([tail], { seq }, start);
    const fullFold = await foldTo([tail], { seq }, s);
    expect(loaded).toEqual([1]);
    expect(lazy.remaining).toBe(n - BLOCK_PODS);
    expect(lazyFold.view.pods.get(target)!.summaryRow).toBeUndefined();
    expect(lazyFold.view.pods.get('pod3')!.summaryRow).toBe(3);
    expect(lazyFold.view.pods.get(target)!.state).toBe('stopped');
    expect(clusterState(lazyFold.view, lazyFold.at)).toEqual(clusterState(fullFold.view, fullFold.at));
    // a loaded pod is the whole record a full read gives
    expect(JSON.stringify(lazyFold.view.pods.get(`pod${BLOCK_PODS}`))).toBe(JSON.stringify(fullFold.view.pods.get(`pod${BLOCK_PODS}`)));

    // folding into a pod still held as a summary is refused, naming it, rather than folded wrongly
    const other = `pod${3}`;
    const fresh = new LazySnapshot(header, summaries);
    const stray: Record_ = { ok: true, seq: seq + 1, subject: podSubject({ pod: other, tenant: null }), event: podEvent('pod.stop.requested', other, { graceMs: 0 }, { id: `${other}.stop2`, at: 9_002, by: 'cli:test' }) } as Record_;
    await expect(foldTo([[stray]], { seq: seq + 1 }, { snapshot: fresh.snapshot, prepare: async () => {} })).rejects.toThrow(`pod ${other} is held only as its snapshot summary`);
  });

  it('format 7 knows a block unchanged by its pods and last sequence: a tail touching one block changes only that one', () => {
    const v = new ClusterView();
    let seq = 0;
    v.applyEvent(hostJoined('h1', 1_000), ++seq);
    for (let i = 0; i < BLOCK_PODS * 2 + 10; i++) for (const e of podLifecycle(`q${i}`, 'h1', 2_000 + i).slice(0, 6)) v.applyEvent(e, ++seq);
    const before = blocksOf(v.toSnapshot().pods);
    expect(before.map((b) => b.pods)).toEqual([BLOCK_PODS, BLOCK_PODS, 10]);
    // a pod of the second block stops; a new pod joins the last
    const target = `q${BLOCK_PODS + 1}`;
    v.applyEvent(podEvent('pod.stop.requested', target, { graceMs: 0 }, { id: `${target}.stop`, at: 9_000, by: 'cli:test' }), ++seq);
    for (const e of podLifecycle('late', 'h1', 9_001).slice(0, 1)) v.applyEvent(e, ++seq);
    const after = v.toSnapshot();
    const metas = blocksOf(after.pods);
    expect(metas.map((m, b) => JSON.stringify(m) === JSON.stringify(before[b]))).toEqual([true, false, false]);
    // encoding with the unchanged ones reused writes only the others, and the reused part is the earlier encoding's
    const whole = encodeParts(after);
    const { blocks } = encodeParts(after, (b, meta) => JSON.stringify(meta) === JSON.stringify(before[b]));
    expect(blocks.map((b) => b !== null)).toEqual([false, true, true]);
    const earlier = encodeParts(v.toSnapshot()).blocks[0]!;
    expect(decodeParts(whole.header, [earlier, blocks[1]!, blocks[2]!])).toEqual(decodeParts(whole.header, whole.blocks.map((b) => b!)));
  });
});
