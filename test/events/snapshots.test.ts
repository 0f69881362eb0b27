// Snapshots of the folded view: chunked in KV, newest wins, and snapshot + tail folds to the same view as a full replay.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotStore } from '../../src/events/store/snapshots.js';
import { loadView } from '../../src/events/store/load-view.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { ev, spec } from '../harness/events.js';

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
});
