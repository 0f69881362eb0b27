// The compiled fold must agree with XState's own transition() on any history: same state, same context.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { initialTransition, transition } from 'xstate';
import { foldPod, initialPod } from '../../src/model/pod-fold.js';
import { podMachine } from '../../src/model/pod-machine.js';
import type { PodEvent } from '../../src/events/schemas/mod.js';
import { ev, spec } from '../harness/events.js';

const containers = ['a', 'b'];
const arbEvent: fc.Arbitrary<PodEvent> = fc.oneof(
  fc.record({ start: fc.boolean(), policy: fc.constantFrom('never', 'on-failure', 'always') as fc.Arbitrary<'never' | 'on-failure' | 'always'> }).map(({ start, policy }) =>
    ev('pod.requested', { spec: spec({ containers: containers.map((name) => ({ name, image: 'busybox' })), restartPolicy: policy }), start }),
  ),
  fc.constant(null).map(() => ev('pod.start.requested', {})),
  fc.constant(null).map(() => ev('pod.stop.requested', {})),
  fc.boolean().map((force) => ev('pod.delete.requested', { force })),
  fc.constantFrom('h1', 'h2').map((host) => ev('pod.scheduled', { host, run: 1, attempt: 0 })),
  fc.constant(null).map(() => ev('pod.rejected', { host: 'h1', reason: 'full' })),
  fc.constant(null).map(() => ev('pod.unschedulable', { reason: 'none fits' })),
  fc.constantFrom('h1', 'h2').map((host) => ev('vm.booting', { host, vm: 'vm1', driver: 'hollow', deadline: 5 })),
  fc.constant(null).map(() => ev('vm.booted', { vm: 'vm1', bootMs: 3 })),
  fc.constant(null).map(() => ev('vm.failed', { vm: 'vm1', reason: 'x' })),
  fc.constant(null).map(() => ev('vm.exited', { vm: 'vm1', reason: 'y' })),
  fc.constant(null).map(() => ev('agent.ready', { version: '1' })),
  fc.constant(null).map(() => ev('agent.failed', { reason: 'z' })),
  fc.record({ container: fc.constantFrom(...containers), pid: fc.constantFrom(3, 4) }).map((d) => ev('container.started', d)),
  fc.constantFrom(...containers).map((container) => ev('container.failed', { container, reason: 'enoent' })),
  fc.record({ container: fc.constantFrom(...containers), exitCode: fc.constantFrom(0, 1, 137) }).map((d) => ev('container.exited', d)),
  fc.constant(null).map(() => ev('pod.stopped', {})),
  fc.constantFrom('resynced', 'too-old').map((resync) => ev('vm.attached', { vm: 'vm1', daemon: 'd2', resync: resync as 'resynced' | 'too-old', processes: 1 })),
  fc.constant(null).map(() => ev('vm.detached', { vm: 'vm1', reason: 'hyperd stopped' })),
  fc.constant(null).map(() => ev('pod.waiting', { reason: 'no room' })),
  fc.record({ host: fc.constantFrom('h1', 'h2'), run: fc.constantFrom(1, 2) }).map((d) => ev('pod.lost', { ...d, reason: 'host lost' })),
  // host facts written by a host other than the placed one (ignored), or by the placed one
  fc.record({ by: fc.constantFrom('host:h1', 'host:h2'), exitCode: fc.constantFrom(0, 1) }).map(({ by, exitCode }) => ev('container.exited', { container: 'a', exitCode }, 'p1', 2_000, by)),
  fc.constantFrom('host:h1', 'host:h2').map((by) => ev('vm.booted', { vm: 'vm1', bootMs: 3 }, 'p1', 2_000, by)),
);

describe('compiled fold ≡ xstate transition()', () => {
  it('agrees on random histories (state and context after every event)', () => {
    fc.assert(
      fc.property(fc.array(arbEvent, { maxLength: 40 }), (events) => {
        let [snap] = initialTransition(podMachine, { id: 'p1' });
        let fold = initialPod('p1');
        for (const e of events) {
          [snap] = transition(podMachine, snap, e);
          fold = foldPod(fold, e);
          expect(fold.state).toBe(snap.value);
          expect(fold.context).toEqual(snap.context);
        }
      }),
      { numRuns: 400 },
    );
  });
});
