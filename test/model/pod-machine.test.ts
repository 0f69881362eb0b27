// Pure transition tests of the pod machine: every lifecycle path and every failure path, through the compiled fold.
import { describe, expect, it } from 'vitest';
import { foldPod, initialPod, type PodFold } from '../../src/model/pod-fold.js';
import type { PodEvent } from '../../src/events/schemas/mod.js';
import { ev, spec } from '../harness/events.js';

const fold = (events: PodEvent[], from: PodFold = initialPod('p1')) => events.reduce(foldPod, from);
const requested = (s = spec(), start = true) => ev('pod.requested', { spec: s, start });
const toRunning = (s = spec()) => [
  requested(s),
  ev('pod.scheduled', { host: 'h1', run: 1, attempt: 0 }),
  ev('vm.booting', { host: 'h1', vm: 'vm1', driver: 'hollow', deadline: 99_999 }),
  ev('vm.booted', { vm: 'vm1', bootMs: 12 }),
  ev('agent.ready', { version: 'v1' }),
  ...s.containers.map((c) => ev('container.started', { container: c.name, pid: 2 })),
];

describe('pod machine: happy paths', () => {
  it('walks requested → pending → scheduled → booting → booted → starting → running', () => {
    const states = toRunning().reduce<string[]>((acc, e, i, all) => [...acc, fold(all.slice(0, i + 1)).state], []);
    expect(states).toEqual(['pending', 'scheduled', 'booting', 'booted', 'starting', 'running']);
    const p = fold(toRunning());
    expect(p.context).toMatchObject({ host: 'h1', vm: 'vm1', agentVersion: 'v1', run: 1, bootDeadline: null });
    expect(p.context.containers.main).toMatchObject({ state: 'running' });
  });

  it('records image.pulling and image.ready while scheduled (the image a VM gets, before it boots) and ignores it once the run has moved on', () => {
    const scheduled = fold(toRunning().slice(0, 2));
    const ready = ev('image.ready', { image: 'busybox', id: `sha256:${'a'.repeat(64)}`, pulled: true, converted: true, ms: 120 });
    expect(foldPod(scheduled, ev('image.pulling', { image: 'busybox' })).state).toBe('scheduled');
    const after = foldPod(scheduled, ready);
    expect(after.state).toBe('scheduled');
    expect(after.context.updatedAt).toBe(ready.at);
    const running = fold(toRunning());
    expect(foldPod(running, ready)).toBe(running);
  });

  it('ends succeeded when every container exits 0', () => {
    const p = fold([...toRunning(), ev('container.exited', { container: 'main', exitCode: 0 })]);
    expect(p.state).toBe('succeeded');
    expect(p.context.containers.main).toMatchObject({ state: 'exited', exitCode: 0 });
  });

  it('waits for every container of a multi-container pod before running and before ending', () => {
    const s = spec({ containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] });
    const events = toRunning(s);
    expect(fold(events.slice(0, -1)).state).toBe('starting');
    const running = fold(events);
    expect(running.state).toBe('running');
    const oneExited = foldPod(running, ev('container.exited', { container: 'a', exitCode: 0 }));
    expect(oneExited.state).toBe('running');
    expect(foldPod(oneExited, ev('container.exited', { container: 'b', exitCode: 4 })).state).toBe('failed');
  });

  it('create does not start until start is requested', () => {
    const created = fold([requested(spec(), false)]);
    expect(created.state).toBe('created');
    expect(created.context.run).toBe(0);
    const started = foldPod(created, ev('pod.start.requested', {}));
    expect(started.state).toBe('pending');
    expect(started.context.run).toBe(1);
  });

  it('a stopped pod can be started again as a new run with fresh containers', () => {
    const stopped = fold([...toRunning(), ev('pod.stop.requested', {}), ev('pod.stopped', {})]);
    expect(stopped.state).toBe('stopped');
    const again = foldPod(stopped, ev('pod.start.requested', {}));
    expect(again.state).toBe('pending');
    expect(again.context).toMatchObject({ run: 2, host: null, vm: null, stopRequested: false });
    expect(again.context.containers.main.state).toBe('waiting');
  });
});

describe('pod machine: stop and delete', () => {
  it('stop of a running pod goes through stopping; the host reports pod.stopped', () => {
    const stopping = fold([...toRunning(), ev('pod.stop.requested', { graceMs: 500 })]);
    expect(stopping.state).toBe('stopping');
    expect(stopping.context.stopGraceMs).toBe(500);
    const exited = foldPod(stopping, ev('container.exited', { container: 'main', exitCode: 143 }));
    expect(exited.state).toBe('stopping');
    expect(exited.context.containers.main.state).toBe('exited'); // no restart while stopping, even with restart=always
    expect(foldPod(exited, ev('pod.stopped', {})).state).toBe('stopped');
  });

  it('does not restart containers that exit during a stop, whatever the policy', () => {
    const p = fold([...toRunning(spec({ restartPolicy: 'always' })), ev('pod.stop.requested', {}), ev('container.exited', { container: 'main', exitCode: 143 })]);
    expect(p.context.containers.main).toMatchObject({ state: 'exited', restarts: 0 });
  });

  it('a host that shuts down may stop a pod without a request', () => {
    const p = fold([...toRunning(), ev('pod.stopped', { reason: 'host h1 shut down' })]);
    expect(p.state).toBe('stopped');
    expect(p.context.reason).toBe('host h1 shut down');
  });

  it('stop of a pending pod stops it at once (no host owns it yet)', () => {
    expect(fold([requested(), ev('pod.stop.requested', {})]).state).toBe('stopped');
  });

  it('delete of a running pod stops it first, then deletes', () => {
    const p = fold([...toRunning(), ev('pod.delete.requested', { force: true })]);
    expect(p.state).toBe('stopping');
    expect(foldPod(p, ev('pod.stopped', {})).state).toBe('deleted');
  });

  it('delete of created, pending or ended pods is immediate', () => {
    expect(fold([requested(spec(), false), ev('pod.delete.requested', {})]).state).toBe('deleted');
    expect(fold([requested(), ev('pod.delete.requested', {})]).state).toBe('deleted');
    expect(fold([...toRunning(), ev('container.exited', { container: 'main', exitCode: 0 }), ev('pod.delete.requested', {})]).state).toBe('deleted');
  });

  it('a deleted pod ignores everything after', () => {
    const gone = fold([requested(), ev('pod.delete.requested', {})]);
    expect(foldPod(gone, ev('pod.start.requested', {}))).toBe(gone);
    expect(foldPod(gone, ev('pod.scheduled', { host: 'h1', run: 1, attempt: 0 }))).toBe(gone);
  });
});

describe('pod machine: restart policy', () => {
  const exit = (code: number) => ev('container.exited', { container: 'main', exitCode: code });

  it('never: a failed container fails the pod', () => {
    const p = fold([...toRunning(), exit(2)]);
    expect(p.state).toBe('failed');
  });

  it('on-failure: restarts after a non-zero exit, ends after exit 0', () => {
    const s = spec({ restartPolicy: 'on-failure' });
    const restarting = fold([...toRunning(s), exit(1)]);
    expect(restarting.state).toBe('running');
    expect(restarting.context.containers.main).toMatchObject({ state: 'restarting', restarts: 1, exitCode: 1 });
    const again = foldPod(restarting, ev('container.started', { container: 'main', pid: 9 }));
    expect(again.context.containers.main.state).toBe('running');
    expect(foldPod(again, exit(0)).state).toBe('succeeded');
  });

  it('always: restarts even after exit 0', () => {
    const p = fold([...toRunning(spec({ restartPolicy: 'always' })), exit(0)]);
    expect(p.state).toBe('running');
    expect(p.context.containers.main).toMatchObject({ state: 'restarting', restarts: 1 });
  });

  it('on-failure:2 restarts twice, then the third failure fails the pod and says why', () => {
    const started = (pid: number) => ev('container.started', { container: 'main', pid });
    const p = fold([...toRunning(spec({ restartPolicy: 'on-failure', maxRestarts: 2 })), exit(3), started(10), exit(4), started(11)]);
    expect(p.state).toBe('running');
    expect(p.context.containers.main).toMatchObject({ state: 'running', restarts: 2, exitCode: null, lastExit: { exitCode: 4 } });
    const ended = foldPod(p, exit(5));
    expect(ended.state).toBe('failed');
    expect(ended.context.containers.main).toMatchObject({ state: 'exited', restarts: 2, exitCode: 5, reason: 'exited 5; restart policy on-failure:2 exhausted after 2 restarts' });
    expect(ended.context.reason).toBe('container main exited 5; restart policy on-failure:2 exhausted after 2 restarts');
  });

  it('on-failure:0 never restarts, and exit 0 under on-failure:N still succeeds', () => {
    expect(fold([...toRunning(spec({ restartPolicy: 'on-failure', maxRestarts: 0 })), exit(1)]).state).toBe('failed');
    expect(fold([...toRunning(spec({ restartPolicy: 'on-failure', maxRestarts: 1 })), exit(0)]).state).toBe('succeeded');
  });
});

describe('pod machine: failure paths', () => {
  const upTo = (n: number) => toRunning().slice(0, n);

  it('refused placement fails the pod with the reason', () => {
    const p = fold([requested(), ev('pod.unschedulable', { reason: 'no host can fit 64 vCPU' })]);
    expect(p.state).toBe('failed');
    expect(p.context.reason).toBe('no host can fit 64 vCPU');
  });

  it('a host rejecting an over-committed placement sends the pod back to pending', () => {
    const p = fold([...upTo(2), ev('pod.rejected', { host: 'h1', reason: 'over capacity' })]);
    expect(p.state).toBe('pending');
    expect(p.context).toMatchObject({ host: null, attempt: 1 });
    expect(p.context.reason).toContain('over capacity');
  });

  it('vm.booting from a host the pod is not placed on is ignored', () => {
    const p = fold(upTo(2));
    expect(foldPod(p, ev('vm.booting', { host: 'h2', vm: 'x', driver: 'hollow', deadline: 1 }))).toBe(p);
  });

  it.each([
    ['scheduled', 2, ev('vm.failed', { vm: null, reason: 'qemu: no kernel' })],
    ['booting', 3, ev('vm.failed', { vm: 'vm1', reason: 'boot timeout' })],
    ['booting', 3, ev('vm.exited', { vm: 'vm1', reason: 'crashed' })],
    ['booted', 4, ev('agent.failed', { reason: 'handshake timeout' })],
    ['starting', 5, ev('container.failed', { container: 'main', reason: 'no such file' })],
    ['running', 6, ev('vm.exited', { vm: 'vm1', reason: 'guest panic' })],
  ] as const)('in %s, %s fails the pod with its reason', (state, n, failure) => {
    const before = fold(upTo(n));
    expect(before.state).toBe(state);
    const p = foldPod(before, failure);
    expect(p.state).toBe('failed');
    expect(p.context.reason).toContain((failure.data as { reason: string }).reason);
  });

  it('facts that do not apply in a state change nothing', () => {
    const p = fold([requested()]);
    expect(foldPod(p, ev('container.started', { container: 'main', pid: 1 }))).toBe(p);
    expect(foldPod(p, ev('pod.requested', { spec: spec(), start: true }))).toBe(p);
    const running = fold(toRunning());
    expect(foldPod(running, ev('container.started', { container: 'nope', pid: 1 })).context.containers).toEqual(running.context.containers);
  });

  it('takes time only from events', () => {
    const p = fold([ev('pod.requested', { spec: spec(), start: true }, 'p1', 42)]);
    expect(p.context).toMatchObject({ createdAt: 42, updatedAt: 42 });
  });
});

describe('pod machine: daemons letting go of a VM and taking it over again', () => {
  it('vm.detached and vm.attached change only whether a daemon holds the VM, never the pod\'s state', () => {
    const running = fold(toRunning());
    expect(running.context.attached).toBe(true);
    expect(running.context.containers.main.pid).toBe(2);
    const detached = foldPod(running, ev('vm.detached', { vm: 'vm1', reason: 'hyperd stopped' }));
    expect(detached.state).toBe('running');
    expect(detached.context.attached).toBe(false);
    const back = foldPod(detached, ev('vm.attached', { vm: 'vm1', daemon: 'h1-2', resync: 'resynced', processes: 1 }));
    expect(back.state).toBe('running');
    expect(back.context.attached).toBe(true);
  });

  it('an exit recorded after a re-attach applies the restart policy as if the daemon had been there', () => {
    const s = spec({ restartPolicy: 'on-failure' });
    const p = fold([...toRunning(s), ev('vm.detached', { vm: 'vm1', reason: 'x' }), ev('vm.attached', { vm: 'vm1', daemon: 'd2', resync: 'resynced', processes: 1 }), ev('container.exited', { container: 'main', exitCode: 7 })]);
    expect(p.state).toBe('running');
    expect(p.context.containers.main).toMatchObject({ state: 'restarting', exitCode: 7, restarts: 1 });
  });

  it('a VM that exits or a pod that stops is no longer attached', () => {
    expect(foldPod(fold(toRunning()), ev('vm.exited', { vm: 'vm1', reason: 'gone' })).context.attached).toBe(false);
    expect(fold([...toRunning(), ev('pod.stop.requested', {}), ev('pod.stopped', {})]).context.attached).toBe(false);
  });
});

describe('pod machine: kill requests and exec sessions', () => {
  it('a kill request waits in the context until its host reports it delivered; a new run does not inherit it', () => {
    const asked = fold([...toRunning(), ev('pod.kill.requested', { signal: 10 })]);
    expect(asked.state).toBe('running');
    expect(asked.context.kill).toMatchObject({ signal: 10, container: null });
    const other = foldPod(asked, ev('pod.killed', { intent: 'another', signal: 10, containers: ['main'] }));
    expect(other.context.kill).toBeDefined();
    const done = foldPod(asked, ev('pod.killed', { intent: asked.context.kill!.id, signal: 10, containers: ['main'] }));
    expect(done.state).toBe('running');
    expect('kill' in done.context).toBe(false);
    // killed before it was delivered: the pod ended; its next run starts without the old request
    const ended = fold([ev('pod.kill.requested', { signal: 9 }), ev('container.exited', { container: 'main', exitCode: 137 })], asked);
    expect(ended.state).toBe('failed');
    expect('kill' in foldPod(ended, ev('pod.start.requested', {})).context).toBe(false);
  });

  it('a rename changes the name and nothing else, in any state from created on; a removed pod keeps its last name', () => {
    for (const events of [[requested(spec(), false)], [requested()], toRunning(), [...toRunning(), ev('container.exited', { container: 'main', exitCode: 0 })]]) {
      const before = fold(events);
      const after = foldPod(before, ev('pod.rename.requested', { name: 'renamed' }));
      expect(after.state).toBe(before.state);
      expect(after.context.name).toBe('renamed');
      expect(after.context.spec).toBe(before.context.spec);
    }
    const gone = fold([requested(spec(), false), ev('pod.delete.requested', {})]);
    expect(foldPod(gone, ev('pod.rename.requested', { name: 'late' })).context.name).toBe(gone.context.name);
  });

  it('a kill request of a pod that is not running changes nothing', () => {
    const pending = fold([requested()]);
    expect(foldPod(pending, ev('pod.kill.requested', { signal: 9 }))).toBe(pending);
  });

  it('exec facts never change the pod: the fold ignores them in every state', () => {
    const running = fold(toRunning());
    for (const e of [
      ev('exec.started', { session: 'abcdefgh', container: 'main', command: ['sh'], tty: true, pid: 9 }),
      ev('exec.exited', { session: 'abcdefgh', exitCode: 7 }),
      ev('exec.failed', { session: 'abcdefgh2', container: 'main', command: ['nope'], reason: 'not found' }),
    ]) expect(foldPod(running, e)).toBe(running);
  });
});
