// A stream that lost intents it had delivered (nats-server 2.9 resetting a replica after a leader change hands their
// sequences to new intents; here made by giving a stopped real nats-server its intent store as it was before the last
// intent): the acceptor notices its durable is past the stream's end, makes it deliver again from before, and the new
// intent is accepted; those accepted before are delivered again and still land once.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acceptor } from '../../../src/actors/acceptor/live.js';
import { EventStore } from '../../../src/events/store/event-store.js';
import { startNatsServer } from '../../../src/nats/server.js';
import { connectNats } from '../../../src/nats/connect.js';
import { ClusterView } from '../../../src/model/cluster-view.js';
import { createLogger } from '../../../src/log.js';
import { podEvent } from '../../../src/events/schemas/mod.js';
import { INTENT_STREAM, intentSubject } from '../../../src/events/schemas/subjects.js';
import { rewoundBecause } from '../../../src/events/store/rewind.js';
import { startTestNats, type TestNats } from '../../harness/nats.js';
import { spec } from '../../harness/events.js';

let t: TestNats;
beforeAll(async () => {
  t = await startTestNats();
});
afterAll(() => t?.close());

const intent = (pod: string) => podEvent('pod.requested', pod, { spec: spec(), start: false }, { id: `${pod}.intent`, at: Date.now(), by: 'test', tenant: 'default' });

describe('rewoundBecause', () => {
  it('tells a consumer past the end, a sequence holding another message, and nothing wrong apart', async () => {
    const jsm = await jetstreamManager(t.nc);
    const js = jetstream(t.nc);
    await jsm.streams.add({ name: 'REWIND_T', subjects: ['rewind.t.>'] });
    const a = await js.publish('rewind.t.a', 'a', { msgID: 'id-a' });
    await js.publish('rewind.t.b', 'b', { msgID: 'id-b' });
    expect(await rewoundBecause(jsm, 'REWIND_T', { delivered: { seq: a.seq, msgId: 'id-a' }, consumerAt: 2 })).toBeNull();
    expect(await rewoundBecause(jsm, 'REWIND_T', { delivered: null, consumerAt: 9 })).toBe('its consumer has delivered up to sequence 9, but REWIND_T now ends at 2');
    expect(await rewoundBecause(jsm, 'REWIND_T', { delivered: { seq: 2, msgId: 'id-lost' } })).toBe('sequence 2 was delivered as id-lost and now holds id-b');
    expect(await rewoundBecause(jsm, 'REWIND_T', { delivered: { seq: 5, msgId: 'id-lost' } })).toBe('sequence 5 was delivered, but REWIND_T now ends at 2');
    // aged out or purged is not lost
    await jsm.streams.purge('REWIND_T', { seq: 3 });
    expect(await rewoundBecause(jsm, 'REWIND_T', { delivered: { seq: 1, msgId: 'id-a' } })).toBeNull();
  });
});

describe('an acceptor after HYPER_INTENTS lost intents it had delivered', () => {
  it('delivers again from before, so an intent written at a lost sequence is accepted, and one accepted before lands once', { timeout: 60_000 }, async () => {
    // its own server: the loss is made by giving the stopped server its intent store as it was before the last intent
    const dir = mkdtempSync(join(tmpdir(), 'hyper-rewind-'));
    let server = await startNatsServer({ dataDir: dir, name: 'rewind' });
    let nc = await connectNats([server.url], 'rewind-test');
    try {
      let store = await EventStore.open(nc);
      const log = createLogger('test', { level: 'silent' });
      let acceptor = new Acceptor(nc, store, new ClusterView(), 'up', log);
      await acceptor.start();
      const submit = async (pod: string) => {
        const e = intent(pod);
        await jetstream(nc).publish(intentSubject({ pod, tenant: 'default' }), JSON.stringify(e), { msgID: e.id });
        return e;
      };
      const facts = async (pod: string) => (await store.history({ pod, tenant: 'default' })).map((r) => r.ok && r.event.type);
      await submit('acc0');
      await expect.poll(() => facts('acc0'), { timeout: 10_000 }).toEqual(['pod.requested']);
      await new Promise((r) => setTimeout(r, 500)); // on disk
      const msgs = execFileSync('find', [join(dir, 'jetstream'), '-type', 'd', '-path', `*streams/${INTENT_STREAM}/msgs`], { encoding: 'utf8' }).trim();
      cpSync(msgs, join(dir, 'saved'), { recursive: true });
      // delivered and accepted, then lost by the store: its sequence is handed to the next intent
      await submit('acc1');
      await expect.poll(() => facts('acc1'), { timeout: 10_000 }).toEqual(['pod.requested']);
      await acceptor.stop();
      const port = Number(new URL(server.url).port);
      await nc.close();
      await server.stop();
      rmSync(msgs, { recursive: true });
      cpSync(join(dir, 'saved'), msgs, { recursive: true });
      server = await startNatsServer({ dataDir: dir, name: 'rewind', port });
      nc = await connectNats([server.url], 'rewind-test');
      store = await EventStore.open(nc);
      const jsm = await jetstreamManager(nc);
      const s = (await jsm.streams.info(INTENT_STREAM)).state.last_seq;
      expect((await jsm.consumers.info(INTENT_STREAM, 'acceptor')).delivered.stream_seq).toBeGreaterThan(s);

      acceptor = new Acceptor(nc, store, new ClusterView(), 'up', log);
      await acceptor.start();
      try {
        const lostSeq = (await jetstream(nc).publish(intentSubject({ pod: 'acc2', tenant: 'default' }), JSON.stringify(intent('acc2')), { msgID: 'acc2.intent' })).seq;
        expect(lostSeq).toBe(s + 1);
        await expect.poll(() => facts('acc2'), { timeout: 20_000, interval: 250 }).toEqual(['pod.requested']);
        expect(acceptor.repositioned).toBe(1);
        // acc0 was delivered again (within the window) and refused by OCC as the redelivery it is: one fact, no rejection
        await new Promise((r) => setTimeout(r, 500));
        expect(await facts('acc0')).toEqual(['pod.requested']);
        expect(await facts('acc1')).toEqual(['pod.requested']);

        // the same while this acceptor runs (its connection comes back by itself): it notices by what it was delivered
        // (once what the durable delivered before it was made again has drained: 2 s)
        await new Promise((r) => setTimeout(r, 2_500));
        rmSync(join(dir, 'saved'), { recursive: true });
        cpSync(msgs, join(dir, 'saved'), { recursive: true });
        await submit('acc3');
        await expect.poll(() => facts('acc3'), { timeout: 10_000 }).toEqual(['pod.requested']);
        await server.stop();
        rmSync(msgs, { recursive: true });
        cpSync(join(dir, 'saved'), msgs, { recursive: true });
        server = await startNatsServer({ dataDir: dir, name: 'rewind', port });
        await expect.poll(async () => (await submit('acc4').then(() => true, () => false)), { timeout: 15_000, interval: 500 }).toBe(true);
        await expect.poll(() => facts('acc4'), { timeout: 20_000, interval: 250 }).toEqual(['pod.requested']);
        expect(acceptor.repositioned).toBe(2);
        expect(await facts('acc3')).toEqual(['pod.requested']);
      } finally {
        await acceptor.stop();
      }
    } finally {
      await nc.close().catch(() => {});
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
