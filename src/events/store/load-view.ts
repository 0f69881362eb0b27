// Builds the current cluster view: newest snapshot, then the tail of the stream folded on top.
import { ClusterView } from '../../model/cluster-view.js';
import type { EventStore } from './event-store.js';
import { SnapshotStore } from './snapshots.js';

export interface LoadedView { view: ClusterView; fromSnapshot: number; folded: number }

export async function loadView(store: EventStore, opts: { useSnapshot?: boolean } = {}): Promise<LoadedView> {
  const snap = opts.useSnapshot === false ? null : await (await SnapshotStore.open(store.nc)).load().catch(() => null);
  const view = snap ? ClusterView.fromSnapshot(snap) : new ClusterView();
  let folded = 0;
  for await (const batch of store.replayBatches(view.seq + 1)) {
    for (const r of batch) view.apply(r);
    folded += batch.length;
  }
  return { view, fromSnapshot: snap?.seq ?? 0, folded };
}
