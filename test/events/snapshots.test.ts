// Snapshots of the folded view: chunked in KV, newest wins, snapshot + tail folds to the same view as a full replay, and
// `state --at`'s lazy read (header, then only the blocks of pods the tail touches) answers as the whole snapshot does.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotStore } from '../../src/events/store/snapshots.js';
import { loadView } from '../../src/events/store/load-view.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { ev, spec } from '../harness/events.js';
import { BLOCK_PODS } from '../../src/events/store/snapshot-codec.js';
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
    expect(await snaps.save({ ...current!, seq: 1 })).toEqual({ bytes: 0, saved: false });
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
});
