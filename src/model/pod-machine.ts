// The pod lifecycle as an XState v5 machine: the single definition of which event moves a pod where. Pure: no effects, no clocks.
import { setup, assign } from 'xstate';
import type { PodEvent } from '../events/schemas/mod.js';
import { applyPodEvent, emptyPodContext, restartsAfter, restartsAfterLoss, type PodContext } from './pod-context.js';

type Ev<T extends PodEvent['type']> = Extract<PodEvent, { type: T }>;

type Args = { context: PodContext; event: PodEvent };

/**
 * A host's fact counts only from the host the pod is placed on: once a run has moved (its host was lost), what the old
 * host still reports (owed facts landing after a partition heals) is history, not this run's state. Facts carry their
 * writer as `host:<id>`; anything written by another kind of writer is not a host's fact.
 */
const fromRunHost = ({ context, event }: Args) => !event.by.startsWith('host:') || event.by.slice(5) === context.host;
const lostThisRun = ({ context, event }: Args) => {
  const e = event as Ev<'pod.lost'>;
  return e.data.host === context.host && e.data.run === context.run;
};

const baseGuards = {
  startsNow: ({ event }: { context: PodContext; event: PodEvent }) => (event as Ev<'pod.requested'>).data.start,
  deleteRequested: ({ context }: { context: PodContext; event: PodEvent }) => context.deleteRequested,
  /** The fact belongs to the host this run is placed on (a late fact from a rejected placement is ignored). */
  fromPlacedHost: ({ context, event }: { context: PodContext; event: PodEvent }) => (event as Ev<'vm.booting'>).data.host === context.host,
  /** Every other container already runs, so this start completes the pod. */
  lastToStart: ({ context, event }: { context: PodContext; event: PodEvent }) => {
    const name = (event as Ev<'container.started'>).data.container;
    return name in context.containers && Object.entries(context.containers).every(([n, c]) => n === name || c.state === 'running');
  },
  willRestart: ({ context, event }: { context: PodContext; event: PodEvent }) =>
    !context.stopRequested && restartsAfter(context, (event as Ev<'container.exited'>).data.container, (event as Ev<'container.exited'>).data.exitCode),
  /** This exit ends the last live container and every container exited 0. */
  lastExitAllOk: ({ context, event }: { context: PodContext; event: PodEvent }) => lastExit(context, event) && allOk(context, event),
  lastExit: ({ context, event }: { context: PodContext; event: PodEvent }) => lastExit(context, event),
  lostThisRun,
  /** The lost run was booted and its policy restarts it: a new run, placed elsewhere. */
  lostRestartable: (a: Args) => lostThisRun(a) && restartsAfterLoss(a.context),
  lostWhileDeleting: (a: Args) => lostThisRun(a) && a.context.deleteRequested,
};

/** Every guard, also as `host&<guard>` (and plain `host`): the same check, on a fact its run's host reported. */
export const podGuards: Record<string, (a: Args) => boolean> = { host: fromRunHost };
for (const [name, g] of Object.entries(baseGuards)) {
  podGuards[name] = g;
  podGuards[`host&${name}`] = (a) => fromRunHost(a) && g(a);
}

function lastExit(context: PodContext, event: PodEvent): boolean {
  const name = (event as Ev<'container.exited'>).data.container;
  return name in context.containers && Object.entries(context.containers).every(([n, c]) => n === name || c.state === 'exited' || c.state === 'failed');
}

function allOk(context: PodContext, event: PodEvent): boolean {
  const e = event as Ev<'container.exited'>;
  return e.data.exitCode === 0 && Object.entries(context.containers).every(([n, c]) => n === e.data.container || c.exitCode === 0);
}

type Guard = keyof typeof baseGuards;
const to = (target: string, guard?: Guard) => ({ target, ...(guard ? { guard } : {}), actions: 'apply' as const });
const stay = (guard?: Guard) => ({ ...(guard ? { guard } : {}), actions: 'apply' as const });
/** The same, for a host's fact (see fromRunHost). */
const hto = (target: string, guard?: Guard) => ({ target, guard: guard ? `host&${guard}` : 'host', actions: 'apply' as const });
const hstay = (guard?: Guard) => ({ guard: guard ? `host&${guard}` : 'host', actions: 'apply' as const });

/**
 * Stop and delete requests while a VM may exist: the owning host tears it down and reports pod.stopped.
 * A host may also stop a pod on its own (it is shutting down), reporting pod.stopped without a request.
 */
const stoppable = { 'pod.stop.requested': to('stopping'), 'pod.delete.requested': to('stopping'), 'pod.stopped': hto('stopped') };
const vmDies = { 'vm.failed': hto('failed'), 'vm.exited': hto('failed'), 'agent.failed': hto('failed') };
/** A daemon letting go of a running VM, or taking it over again after a restart: the pod's state does not change. */
const attachment = { 'vm.attached': hstay(), 'vm.detached': hstay() };
/** A signal to the containers while they run: asked by a client, delivered (once) by the pod's host. */
const killable = { 'pod.kill.requested': stay(), 'pod.killed': hstay() };
/** A new name, in any state from created until deleted. */
const renamable = { 'pod.rename.requested': stay() };
const containerExit = [hstay('willRestart'), hto('succeeded', 'lastExitAllOk'), hto('failed', 'lastExit'), hstay()];
/** Its host lost with the run on it: placed again (never booted), a new run (restartable), or the run failed. */
const lostBooted = { 'pod.lost': [to('pending', 'lostRestartable'), to('failed', 'lostThisRun')] };
/** Terminal states accept a restart or a delete, and record late facts (a VM's exit after the pod failed). */
const terminal = {
  on: {
    ...renamable,
    'pod.start.requested': to('pending'),
    'pod.delete.requested': to('deleted'),
    'vm.exited': hstay(),
    'pod.stopped': hstay(),
    'container.exited': hstay(),
    ...attachment,
  },
};

export const podMachine = setup({
  types: {} as { context: PodContext; events: PodEvent; input: { id: string } },
  guards: podGuards,
  actions: { apply: assign(({ context, event }) => applyPodEvent(context, event)) },
}).createMachine({
  id: 'pod',
  initial: 'new',
  context: ({ input }) => emptyPodContext(input.id),
  states: {
    new: { on: { 'pod.requested': [to('pending', 'startsNow'), to('created')] } },
    created: { on: { ...renamable, 'pod.start.requested': to('pending'), 'pod.delete.requested': to('deleted') } },
    pending: {
      on: {
        ...renamable,
        'pod.scheduled': to('scheduled'),
        'pod.waiting': stay(),
        'pod.unschedulable': to('failed'),
        'pod.stop.requested': to('stopped'),
        'pod.delete.requested': to('deleted'),
      },
    },
    scheduled: {
      on: { ...renamable, 'image.pulling': hstay(), 'image.ready': hstay(), 'net.assigned': hstay(), 'vm.booting': hto('booting', 'fromPlacedHost'), 'pod.rejected': hto('pending'), 'vm.failed': hto('failed'), 'pod.lost': to('pending', 'lostThisRun'), ...stoppable },
    },
    booting: { on: { ...renamable, 'vm.origin': hstay(), 'vm.booted': hto('booted'), ...vmDies, ...stoppable, ...attachment, ...lostBooted } },
    booted: { on: { ...renamable, 'agent.ready': hto('starting'), ...vmDies, ...stoppable, ...attachment, ...lostBooted } },
    starting: {
      on: {
        ...renamable,
        ...killable,
        'container.started': [hto('running', 'lastToStart'), hstay()],
        'container.oom': hstay(),
        'container.exited': containerExit,
        'container.failed': hto('failed'),
        ...vmDies,
        ...stoppable,
        ...attachment,
        ...lostBooted,
      },
    },
    running: {
      on: {
        ...renamable,
        ...killable,
        'container.started': hstay(),
        'container.oom': hstay(),
        'container.exited': containerExit,
        'container.failed': hto('failed'),
        ...vmDies,
        ...stoppable,
        ...attachment,
        ...lostBooted,
      },
    },
    stopping: {
      on: {
        ...renamable,
        'pod.stopped': [hto('deleted', 'deleteRequested'), hto('stopped')],
        'pod.delete.requested': stay(),
        'container.exited': hstay(),
        'container.started': hstay(),
        'vm.exited': hstay(),
        'vm.failed': hstay(),
        'agent.failed': hstay(),
        'pod.lost': [to('deleted', 'lostWhileDeleting'), to('stopped', 'lostThisRun')],
        ...attachment,
      },
    },
    stopped: terminal,
    succeeded: terminal,
    failed: terminal,
    deleted: { type: 'final' },
  },
});

export type PodState = 'new' | 'created' | 'pending' | 'scheduled' | 'booting' | 'booted' | 'starting' | 'running' | 'stopping' | 'stopped' | 'succeeded' | 'failed' | 'deleted';

/** States in which the pod holds its host's vCPUs and memory. */
export const HOLDS_RESOURCES: ReadonlySet<PodState> = new Set(['scheduled', 'booting', 'booted', 'starting', 'running', 'stopping']);
export const TERMINAL: ReadonlySet<PodState> = new Set(['stopped', 'succeeded', 'failed', 'deleted']);
