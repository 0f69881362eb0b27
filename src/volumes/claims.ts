// Who uses a named volume on a host: a volume mounted read-write is one running pod's alone, read-only ones may share it.
// Checked before a VM boots, against the folded view (pods that hold a VM here) and the claims of pods starting in this
// process (not yet in the view), so two pods starting at once cannot both take it.
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import { HOLDS_RESOURCES } from '../model/pod-machine.js';
import { tenantOf } from '../events/schemas/subjects.js';

/** The named volumes a pod mounts, each read-write if any of its mounts of it is. */
export function namedVolumesOf(pod: PodRecord): { name: string; readonly: boolean }[] {
  const uses = new Map<string, boolean>();
  for (const c of pod.context.spec?.containers ?? []) for (const v of c.volumes ?? []) if (!v.source.startsWith('/')) uses.set(v.source, (uses.get(v.source) ?? true) && v.readonly);
  return [...uses].map(([name, readonly]) => ({ name, readonly }));
}

/** Volume name → the pods of this tenant that hold a VM and mount it. */
export function volumeUsers(view: ClusterView, tenant: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of view.pods.values()) {
    if (tenantOf(p.context) !== tenant || !HOLDS_RESOURCES.has(p.state)) continue;
    for (const { name } of namedVolumesOf(p)) out.set(name, [...(out.get(name) ?? []), p.context.name ?? p.context.id]);
  }
  return out;
}

const claims = new Map<string, Map<string, { name: string; readonly: boolean }[]>>(); // host/tenant → pod → its volumes

/** Claims the pod's volumes on this host, or says who holds one it cannot share. */
export function claimVolumes(view: ClusterView, pod: PodRecord, hostId: string): string | null {
  const mine = namedVolumesOf(pod);
  if (!mine.length) return null;
  const tenant = tenantOf(pod.context);
  const key = `${hostId}/${tenant}`;
  const others = new Map<string, { name: string; readonly: boolean }[]>(claims.get(key));
  for (const p of view.pods.values()) {
    if (p.context.host !== hostId || tenantOf(p.context) !== tenant || !HOLDS_RESOURCES.has(p.state) || p.context.id === pod.context.id) continue;
    others.set(p.context.name ?? p.context.id, namedVolumesOf(p));
  }
  for (const [holder, vols] of others) {
    if (holder === pod.context.id || holder === pod.context.name) continue;
    for (const v of vols) {
      const m = mine.find((x) => x.name === v.name);
      if (m && (!m.readonly || !v.readonly)) return `volume ${v.name} is in use by pod ${holder}${v.readonly ? ' (read-only)' : ' (read-write)'}: a volume mounted read-write is one running pod's alone — stop it, or mount the volume :ro in both`;
    }
  }
  if (!claims.has(key)) claims.set(key, new Map());
  claims.get(key)!.set(pod.context.name ?? pod.context.id, mine);
  return null;
}

export function releaseVolumes(pod: { id: string; name: string | null; tenant: string | null }, hostId: string): void {
  claims.get(`${hostId}/${pod.tenant ?? 'default'}`)?.delete(pod.name ?? pod.id);
}
