// Builds the current cluster view: newest snapshot, then the tail of the stream folded on top; a tenant's session folds its own pods.
import { ClusterView } from '../../model/cluster-view.js';
import { POD_PREFIX } from '../schemas/subjects.js';
import type { EventStore } from './event-store.js';
import { SnapshotStore } from './snapshots.js';

export interface LoadedView { view: ClusterView; fromSnapshot: number; folded: number }

/** `tenant` matters for a scoped store only (a tenant's credentials): it may read nothing but its own pods' subjects. */
export async function loadView(store: EventStore, opts: { useSnapshot?: boolean; tenant?: string } = {}): Promise<LoadedView> {
  const scoped = store.scoped && opts.tenant !== undefined;
  let snap = opts.useSnapshot === false || store.scoped ? null : await (await SnapshotStore.open(store.nc)).load().catch(() => null);
  // folded further than the log now goes: NATS lost events it had folded, and the tail after it would skip the new ones
  if (snap && snap.seq > (await store.lastSeq())) snap = null;
  const view = snap ? ClusterView.fromSnapshot(snap) : new ClusterView();
  let folded = 0;
  for await (const batch of store.replayBatches(view.seq + 1, scoped ? `${POD_PREFIX}${opts.tenant}.*` : undefined)) {
    for (const r of batch) view.apply(r);
    folded += batch.length;
  }
  return { view, fromSnapshot: snap?.seq ?? 0, folded };
}
