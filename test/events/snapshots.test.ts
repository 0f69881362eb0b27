// Snapshots of the folded view: chunked in KV, newest wins, snapshot + tail folds to the same view as a full replay,
// `state --at`'s lazy read (header and summaries, then only the blocks of pods the tail touches) answers as the whole
// snapshot does, a save writes only the blocks that changed, of two saves at once one wins, and chunk spaces no kept
// snapshot uses are removed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_EVERY, SnapshotStore } from '../../src/events/store/snapshots.js';
import { loadView } from '../../src/events/store/load-view.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { ev, spec } from '../harness/events.js';
import { BLOCK_PODS } from '../../src/events/store/snapshot-codec.js';
import { Kvm } from '@nats-io/kv';
import { SNAPSHOT_BUCKET } from '../../src/events/schemas/subjects.js';
import { clusterState, foldTo } from '../../src/audit/state.js';

let t: TestNats;
beforeAll(async () => {
  t = await startTestNats();
});
afterAll(() => t?.close());

describe('snapshots', () => {
  it('snapshot + tail equals a full replay, across several KV chunks', async () => {
    // incompressible labels, so the gzipped snapshot spans several 512 KB chunks
    const big = () => spec({ labels: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, randomBytes(100).toString('hex')])) });
    for (let i = 0; i < 300; i++) await t.store.append(ev('pod.requested', { spec: big(), start: true }, `s${i}`));
    const { view } = await loadView(t.store, { useSnapshot: false });
    const snaps = await SnapshotStore.open(t.nc);
    const saved = await snaps.save(view.toSnapshot());
    expect(saved.saved).toBe(true);
    expect(saved.bytes).toBeGreaterThan(2 * 512 * 1024);

    for (let i = 0; i < 20; i++) await t.store.append(ev('pod.stop.requested', {}, `s${i}`));
    const fromSnap = await loadView(t.store);
    const full = await loadView(t.store, { useSnapshot: false });
    expect(fromSnap.fromSnapshot).toBe(view.seq);
    expect(fromSnap.folded).toBe(20);
    expect(fromSnap.view.toSnapshot()).toEqual(full.view.toSnapshot());
  });

  it('never replaces a newer snapshot with an older one', async () => {
    const snaps = await SnapshotStore.open(t.nc);
    const current = await snaps.load();
    expect(await snaps.save({ ...current!, seq: 1 })).toEqual({ bytes: 0, written: 0, saved: false });
    expect((await snaps.load())!.seq).toBe(current!.seq);
  });

  it('read lazily, a snapshot of 3 blocks answers state as the whole one does, after loading only the blocks its tail touches', async () => {
    const ids = Array.from({ length: BLOCK_PODS * 2 + 100 }, (_, i) => `z${i}`);
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => t.store.append(ev('pod.requested', { spec: spec(), start: true }, id))));
    const { view } = await loadView(t.store, { useSnapshot: false });
    const snaps = await SnapshotStore.open(t.nc);
    expect((await snaps.save(view.toSnapshot())).saved).toBe(true);
    for (const id of ['z5', 'z6', `z${BLOCK_PODS + 7}`]) await t.store.append(ev('pod.stop.requested', {}, id));
    const point = { seq: await t.store.lastSeq() };

    const whole = await snaps.nearest(point);
    const lazy = await snaps.nearestLazy(point);
    expect(lazy && 'prepare' in lazy).toBe(true);
    if (!lazy || !('prepare' in lazy) || !whole) return;
    const fromLazy = await foldTo(t.store.replayBatches(lazy.snapshot.seq), point, lazy);
    const fromWhole = await foldTo(t.store.replayBatches(whole.seq), point, whole);
    expect(fromLazy.folded).toBe(3);
    expect(clusterState(fromLazy.view, fromLazy.at)).toEqual(clusterState(fromWhole.view, fromWhole.at));
    // the blocks of z5 and z6 (the first) and of z2007 (the second) were loaded, the last one's pods were not; and those
    // loaded are whole records
    const inSnapshot = lazy.snapshot.pods.length;
    expect(inSnapshot).toBeGreaterThan(2 * BLOCK_PODS);
    expect(lazy.snapshot.pods.filter((p) => p.summaryRow !== undefined)).toHaveLength(inSnapshot - 2 * BLOCK_PODS);
    expect(fromLazy.view.pods.get('z5')!.summaryRow).toBeUndefined();
    expect(fromLazy.view.pods.get(ids.at(-1)!)!.summaryRow).toBeDefined();
    expect(JSON.stringify(fromLazy.view.pods.get('z6'))).toBe(JSON.stringify(fromWhole.view.pods.get('z6')));
  }, 60_000);

  it('writes only the blocks that changed; of two saves at once one wins; spaces nothing kept uses are removed', async () => {
    const kv = await new Kvm(t.nc).open(SNAPSHOT_BUCKET);
    const snaps = await SnapshotStore.open(t.nc);
    await t.store.append(ev('pod.stop.requested', {}, `z${BLOCK_PODS * 2 + 90}`));
    const a = (await loadView(t.store, { useSnapshot: false })).view.toSnapshot();
    const first = await snaps.save(a);
    expect(first.saved).toBe(true);
    // one pod of the last block changed (the first holds the big specs of the first test): the header and that block
    // are written, the other blocks' parts are reused
    await t.store.append(ev('pod.stop.requested', {}, `z${BLOCK_PODS * 2 + 91}`));
    // (its sequence put CHECKPOINT_EVERY further, so that it becomes a checkpoint when replaced)
    const folded = (await loadView(t.store, { useSnapshot: false })).view.toSnapshot();
    const b = { ...folded, seq: folded.seq + CHECKPOINT_EVERY };
    const second = await snaps.save(b);
    expect(second.saved).toBe(true);
    expect(second.written).toBeLessThan(second.bytes / 2);
    expect(await snaps.load()).toEqual(b);

    // two daemons saving the same newer snapshot at once: one wins, the other takes its parts back
    const c = { ...b, seq: b.seq + 1 };
    const [x, y] = await Promise.all([snaps.save(c), (await SnapshotStore.open(t.nc)).save(c)]);
    expect([x.saved, y.saved].sort()).toEqual([false, true]);
    expect(await snaps.load()).toEqual(c);
    // b, CHECKPOINT_EVERY past the last kept (none), became a checkpoint: its manifest apart, read back whole
    const kept = await snaps.checkpoints();
    expect(kept.at(-1)!.seq).toBe(b.seq);
    expect(await snaps.nearest({ seq: b.seq })).toEqual(b);

    // c replaced by d (not kept: too close to b): c's own space goes, what b and d use stays, and every chunk left is used
    const d = { ...c, seq: c.seq + 1 };
    expect((await snaps.save(d)).saved).toBe(true);
    const used = new Set<string>();
    const manifest = JSON.parse((await kv.get('view.manifest'))!.string()) as { uses: Record<string, number> };
    for (const u of [manifest.uses, ...(await snaps.checkpoints()).map((k) => k.uses ?? {})]) for (const [space, n] of Object.entries(u)) for (let i = 0; i < n; i++) used.add(`view.${space}.${i}`);
    const chunks: string[] = [];
    for await (const k of await kv.keys()) if (/^view\.\d+-[0-9a-f]+\.\d+$/.test(k)) chunks.push(k);
    expect(chunks.sort()).toEqual([...used].sort());
    expect(await snaps.nearest({ seq: b.seq })).toEqual(b);
    expect(await snaps.load()).toEqual(d);

    // an audit reads each stored block once: the checkpoint b whole, then d (made of b's blocks) only its header
    const audit = await snaps.forAudit((seq) => `snapshot@${seq}`);
    expect(audit.map((a) => a.seq)).toEqual([b.seq, d.seq]);
    const [ofB, ofD] = [await audit[0].load(), await audit[1].load()];
    expect(ofB!.part!.ranges).toEqual([[0, BLOCK_PODS], [BLOCK_PODS, 2 * BLOCK_PODS], [2 * BLOCK_PODS, b.pods.length]]);
    expect(ofB!.snapshot.pods).toEqual(b.pods);
    expect(ofB!.part!.summaries).toHaveLength(b.pods.length);
    expect(ofD!.part).toEqual({ ranges: [], total: d.pods.length, summaries: [] });
    expect(ofD!.snapshot.hosts).toEqual(d.hosts);
  }, 60_000);
});
