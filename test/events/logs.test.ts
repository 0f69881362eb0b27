// Container output in NATS: each stream stored in order with its offset, so the last message says how far it is durable;
// a writer survives its nats-server going away (it retries until stored) and readers get every byte once, in order.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogWriter, readLogs, storedLogOffset } from '../../src/events/store/logs.js';
import { startNatsServer } from '../../src/nats/server.js';
import { startTestNats, type TestNats } from '../harness/nats.js';

let t: TestNats;
beforeAll(async () => {
  t = await startTestNats();
});
afterAll(() => t?.close());

async function text(pod: string): Promise<string> {
  let s = '';
  for await (const c of readLogs(t.nc, { pod, tenant: 'default' })) s += `${c.container}/${c.stream}:${Buffer.from(c.data).toString()}|`;
  return s;
}

describe('log writer', () => {
  it('stores a stream in order, coalescing what arrives while a publish is in flight; the last message names the durable end', async () => {
    const acks: number[] = [];
    const w = new LogWriter(t.nc, { pod: 'p1', tenant: 'default' }, 'main', 1, 'p1-r1/0', 0, (end) => acks.push(end));
    for (let i = 0; i < 100; i++) w.push(Buffer.from(`${i}\n`));
    await w.flushTo();
    const total = Array.from({ length: 100 }, (_, i) => `${i}\n`).join('');
    expect(w.stored).toBe(total.length);
    expect(acks.at(-1)).toBe(total.length);
    expect(acks.length).toBeLessThan(100); // coalesced
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(await storedLogOffset(t.nc, { pod: 'p1', tenant: 'default' }, 'main', 1, 'p1-r1/0')).toBe(total.length);
    // another instance of the container (a restart, a new run) starts from nothing
    expect(await storedLogOffset(t.nc, { pod: 'p1', tenant: 'default' }, 'main', 1, 'p1-r1/1')).toBe(0);
    expect(await storedLogOffset(t.nc, { pod: 'p1', tenant: 'default' }, 'main', 2, 'p1-r1/0')).toBe(0);
    expect((await text('p1')).replace(/main\/1:/g, '').replace(/\|/g, '')).toBe(total);
  });

  it('keeps stdout and stderr apart, and resumes a stream from its stored offset', async () => {
    const out = new LogWriter(t.nc, { pod: 'p2', tenant: 'default' }, 'web', 1, 'v/0', 0, () => {});
    const err = new LogWriter(t.nc, { pod: 'p2', tenant: 'default' }, 'web', 2, 'v/0', 0, () => {});
    out.push(Buffer.from('hello '));
    err.push(Buffer.from('oops'));
    await Promise.all([out.flushTo(), err.flushTo()]);
    const again = new LogWriter(t.nc, { pod: 'p2', tenant: 'default' }, 'web', 1, 'v/0', await storedLogOffset(t.nc, { pod: 'p2', tenant: 'default' }, 'web', 1, 'v/0'), () => {});
    expect(again.end).toBe(6);
    again.push(Buffer.from('world'));
    await again.flushTo();
    expect(await text('p2')).toBe('web/1:hello |web/2:oops|web/1:world|');
  });

  it('retries while its nats-server is down and stores everything once it is back', async () => {
    const dir = join(t.dir, 'own');
    let server = await startNatsServer({ dataDir: dir, name: 'logs-own' });
    const { connectNats } = await import('../../src/nats/connect.js');
    const { EventStore } = await import('../../src/events/store/event-store.js');
    const nc = await connectNats([server.url], 'logs-test');
    await EventStore.open(nc);
    const retries: unknown[] = [];
    const w = new LogWriter(nc, { pod: 'p3', tenant: 'default' }, 'main', 1, 'v/0', 0, () => {}, (err) => retries.push(err));
    w.push(Buffer.from('before\n'));
    await w.flushTo();
    server.kill();
    await server.exited;
    w.push(Buffer.from('during\n'));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(w.stored).toBe(7);
    server = await startNatsServer({ dataDir: dir, name: 'logs-own', port: server.port });
    await w.flushTo();
    expect(retries.length).toBeGreaterThan(0);
    expect(await storedLogOffset(nc, { pod: 'p3', tenant: 'default' }, 'main', 1, 'v/0')).toBe(14);
    let s = '';
    for await (const c of readLogs(nc, { pod: 'p3', tenant: 'default' })) s += Buffer.from(c.data).toString();
    expect(s).toBe('before\nduring\n');
    await nc.close();
    await server.stop();
  }, 60_000);
});
