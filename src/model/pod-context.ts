// The pod's folded data (XState context) and the pure reducer that applies one accepted event to it.
import type { PodEvent, PodSpec } from '../events/schemas/mod.js';

export type ContainerState = 'waiting' | 'running' | 'restarting' | 'exited' | 'failed';

export interface ContainerStatus {
  state: ContainerState;
  /** The guest pid of its current (or last) process: tells a process a re-attached daemon finds from an earlier one. */
  pid: number | null;
  exitCode: number | null;
  restarts: number;
  startedAt: number | null;
  finishedAt: number | null;
  reason: string | null;
  /** How the run before this one ended, while a restarted container runs again (absent until a restart). */
  lastExit?: { exitCode: number; at: number };
}

export interface PodContext {
  id: string;
  /** Its tenant, from its pod.requested; null for a pod created before 0.3 (tenant "default", old subject layout). */
  tenant: string | null;
  name: string | null;
  spec: PodSpec | null;
  createdAt: number;
  updatedAt: number;
  /** Increments on every start; facts carry it so a late fact of an earlier run is recognisable. */
  run: number;
  /** Placement attempts within this run (a host may reject an over-committed placement). */
  attempt: number;
  host: string | null;
  vm: string | null;
  bootDeadline: number | null;
  /** A daemon holds the VM's channels (false between vm.detached and vm.attached, or once the VM is gone). */
  attached: boolean;
  agentVersion: string | null;
  containers: Record<string, ContainerStatus>;
  reason: string | null;
  deleteRequested: boolean;
  /** Set by a stop request for this run: no container restarts while the pod is being stopped. */
  stopRequested: boolean;
  stopGraceMs: number;
  requestedBy: string | null;
  /** Id of the latest intent accepted: facts answering it name it as their causation. */
  lastIntent: string | null;
  /** Id of the intent that began the current run: every fact of the run carries it as its correlation. */
  runIntent: string | null;
  /** While pending: since when (the time of the event that made it so); a wait timeout counts from here. Null otherwise. */
  pendingSince: number | null;
  /** A kill request its host has not yet delivered (absent: none; kept out of contexts without one, as before 0.7). */
  kill?: { id: string; signal: number; container: string | null };
  /** The network its host gave a run (net.assigned; absent: none yet). It is that run's while the run lasts. */
  network?: PodNetwork;
}

export interface PodNetwork {
  run: number;
  host: string;
  mode: 'bridge' | 'user';
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  dns: string[];
  ports: { protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }[];
}

function withoutKill(ctx: PodContext): PodContext {
  const { kill: _, ...rest } = ctx;
  return rest;
}

export function emptyPodContext(id: string): PodContext {
  return {
    id, tenant: null, name: null, spec: null, createdAt: 0, updatedAt: 0, run: 0, attempt: 0, host: null, vm: null, bootDeadline: null, attached: false,
    agentVersion: null, containers: {}, reason: null, deleteRequested: false, stopRequested: false, stopGraceMs: 10_000, requestedBy: null, lastIntent: null, runIntent: null, pendingSince: null,
  };
}

function freshContainers(spec: PodSpec): Record<string, ContainerStatus> {
  const out: Record<string, ContainerStatus> = {};
  for (const c of spec.containers) out[c.name] = { state: 'waiting', pid: null, exitCode: null, restarts: 0, startedAt: null, finishedAt: null, reason: null };
  return out;
}

function withContainer(ctx: PodContext, name: string, patch: Partial<ContainerStatus>): Record<string, ContainerStatus> {
  const cur = ctx.containers[name];
  if (!cur) return ctx.containers; // a fact about a container the spec does not have changes nothing
  return { ...ctx.containers, [name]: { ...cur, ...patch } };
}

/** Whether the restart policy restarts this container after it exited with this code (on-failure:N counts its restarts). */
export function restartsAfter(ctx: PodContext, container: string, exitCode: number): boolean {
  const policy = ctx.spec?.restartPolicy ?? 'never';
  if (policy === 'always') return true;
  if (policy !== 'on-failure' || exitCode === 0) return false;
  const max = ctx.spec?.maxRestarts;
  return max === undefined || (ctx.containers[container]?.restarts ?? 0) < max;
}

/** The restart policy as docker writes it: never, always, on-failure or on-failure:N. */
export function restartPolicyText(spec: PodSpec): string {
  return spec.restartPolicy === 'on-failure' && spec.maxRestarts !== undefined ? `on-failure:${spec.maxRestarts}` : spec.restartPolicy;
}

/** Whether a run lost with its host starts again elsewhere: its restart policy restarts it, and no stop was asked for. */
export function restartsAfterLoss(ctx: PodContext): boolean {
  const policy = ctx.spec?.restartPolicy ?? 'never';
  return !ctx.stopRequested && (policy === 'always' || policy === 'on-failure');
}

/** Applies an event the machine accepted. Pure: reads time only from the event. */
export function applyPodEvent(ctx: PodContext, e: PodEvent): PodContext {
  switch (e.type) {
    case 'pod.requested':
      return { ...ctx, updatedAt: e.at, tenant: e.tenant ?? null, spec: e.data.spec, name: e.data.spec.name ?? null, createdAt: e.at, containers: freshContainers(e.data.spec), run: e.data.start ? 1 : 0, requestedBy: e.by, lastIntent: e.id, runIntent: e.data.start ? e.id : null, pendingSince: e.data.start ? e.at : null };
    case 'pod.start.requested':
      // a kill of the run before is not this run's
      if (ctx.kill) ctx = withoutKill(ctx);
      return { ...ctx, updatedAt: e.at, run: ctx.run + 1, attempt: 0, host: null, vm: null, bootDeadline: null, attached: false, agentVersion: null, reason: null, stopRequested: false, lastIntent: e.id, runIntent: e.id, pendingSince: e.at, containers: ctx.spec ? freshContainers(ctx.spec) : {} };
    case 'pod.stop.requested':
      return { ...ctx, updatedAt: e.at, stopGraceMs: e.data.graceMs, stopRequested: true, lastIntent: e.id, pendingSince: null };
    case 'pod.delete.requested':
      return { ...ctx, updatedAt: e.at, deleteRequested: true, stopRequested: true, lastIntent: e.id, pendingSince: null };
    case 'pod.scheduled':
      return { ...ctx, updatedAt: e.at, host: e.data.host, attempt: e.data.attempt, pendingSince: null };
    case 'pod.rename.requested':
      return { ...ctx, updatedAt: e.at, name: e.data.name, lastIntent: e.id };
    case 'pod.kill.requested':
      return { ...ctx, updatedAt: e.at, lastIntent: e.id, kill: { id: e.id, signal: e.data.signal, container: e.data.container ?? null } };
    case 'pod.killed':
      return { ...(ctx.kill?.id === e.data.intent ? withoutKill(ctx) : ctx), updatedAt: e.at };
    case 'net.assigned':
      return e.data.run === ctx.run ? { ...ctx, updatedAt: e.at, network: { ...e.data } } : ctx;
    case 'image.pulling':
    case 'image.ready':
    case 'vm.origin':
    case 'intent.rejected':
    case 'exec.started':
    case 'exec.failed':
    case 'exec.exited':
    case 'copy.started':
    case 'copy.failed':
    case 'copy.ended':
    case 'attach.started':
    case 'attach.ended':
      return { ...ctx, updatedAt: e.at };
    case 'pod.rejected':
      return { ...ctx, updatedAt: e.at, host: null, attempt: ctx.attempt + 1, reason: `rejected by ${e.data.host}: ${e.data.reason}` };
    case 'pod.unschedulable':
      return { ...ctx, updatedAt: e.at, reason: e.data.reason, pendingSince: null };
    case 'pod.waiting':
      return { ...ctx, updatedAt: e.at, reason: e.data.reason };
    case 'pod.lost': {
      const ended = { ...ctx, updatedAt: e.at, host: null, vm: null, bootDeadline: null, attached: false, reason: e.data.reason };
      // never booted: placed again, same run; booted and restartable: a new run elsewhere; else the run ends here
      if (ctx.vm === null) return { ...ended, attempt: ctx.attempt + 1, pendingSince: e.at };
      if (restartsAfterLoss(ctx)) return { ...ended, run: ctx.run + 1, attempt: 0, agentVersion: null, pendingSince: e.at, containers: ctx.spec ? freshContainers(ctx.spec) : {} };
      const containers: Record<string, ContainerStatus> = {};
      for (const [n, st] of Object.entries(ctx.containers)) containers[n] = st.state === 'running' || st.state === 'restarting' || st.state === 'waiting' ? { ...st, state: 'failed', reason: e.data.reason, finishedAt: e.at } : st;
      return { ...ended, host: ctx.host, containers };
    }
    case 'vm.booting':
      return { ...ctx, updatedAt: e.at, vm: e.data.vm, bootDeadline: e.data.deadline };
    case 'vm.booted':
      return { ...ctx, updatedAt: e.at, bootDeadline: null, attached: true };
    case 'vm.attached':
      return { ...ctx, updatedAt: e.at, attached: true };
    case 'vm.detached':
      return { ...ctx, updatedAt: e.at, attached: false };
    case 'vm.failed':
    case 'agent.failed':
      return { ...ctx, updatedAt: e.at, reason: e.data.reason, bootDeadline: null };
    case 'vm.exited':
      return { ...ctx, updatedAt: e.at, vm: null, attached: false, reason: ctx.reason ?? e.data.reason };
    case 'agent.ready':
      return { ...ctx, updatedAt: e.at, agentVersion: e.data.version };
    case 'container.started': {
      const cur = ctx.containers[e.data.container];
      const last = cur && cur.exitCode !== null && cur.finishedAt !== null ? { lastExit: { exitCode: cur.exitCode, at: cur.finishedAt } } : {};
      return { ...ctx, updatedAt: e.at, containers: withContainer(ctx, e.data.container, { state: 'running', pid: e.data.pid, startedAt: e.at, finishedAt: null, exitCode: null, reason: null, ...last }) };
    }
    case 'container.failed':
      return { ...ctx, updatedAt: e.at, reason: `container ${e.data.container}: ${e.data.reason}`, containers: withContainer(ctx, e.data.container, { state: 'failed', reason: e.data.reason, finishedAt: e.at }) };
    case 'container.oom':
      return { ...ctx, updatedAt: e.at, containers: withContainer(ctx, e.data.container, { reason: 'OOM killed' }) };
    case 'container.exited': {
      const cur = ctx.containers[e.data.container];
      const restart = !ctx.stopRequested && restartsAfter(ctx, e.data.container, e.data.exitCode);
      // on-failure:N that has used its N restarts says so, on the container and (if nothing failed before) on the pod
      const exhausted = !restart && !ctx.stopRequested && e.data.exitCode !== 0 && ctx.spec?.restartPolicy === 'on-failure' && ctx.spec.maxRestarts !== undefined;
      const why = exhausted ? `exited ${e.data.exitCode}; restart policy ${restartPolicyText(ctx.spec!)} exhausted after ${cur?.restarts ?? 0} restarts` : null;
      return {
        ...ctx,
        updatedAt: e.at,
        ...(why ? { reason: ctx.reason ?? `container ${e.data.container} ${why}` } : {}),
        containers: withContainer(ctx, e.data.container, {
          state: restart ? 'restarting' : 'exited',
          exitCode: e.data.exitCode,
          finishedAt: e.at,
          restarts: (cur?.restarts ?? 0) + (restart ? 1 : 0),
          ...(why ? { reason: why } : {}),
        }),
      };
    }
    case 'pod.stopped': {
      // whatever still ran ended with the VM; its exit code is unknown unless the agent reported it first
      const containers: Record<string, ContainerStatus> = {};
      for (const [n, st] of Object.entries(ctx.containers)) containers[n] = st.state === 'running' || st.state === 'restarting' ? { ...st, state: 'exited', finishedAt: e.at } : st;
      return { ...ctx, updatedAt: e.at, vm: null, bootDeadline: null, attached: false, reason: e.data.reason ?? ctx.reason, containers };
    }
  }
}
