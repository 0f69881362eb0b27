// The stored snapshot form (format 5): what it decodes to is exactly the view snapshot it was made from — for every
// released fixture's view, recorded audit trails and contexts with optional keys — it is far smaller when pods share
// specs, and snapshots stored in formats 1-4 (plain JSON) still read.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClusterView, upcastSnapshot, type ViewSnapshot } from '../../src/model/cluster-view.js';
import { decodeSnapshot, encodeSnapshot, STORED_FORMAT } from '../../src/events/store/snapshot-codec.js';
import { readTrail } from '../../src/audit/trail.js';
import { foldTo } from '../../src/audit/state.js';
import { hostJoined, podLifecycle } from '../../bench/lib/dataset.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const roundTrip = (s: ViewSnapshot) => decodeSnapshot(encodeSnapshot(s));

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
    }
  });

  it('gives back the views folded from recorded trails (restarts, an OOM kill, a host loss)', async () => {
    for (const f of readdirSync(`${fixtures}audit`).filter((x) => x.endsWith('.jsonl'))) {
      const t = readTrail(readFileSync(`${fixtures}audit/${f}`, 'utf8'));
      const { view } = await foldTo([t.records], { seq: Number.MAX_SAFE_INTEGER });
      const s = view.toSnapshot();
      expect(s.pods.length).toBeGreaterThan(0);
      expect(JSON.stringify(roundTrip(s))).toBe(JSON.stringify(s));
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
  });

  it('stores 1,000 pods that share a spec in well under half of the plain JSON', () => {
    const v = new ClusterView();
    let seq = 0;
    for (let h = 0; h < 10; h++) v.applyEvent(hostJoined(`h${h}`, 1_000), ++seq);
    for (let i = 0; i < 1_000; i++) for (const e of podLifecycle(`pod${i}`, `h${i % 10}`, 2_000 + i)) v.applyEvent(e, ++seq);
    const s = v.toSnapshot();
    const compact = encodeSnapshot(s);
    expect(JSON.parse(compact).format).toBe(STORED_FORMAT);
    expect(compact.length).toBeLessThan(JSON.stringify(s).length * 0.45);
    expect(roundTrip(s)).toEqual(s);
  });
});
