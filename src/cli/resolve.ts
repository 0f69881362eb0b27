// Finds a pod by full id, unique id prefix, or name, among a tenant's pods that are not deleted.
import { NotFoundError } from '../errors.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';

/** Among one tenant's pods: another tenant's are not there at all (their ids included). */
export function resolvePod(view: ClusterView, ref: string, tenant: string): PodRecord {
  const live = view.livePods(tenant);
  const exact = live.find((p) => p.context.id === ref);
  if (exact) return exact;
  const byName = live.filter((p) => p.context.name === ref);
  if (byName.length === 1) return byName[0];
  const byPrefix = live.filter((p) => p.context.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0];
  if (byPrefix.length > 1) throw new NotFoundError('ambiguous', `"${ref}" matches ${byPrefix.length} pods (${byPrefix.slice(0, 5).map((p) => p.context.id).join(', ')}…) — give more of the id`);
  throw new NotFoundError('no-pod', `no pod named or with an id starting "${ref}" — list pods with: hyper ps -a`);
}

/** For audit: a pod that is gone too (removed pods keep their history); a name goes to the newest pod that had it. */
export function resolvePodEver(view: ClusterView, ref: string, tenant: string): PodRecord {
  try {
    return resolvePod(view, ref, tenant);
  } catch (err) {
    const mine = [...view.pods.values()].filter((p) => (p.context.tenant ?? 'default') === tenant);
    const exact = mine.find((p) => p.context.id === ref);
    if (exact) return exact;
    const named = mine.filter((p) => p.context.name === ref).sort((a, b) => b.context.createdAt - a.context.createdAt);
    if (named.length) return named[0];
    const byPrefix = mine.filter((p) => p.context.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0];
    throw err;
  }
}
