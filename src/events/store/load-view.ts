// Builds the current cluster view: newest snapshot, then the tail of the stream folded on top.
import { ClusterView } from '../projections/cluster-view.js';
import type { EventStore } from './event-store.js';
import { SnapshotStore } from './snapshots.js';

export interface LoadedView { view: ClusterView; fromSnapshot: number; folded: number }

export async function loadView(store: EventStore, opts: { useSnapshot?: boolean } = {}): Promise<LoadedView> {
  const snap = opts.useSnapshot === false ? null : await (await SnapshotStore.open(store.nc)).load().catch(() => null);
  const view = snap ? ClusterView.fromSnapshot(snap) : new ClusterView();
  let folded = 0;
  for await (const r of store.replay(view.seq + 1)) {
    view.apply(r);
    folded++;
  }
  return { view, fromSnapshot: snap?.seq ?? 0, folded };
}
