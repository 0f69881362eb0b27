// The JetStream event store against a real nats-server: validation before publish, dedup by msgID, OCC conflicts, history, replay, invalid records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { ConflictError, ValidationError } from '../../src/errors.js';
import { podSubject } from '../../src/events/schemas/subjects.js';
import { ClusterView } from '../../src/model/cluster-view.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { ev, spec } from '../harness/events.js';

/** The harness's events name no tenant: they are on the pre-0.3 layout, which stays readable and writable. */
const legacy = (pod: string) => ({ pod, tenant: null });

let t: TestNats;
beforeAll(async () => {
  t = await startTestNats();
});
afterAll(() => t?.close());

describe('EventStore', () => {
  it('setup is idempotent', async () => {
    const { EventStore } = await import('../../src/events/store/event-store.js');
    await expect(EventStore.open(t.nc)).resolves.toBeDefined();
    await expect(EventStore.open(t.nc)).resolves.toBeDefined();
  });

  it('refuses an invalid event before publishing anything', async () => {
    const before = await t.store.lastSeq();
    const bad = { ...ev('pod.start.requested', {}, 'v1'), data: { nope: 1 } } as never;
    await expect(t.store.append(bad)).rejects.toThrow(ValidationError);
    expect(await t.store.lastSeq()).toBe(before);
  });

  it('deduplicates an event appended twice with the same id', async () => {
    const e = ev('pod.requested', { spec: spec(), start: true }, 'dup1');
    const a = await t.store.append(e, { expectLastSeq: 0 });
    const b = await t.store.append(e, { expectLastSeq: 0 });
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ seq: a.seq, duplicate: true });
    expect(await t.store.history(legacy('dup1'))).toHaveLength(1);
  });

  it('lets exactly one of two racing writers append with the same expectation', async () => {
    const req = await t.store.append(ev('pod.requested', { spec: spec(), start: true }, 'race1'), { expectLastSeq: 0 });
    const results = await Promise.allSettled(
      ['h1', 'h2', 'h3'].map((host) => t.store.append(ev('pod.scheduled', { host, run: 1, attempt: 0 }, 'race1'), { expectLastSeq: req.seq })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(losers).toHaveLength(2);
    for (const l of losers) expect(l.reason).toBeInstanceOf(ConflictError);
  });

  it('reads one pod\'s history in order and replays the stream to its end', async () => {
    await t.store.append(ev('pod.requested', { spec: spec(), start: true }, 'hist1'));
    await t.store.append(ev('pod.stop.requested', {}, 'hist1'));
    const h = await t.store.history(legacy('hist1'));
    expect(h.map((r) => r.ok && r.event.type)).toEqual(['pod.requested', 'pod.stop.requested']);
    expect(await t.store.history(legacy('never-existed'))).toEqual([]);
    const all = [];
    for await (const r of t.store.replay()) all.push(r);
    expect(all.length).toBe(await t.store.lastSeq());
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
  });

  it('marks a garbage message from a foreign client as invalid; the lenient fold skips it, the strict fold fails naming the sequence', async () => {
    const js = jetstream(t.nc);
    const ack = await js.publish(podSubject(legacy('garbage')), '{"type":"pod.requested","oops":');
    const wrongSubject = await js.publish(podSubject(legacy('other')), JSON.stringify(ev('pod.start.requested', {}, 'hist1')));
    const h = await t.store.history(legacy('garbage'));
    expect(h).toEqual([{ ok: false, seq: ack.seq, subject: podSubject(legacy('garbage')), issues: [expect.objectContaining({ message: expect.stringMatching(/^not JSON/) })] }]);
    const other = await t.store.history(legacy('other'));
    expect(other[0]).toMatchObject({ ok: false, seq: wrongSubject.seq, issues: [expect.objectContaining({ path: 'pod' })] });

    const lenient = new ClusterView();
    const strict = new ClusterView();
    let error: Error | null = null;
    for await (const r of t.store.replay()) {
      lenient.apply(r);
      try {
        if (!error) strict.apply(r, true);
      } catch (err) {
        error = err as Error;
      }
    }
    expect(lenient.invalid).toBe(2);
    expect(error?.message).toMatch(new RegExp(`event log is corrupt at sequence ${ack.seq}: invalid event on hyper.pod.garbage: \\(root\\): not JSON`));
  });
});

describe('streamSeqOf', () => {
  it('reads the stream sequence from both ack subject formats, as the client does', async () => {
    const { streamSeqOf } = await import('../../src/events/store/event-store.js');
    expect(streamSeqOf('$JS.ACK.HYPER_EVENTS.c1.1.4242.17.1795555183418304800.0')).toBe(4242);
    expect(streamSeqOf('$JS.ACK.dom.ACCHASH.HYPER_EVENTS.c1.1.4243.17.1795555183418304800.0.rnd')).toBe(4243);
  });
});
