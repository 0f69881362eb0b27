// The pod lifecycle as an XState v5 machine: the single definition of which event moves a pod where. Pure: no effects, no clocks.
import { setup, assign } from 'xstate';
import type { PodEvent } from '../events/schemas/mod.js';
import { applyPodEvent, emptyPodContext, restartsAfter, type PodContext } from './pod-context.js';

type Ev<T extends PodEvent['type']> = Extract<PodEvent, { type: T }>;

export const podGuards = {
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
    !context.stopRequested && restartsAfter(context, (event as Ev<'container.exited'>).data.exitCode),
  /** This exit ends the last live container and every container exited 0. */
  lastExitAllOk: ({ context, event }: { context: PodContext; event: PodEvent }) => lastExit(context, event) && allOk(context, event),
  lastExit: ({ context, event }: { context: PodContext; event: PodEvent }) => lastExit(context, event),
};

function lastExit(context: PodContext, event: PodEvent): boolean {
  const name = (event as Ev<'container.exited'>).data.container;
  return name in context.containers && Object.entries(context.containers).every(([n, c]) => n === name || c.state === 'exited' || c.state === 'failed');
}

function allOk(context: PodContext, event: PodEvent): boolean {
  const e = event as Ev<'container.exited'>;
  return e.data.exitCode === 0 && Object.entries(context.containers).every(([n, c]) => n === e.data.container || c.exitCode === 0);
}

type Guard = keyof typeof podGuards;
const to = (target: string, guard?: Guard) => ({ target, ...(guard ? { guard } : {}), actions: 'apply' as const });
const stay = (guard?: Guard) => ({ ...(guard ? { guard } : {}), actions: 'apply' as const });

/**
 * Stop and delete requests while a VM may exist: the owning host tears it down and reports pod.stopped.
 * A host may also stop a pod on its own (it is shutting down), reporting pod.stopped without a request.
 */
const stoppable = { 'pod.stop.requested': to('stopping'), 'pod.delete.requested': to('stopping'), 'pod.stopped': to('stopped') };
const vmDies = { 'vm.failed': to('failed'), 'vm.exited': to('failed'), 'agent.failed': to('failed') };
/** A daemon letting go of a running VM, or taking it over again after a restart: the pod's state does not change. */
const attachment = { 'vm.attached': stay(), 'vm.detached': stay() };
const containerExit = [stay('willRestart'), to('succeeded', 'lastExitAllOk'), to('failed', 'lastExit'), stay()];
/** Terminal states accept a restart or a delete, and record late facts (a VM's exit after the pod failed). */
const terminal = {
  on: {
    'pod.start.requested': to('pending'),
    'pod.delete.requested': to('deleted'),
    'vm.exited': stay(),
    'pod.stopped': stay(),
    'container.exited': stay(),
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
    created: { on: { 'pod.start.requested': to('pending'), 'pod.delete.requested': to('deleted') } },
    pending: {
      on: {
        'pod.scheduled': to('scheduled'),
        'pod.unschedulable': to('failed'),
        'pod.stop.requested': to('stopped'),
        'pod.delete.requested': to('deleted'),
      },
    },
    scheduled: { on: { 'image.pulling': stay(), 'image.ready': stay(), 'vm.booting': to('booting', 'fromPlacedHost'), 'pod.rejected': to('pending'), 'vm.failed': to('failed'), ...stoppable } },
    booting: { on: { 'vm.booted': to('booted'), ...vmDies, ...stoppable, ...attachment } },
    booted: { on: { 'agent.ready': to('starting'), ...vmDies, ...stoppable, ...attachment } },
    starting: {
      on: {
        'container.started': [to('running', 'lastToStart'), stay()],
        'container.exited': containerExit,
        'container.failed': to('failed'),
        ...vmDies,
        ...stoppable,
        ...attachment,
      },
    },
    running: {
      on: {
        'container.started': stay(),
        'container.exited': containerExit,
        'container.failed': to('failed'),
        ...vmDies,
        ...stoppable,
        ...attachment,
      },
    },
    stopping: {
      on: {
        'pod.stopped': [to('deleted', 'deleteRequested'), to('stopped')],
        'pod.delete.requested': stay(),
        'container.exited': stay(),
        'container.started': stay(),
        'vm.exited': stay(),
        'vm.failed': stay(),
        'agent.failed': stay(),
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
