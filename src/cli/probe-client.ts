// Reads what a running pod uses (stats) or runs (top) from the host that runs it, over NATS, as exec does.
import type { NatsConnection } from '@nats-io/transport-node';
import type { GuestProcessList, GuestStats } from '../drivers/driver.js';
import { addressOf } from '../events/schemas/subjects.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import { cliActor } from './intent.js';
import { askHost, ExecError } from './session-io.js';
import { hostProblem } from './pod-host.js';

function hostOf(pod: PodRecord, view?: ClusterView): string {
  const name = pod.context.name ?? pod.context.id;
  if (pod.state !== 'running' || !pod.context.host) throw new ExecError(`pod ${name} is not running (it is ${pod.state}) — start it with hyper start ${name}`);
  const gone = view && hostProblem(view, pod, 'read it');
  if (gone) throw new ExecError(gone);
  return pod.context.host;
}

export async function podStats(nc: NatsConnection, pod: PodRecord, view?: ClusterView): Promise<GuestStats> {
  const r = await askHost<{ ok: true; stats: GuestStats }>(nc, hostOf(pod, view), addressOf(pod.context), { kind: 'stats', by: cliActor() });
  return r.stats;
}

export async function podProcesses(nc: NatsConnection, pod: PodRecord, container?: string, view?: ClusterView): Promise<GuestProcessList> {
  const r = await askHost<{ ok: true; list: GuestProcessList }>(nc, hostOf(pod, view), addressOf(pod.context), { kind: 'top', container, by: cliActor() });
  return r.list;
}
