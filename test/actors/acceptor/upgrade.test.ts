// Upgrading from 0.2: its pull durable `accept` is replaced by the queue-group push durable, which resumes after the old
// one's ack floor — intents 0.2 accepted are not accepted again, those it had not are.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acceptor } from '../../../src/actors/acceptor/live.js';
import { ClusterView } from '../../../src/model/cluster-view.js';
import { createLogger } from '../../../src/log.js';
import { podEvent } from '../../../src/events/schemas/mod.js';
import { ACCEPT_CONSUMER, INTENT_STREAM, intentSubject, LEGACY_ACCEPT_CONSUMER } from '../../../src/events/schemas/subjects.js';
import { startTestNats, type TestNats } from '../../harness/nats.js';
import { spec } from '../../harness/events.js';

let t: TestNats;
beforeAll(async () => {
  t = await startTestNats();
});
afterAll(() => t?.close());

const intent = (pod: string) => podEvent('pod.requested', pod, { spec: spec(), start: false }, { id: `${pod}.intent`, at: Date.now(), by: 'test' });

describe('the accept consumer of 0.2', () => {
  it('is replaced, resuming after its ack floor', async () => {
    const jsm = await jetstreamManager(t.nc);
    const js = jetstream(t.nc);
    await jsm.consumers.add(INTENT_STREAM, { durable_name: LEGACY_ACCEPT_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30_000_000_000, max_deliver: -1 });
    for (const pod of ['done1', 'todo1']) await js.publish(intentSubject({ pod, tenant: null }), JSON.stringify(intent(pod)), { msgID: `${pod}.intent` });
    // 0.2 took and acknowledged the first one
    const old = await js.consumers.get(INTENT_STREAM, LEGACY_ACCEPT_CONSUMER);
    const first = await old.next({ expires: 2_000 });
    expect(first?.subject).toBe('hyper.intent.default.done1');
    await first!.ackAck();

    const acceptor = new Acceptor(t.nc, t.store, new ClusterView(), 'up', createLogger('test', { level: 'silent' }));
    await acceptor.start();
    try {
      await expect.poll(async () => (await t.store.history({ pod: 'todo1', tenant: 'default' })).length, { timeout: 10_000 }).toBe(1);
      expect(await t.store.history({ pod: 'done1', tenant: 'default' })).toEqual([]);
      await expect(jsm.consumers.info(INTENT_STREAM, LEGACY_ACCEPT_CONSUMER)).rejects.toThrow(/consumer not found/);
      expect((await jsm.consumers.info(INTENT_STREAM, ACCEPT_CONSUMER)).config.deliver_group).toBe('hyper-acceptors');
    } finally {
      await acceptor.stop();
    }
  });
});
