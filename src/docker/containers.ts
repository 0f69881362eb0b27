// Pods as the Docker Engine API shows containers, pure: a pod of one container is one container; a pod of several is one
// container per member, named POD_CONTAINER and labelled with the pod. States, status words and filters as docker's.
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import type { ContainerStatus } from '../model/pod-context.js';
import { networkOf } from './networks.js';

/** The label naming the pod a container of a multi-container pod belongs to. */
export const POD_LABEL = 'io.hyper.pod';

export interface DockerContainer {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Gateway: string; MacAddress: string }> };
  Mounts: { Type: string; Source: string; Destination: string; RW: boolean }[];
}

/** Docker's words for how long ago (go-units HumanDuration). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** Docker's state of one member: created, running, restarting, exited (a pod's own states folded onto those). */
export function dockerState(pod: PodRecord, c: ContainerStatus | undefined): string {
  if (pod.state === 'deleted') return 'removing';
  if (c?.state === 'running') return 'running';
  if (c?.state === 'restarting') return 'restarting';
  if (c?.state === 'exited' || c?.state === 'failed') return 'exited';
  if (pod.state === 'stopped' || pod.state === 'succeeded' || pod.state === 'failed') return c?.startedAt ? 'exited' : 'created';
  return 'created';
}

function statusWords(state: string, c: ContainerStatus | undefined, now: number): string {
  if (state === 'running') return `Up ${humanDuration(now - (c?.startedAt ?? now))}`;
  if (state === 'restarting') return `Restarting (${c?.exitCode ?? 0}) ${humanDuration(now - (c?.finishedAt ?? now))} ago`;
  if (state === 'exited') return `Exited (${c?.exitCode ?? (c?.state === 'failed' ? 128 : 0)}) ${humanDuration(now - (c?.finishedAt ?? now))} ago`;
  if (state === 'removing') return 'Removal In Progress';
  return 'Created';
}

/** The Docker containers of one pod (one per member; a single-container pod's takes the pod's name and id). */
export function containersOf(pod: PodRecord, now: number): DockerContainer[] {
  const spec = pod.context.spec;
  if (!spec) return [];
  const single = spec.containers.length === 1;
  const podName = pod.context.name ?? pod.context.id;
  const net = pod.context.network;
  const joined = networkOf(spec);
  return spec.containers.map((c) => {
    const st = pod.context.containers[c.name];
    const state = dockerState(pod, st);
    return {
      Id: single ? pod.context.id : `${pod.context.id}-${c.name}`,
      Names: [`/${single ? podName : `${podName}_${c.name}`}`],
      Image: c.image,
      ImageID: '',
      Command: [...(c.command ?? []), ...(c.args ?? [])].join(' '),
      Created: Math.floor(pod.context.createdAt / 1000),
      Ports: (net?.ports ?? []).map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol })),
      Labels: { ...spec.labels, ...(single ? {} : { [POD_LABEL]: podName }) },
      State: state,
      Status: statusWords(state, st, now),
      HostConfig: { NetworkMode: joined },
      NetworkSettings: { Networks: net && net.mode === 'bridge' ? { [joined]: { IPAddress: net.ip, Gateway: net.gateway, MacAddress: net.mac } } : ({} as DockerContainer['NetworkSettings']['Networks']) },
      Mounts: (c.volumes ?? []).map((v) => ({ Type: v.source.startsWith('/') ? 'bind' : 'volume', Source: v.source, Destination: v.target, RW: !v.readonly })),
    };
  });
}

export interface ListFilters { label?: string[]; name?: string[]; status?: string[]; id?: string[]; [other: string]: string[] | undefined }

/** Docker's `filters` query parameter: {"label":{"a=b":true}} (or the older {"label":["a=b"]}). */
export function parseFilters(q: string | null): ListFilters {
  if (!q) return {};
  const raw = JSON.parse(q) as Record<string, Record<string, boolean> | string[]>;
  const out: ListFilters = {};
  for (const [k, v] of Object.entries(raw)) (out as Record<string, string[]>)[k] = Array.isArray(v) ? v : Object.keys(v).filter((x) => v[x]);
  return out;
}

function matches(c: DockerContainer, f: ListFilters): boolean {
  if (f.status?.length && !f.status.includes(c.State)) return false;
  if (f.name?.length && !f.name.some((n) => c.Names.some((x) => x.slice(1).includes(n.replace(/^\//, ''))))) return false;
  if (f.id?.length && !f.id.some((i) => c.Id.startsWith(i))) return false;
  for (const l of f.label ?? []) {
    const [k, ...rest] = l.split('=');
    const v = rest.join('=');
    if (!(k in c.Labels) || (rest.length > 0 && c.Labels[k] !== v)) return false;
  }
  return true;
}

/** `GET /containers/json`: the tenant's containers, newest first; running ones only unless `all`. */
export function listContainers(view: ClusterView, tenant: string, o: { all: boolean; filters: ListFilters; now: number; limit?: number }): DockerContainer[] {
  const pods = view.livePods(tenant).sort((a, b) => b.context.createdAt - a.context.createdAt);
  let out = pods.flatMap((p) => containersOf(p, o.now)).filter((c) => (o.all || c.State === 'running' || c.State === 'restarting') && matches(c, o.filters));
  if (o.limit && o.limit > 0) out = out.slice(0, o.limit);
  return out;
}
