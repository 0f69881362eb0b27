// Pure tests of the view's fold of a pod event stored twice under one id (nats-server 2.9 does this now and then across a
// leader change, despite the msgID): folded once, the second copy only moves the pod's OCC sequence.
import { describe, expect, it } from 'vitest';
import { ClusterView, RECENT_IDS } from '../../src/model/cluster-view.js';
import type { PodEvent } from '../../src/events/schemas/mod.js';
import { ev, spec } from '../harness/events.js';

function folder() {
  const v = new ClusterView();
  let seq = 0;
  const apply = (e: PodEvent) => v.applyEvent(e, (v.seq = ++seq));
  return { v, apply };
}

const toRunning = () => [
  ev('pod.requested', { spec: spec({ restartPolicy: 'always' }), start: true }, 'd1'),
  ev('pod.scheduled', { host: 'h1', run: 1, attempt: 0 }, 'd1'),
  ev('vm.booting', { host: 'h1', vm: 'vm1', driver: 'hollow', deadline: 99_999 }, 'd1'),
  ev('vm.booted', { vm: 'vm1', bootMs: 12 }, 'd1'),
  ev('agent.ready', { version: 'v1' }, 'd1'),
  ev('container.started', { container: 'main', pid: 2 }, 'd1'),
];

describe('cluster view: an event stored twice', () => {
  it('folds a container exit stored twice once: one restart, not two, and the copy is reported as a duplicate', () => {
    const { v, apply } = folder();
    toRunning().forEach(apply);
    const exited = ev('container.exited', { container: 'main', exitCode: 1 }, 'd1');
    const first = apply(exited);
    const restartsAfterFirst = v.pods.get('d1')!.context.containers.main.restarts;
    const stateAfterFirst = v.pods.get('d1')!.state;
    // restart policy always: the container restarts in place, counted once
    expect([stateAfterFirst, restartsAfterFirst]).toEqual(['running', 1]);
    expect(first).toMatchObject({ kind: 'pod', accepted: true });
    const copy = apply(exited);
    expect(copy).toMatchObject({ kind: 'pod', accepted: false, duplicate: true });
    const p = v.pods.get('d1')!;
    expect(p.context.containers.main.restarts).toBe(restartsAfterFirst);
    expect(p.state).toBe(stateAfterFirst);
    // the next OCC append expects the copy's sequence, the last on the pod's subject
    expect(p.seq).toBe(v.seq);
  });

  it('folds a placement stored twice once: the host counts the pod once', () => {
    const { v, apply } = folder();
    const [req, sched] = toRunning();
    apply(req);
    apply(sched);
    expect(apply(sched)).toMatchObject({ duplicate: true });
    expect(v.usageOf('h1').pods).toBe(1);
  });

  it('keeps only the latest RECENT_IDS ids per pod, and the snapshot carries them so a restarted daemon folds a late copy once', () => {
    const { v, apply } = folder();
    toRunning().forEach(apply);
    const p = v.pods.get('d1')!;
    expect(p.recent).toHaveLength(6);
    for (let i = 0; i < RECENT_IDS; i++) apply(ev('image.pulling', { image: 'busybox' }, 'd1'));
    expect(p.recent).toHaveLength(RECENT_IDS);
    const restored = ClusterView.fromSnapshot(JSON.parse(JSON.stringify(v.toSnapshot())));
    const last = ev('container.exited', { container: 'main', exitCode: 0 }, 'd1');
    expect(restored.applyEvent(last, v.seq + 1)).toMatchObject({ accepted: true });
    expect(restored.applyEvent(last, v.seq + 2)).toMatchObject({ duplicate: true });
  });

  it('a pod from a snapshot without recent ids (before 0.6) folds on as before', () => {
    const { v, apply } = folder();
    toRunning().forEach(apply);
    const snap = v.toSnapshot();
    const old = { ...snap, pods: snap.pods.map(({ recent: _, ...p }) => p) };
    const restored = ClusterView.fromSnapshot(JSON.parse(JSON.stringify(old)));
    const exited = ev('container.exited', { container: 'main', exitCode: 0 }, 'd1');
    expect(restored.applyEvent(exited, v.seq + 1)).toMatchObject({ accepted: true });
    expect(restored.pods.get('d1')!.recent).toEqual([exited.id]);
  });
});
