// Why the host of a running pod cannot be asked for an exec, attach, copy or probe, read from the folded view, so the
// error says what happened to the host rather than that a request timed out.
import type { ClusterView, PodRecord } from '../model/cluster-view.js';

/** null when the pod's host is up as far as the log says, or the view has no hosts (it may still not answer: askHost says so). */
export function hostProblem(view: ClusterView, pod: PodRecord, what: string): string | null {
  const name = pod.context.name ?? pod.context.id;
  const id = pod.context.host;
  if (!id) return null;
  const h = view.hosts.get(id);
  // a tenant's view has no hosts (their subjects are not its to read): then the request itself finds out
  if (!h) return null;
  if (h.state === 'lost') return `pod ${name} is on host ${id}, which was lost at ${new Date(h.lost?.at ?? 0).toISOString()} (${h.lost?.reason ?? 'silent past its lease'}): ${what} cannot reach it — hyper ps shows where the pod runs now`;
  if (h.state === 'left') return `pod ${name} is on host ${id}, whose hyperd has stopped (its VM runs on without it): start hyperd on ${id} again to ${what}`;
  return null;
}
