// The event stream losing events a running daemon had folded (nats-server 2.9 resetting a replica after a leader change;
// here made by giving a stopped real nats-server its HYPER_EVENTS store as it was before the last pod): the daemon
// notices, folds the log again and runs what is written at the lost sequences — which its read would otherwise skip.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/events/store/event-store.js';
import { loadView } from '../../src/events/store/load-view.js';
import { STREAM } from '../../src/events/schemas/subjects.js';
import { connectNats, type NatsConnection } from '../../src/nats/connect.js';
import { startNatsServer, type NatsServer } from '../../src/nats/server.js';
import { startHyperd, type DaemonProc } from '../harness/processes.js';
import { ev, spec } from '../harness/events.js';

let dir: string;
let server: NatsServer;
let nc: NatsConnection;
let store: EventStore;
let daemon: DaemonProc;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hyper-rewind-daemon-'));
  server = await startNatsServer({ dataDir: join(dir, 'nats'), name: 'rewind' });
  nc = await connectNats([server.url], 'rewind-test');
  store = await EventStore.open(nc);
  daemon = startHyperd(['--nats', server.url, '--host-id', 'rw-a', '--data-dir', join(dir, 'rw-a'), '--driver', 'hollow', '--cpus', '16', '--memory', '16384']);
  await daemon.ready;
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await nc?.close().catch(() => {});
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const state = async (pod: string) => (await loadView(store, { useSnapshot: false })).view.pods.get(pod)?.state;
const submit = (pod: string) => store.append(ev('pod.requested', { spec: spec({ restartPolicy: 'always' }), start: true }, pod), { expectLastSeq: 0 });

describe('a daemon whose event stream lost events it had folded', () => {
  it('folds the log again and runs the pod written at the lost sequences', { timeout: 90_000 }, async () => {
    await submit('rw1');
    await expect.poll(() => state('rw1'), { timeout: 15_000 }).toBe('running');
    await new Promise((r) => setTimeout(r, 500)); // on disk
    const msgs = execFileSync('find', [join(dir, 'nats'), '-type', 'd', '-path', `*streams/${STREAM}/msgs`], { encoding: 'utf8' }).trim();
    cpSync(msgs, join(dir, 'saved'), { recursive: true });
    await submit('rw2');
    await expect.poll(() => state('rw2'), { timeout: 15_000 }).toBe('running');
    const lostFrom = (await store.lastSeq());

    const port = Number(new URL(server.url).port);
    await server.stop();
    rmSync(msgs, { recursive: true });
    cpSync(join(dir, 'saved'), msgs, { recursive: true });
    server = await startNatsServer({ dataDir: join(dir, 'nats'), name: 'rewind', port });
    // the test's own connection comes back by itself too
    await expect.poll(() => store.lastSeq().catch(() => -1), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await store.lastSeq()).toBeLessThan(lostFrom);
    expect(await state('rw2')).toBeUndefined();

    // written where rw2's events were: a read positioned past them would never see it
    await submit('rw3');
    await expect.poll(() => state('rw3'), { timeout: 30_000, interval: 500 }).toBe('running');
    expect(daemon.log()).toMatch(/was delivered, but HYPER_EVENTS now ends at \d+\. nats-server lost messages it had acknowledged/);
    expect(daemon.log()).toContain('folded the log again after NATS lost events');
    expect(await state('rw1')).toBe('running');
  });
});
