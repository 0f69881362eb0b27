// Host loss with real hyperd processes (hollow driver) on one real nats-server: a killed daemon's hosts are declared lost
// once, its restartable pods run elsewhere and the others fail with the reason; a stalled daemon (SIGSTOP past its lease)
// is declared lost, fences itself when it runs again, and rejoins with a new epoch. Pods that fit nowhere wait.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadView } from '../../src/events/store/load-view.js';
import type { ClusterView } from '../../src/model/cluster-view.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { startHyperd, type DaemonProc } from '../harness/processes.js';
import { ev, spec } from '../harness/events.js';

let t: TestNats;
const daemons = new Map<string, DaemonProc>();
const LEASE = '1s';

function start(host: string, extra: string[] = []): DaemonProc {
  const d = startHyperd(['--nats', t.server.url, '--host-id', host, '--data-dir', join(t.dir, host), '--driver', 'hollow', '--host-lease', LEASE, '--cpus', '24', '--memory', '65536', ...extra]);
  daemons.set(host, d);
  return d;
}

async function view(): Promise<ClusterView> {
  return (await loadView(t.store, { useSnapshot: false })).view;
}

async function until(what: string, ok: (v: ClusterView) => boolean, ms = 20_000): Promise<ClusterView> {
  const deadline = Date.now() + ms;
  let v = await view();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${[...v.pods.values()].map((p) => `${p.context.id}=${p.state}@${p.context.host}`).join(" ")} hosts: ${[...v.hosts.values()].map((h) => `${h.id}=${h.state}/${h.epoch}`).join(" ")}`);
    await new Promise((r) => setTimeout(r, 200));
    v = await view();
  }
  return v;
}

async function submit(id: string, restartPolicy: 'never' | 'always', extra: object = {}): Promise<void> {
  await t.store.append(ev('pod.requested', { spec: spec({ restartPolicy, ...extra }), start: true }, id), { expectLastSeq: 0 });
}

async function eventsOfType(type: string): Promise<{ host?: string; pod?: string; by: string }[]> {
  const out: { host?: string; pod?: string; by: string }[] = [];
  for await (const r of t.store.replay()) if (r.ok && r.event.type === type) out.push(r.event as never);
  return out;
}

beforeAll(async () => {
  t = await startTestNats();
  await Promise.all([start('loss-a').ready, start('loss-b').ready]);
});

afterAll(async () => {
  if (process.env.HYPER_TEST_LOGS) for (const [h, d] of daemons) console.error(`--- ${h}\n` + d.log().split('\n').filter((l) => /"level":(30|40|50|60)/.test(l)).slice(-25).join('\n'));
  await Promise.all([...daemons.values()].map((d) => d.stop('SIGKILL')));
  await t?.close();
});

describe('host loss', () => {
  it('a killed daemon: one host.lost, its restartable pods run elsewhere, the others fail naming the host', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `hl${i}`);
    for (const [i, id] of ids.entries()) await submit(id, i % 2 ? 'never' : 'always');
    let v = await until('every pod running', (v) => ids.every((id) => v.pods.get(id)?.state === 'running'));
    const onA = ids.filter((id) => v.pods.get(id)!.context.host === 'loss-a');
    expect(onA.length).toBeGreaterThan(0);
    expect(onA.length).toBeLessThan(ids.length);

    const killedAt = Date.now();
    await daemons.get('loss-a')!.stop('SIGKILL');
    v = await until('the lost host\'s pods to move or fail', (v) => onA.every((id) => { const p = v.pods.get(id)!; return p.state === 'failed' || (p.state === 'running' && p.context.host === 'loss-b'); }));
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan(8_000);

    expect(v.hosts.get('loss-a')).toMatchObject({ state: 'lost', epoch: 1 });
    expect((await eventsOfType('host.lost')).filter((e) => e.host === 'loss-a')).toHaveLength(1);
    for (const [i, id] of ids.entries()) {
      const p = v.pods.get(id)!;
      if (!onA.includes(id)) expect(p).toMatchObject({ state: 'running', context: { run: 1, host: 'loss-b' } });
      else if (i % 2 === 0) expect(p).toMatchObject({ state: 'running', context: { run: 2, host: 'loss-b' } });
      else expect(p.state === 'failed' && p.context.reason).toMatch(/^host loss-a lost at \d{4}-\d\d-\d\dT[\d:.]+Z: no lease renewal for \d+ ms/);
    }
    // capacity: nothing is counted on the lost host any more
    expect(v.usageOf('loss-a').pods).toBe(0);
    expect((await eventsOfType('pod.lost')).length).toBe(onA.length);
  }, 60_000);

  it('a stalled daemon (SIGSTOP past its lease) is declared lost, fences itself when it runs again, and rejoins as a new epoch', async () => {
    await start('loss-c').ready;
    const ids = ['st0', 'st1', 'st2', 'st3'];
    for (const id of ids) await submit(id, 'always');
    let v = await until('the new pods running', (v) => ids.every((id) => v.pods.get(id)?.state === 'running'));
    const b = daemons.get('loss-b')!;
    // the restartable pods on loss-b (the rest fail with it)
    const onB = [...v.pods.values()].filter((p) => p.state === 'running' && p.context.host === 'loss-b' && p.context.spec!.restartPolicy === 'always').map((p) => p.context.id);
    expect(onB.length).toBeGreaterThan(0);

    b.proc.kill('SIGSTOP');
    v = await until('loss-b declared lost and its pods running on loss-c', (v) => v.hosts.get('loss-b')?.state === 'lost' && onB.every((id) => v.pods.get(id)?.context.host === 'loss-c' && v.pods.get(id)?.state === 'running'));
    b.proc.kill('SIGCONT');
    v = await until('loss-b back as a new epoch', (v) => v.hosts.get('loss-b')?.state === 'up' && v.hosts.get('loss-b')!.epoch >= 2);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(b.log()).toMatch(/declared lost|self-fencing/);
    v = await view();
    // no pod runs twice: each moved pod is running on loss-c, as its current run; nothing loss-b reported after the move counted
    for (const id of onB) expect(v.pods.get(id)).toMatchObject({ state: 'running', context: { host: 'loss-c' } });
    // one loss per epoch it left behind (a machine this loaded may lose it twice; never a loss without a rejoin)
    expect((await eventsOfType('host.lost')).filter((e) => e.host === 'loss-b')).toHaveLength(v.hosts.get('loss-b')!.epoch - 1);
    // and the rejoined host takes new pods again
    await submit('after-rejoin', 'never', { labels: {} });
    await until('a pod placed after the rejoin', (v) => v.pods.get('after-rejoin')?.state === 'running');
  }, 60_000);
});

describe('a pod that fits nowhere', () => {
  it('waits, says why, and is placed once room appears (a bigger host joins); with a wait timeout it fails instead', async () => {
    // every host offers 24 vCPU: a 32-vCPU pod fits on none of them
    await submit('big', 'never', { resources: { cpus: 32, memoryMb: 512 } });
    let v = await until('the big pod waiting', (v) => v.pods.get('big')?.state === 'pending' && /no host can fit 32 vCPU/.test(v.pods.get('big')?.context.reason ?? ''));
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await eventsOfType('pod.waiting')).filter((e) => e.pod === 'big')).toHaveLength(1);
    await submit('big-fast', 'never', { resources: { cpus: 32, memoryMb: 512 }, waitTimeoutMs: 500 });
    v = await until('the impatient pod failed', (v) => v.pods.get('big-fast')?.state === 'failed');
    expect(v.pods.get('big-fast')!.context.reason).toMatch(/gave up after waiting \d+ s for room \(wait timeout 500 ms\): no host can fit 32 vCPU/);
    expect(v.pods.get('big')!.state).toBe('pending');
    await start('loss-d', ['--cpus', '64']).ready;
    v = await until('the big pod running on the new host', (v) => v.pods.get('big')?.state === 'running', 30_000);
    expect(v.pods.get('big')!.context.host).toBe('loss-d');
  }, 60_000);
});
