// The acceptor's judgement, pure: the subject's tenant (nats-server's word) against the intent, the view and the policy.
import { describe, expect, it } from 'vitest';
import { authorize, judgeIntent } from '../../../src/actors/acceptor/live.js';
import { ClusterView } from '../../../src/model/cluster-view.js';
import { parseEvent, podEvent, tenantEvent } from '../../../src/events/schemas/mod.js';
import { spec } from '../../harness/events.js';

const NKEY = 'UBEZ6IPN7O2DKR7F4KA7XGZH5RTTBVU7N6BQBTZXUW5OJDQ7EVCTAEJ2';
const bytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
const req = (pod: string, extra: object = {}) => ({ ...podEvent('pod.requested', pod, { spec: spec(), start: true }, { id: `${pod}.i`, at: 1, by: 'cli:a@b' }), ...extra });

function view(): ClusterView {
  const v = new ClusterView();
  let seq = 0;
  v.applyEvent(parseEvent(tenantEvent('tenant.added', 'ana', { nkey: NKEY, policy: { maxCpus: 1 } }, { id: 't', at: 1, by: 'x' })), ++seq);
  v.applyEvent(parseEvent(tenantEvent('tenant.added', 'bob', { nkey: NKEY, policy: {} }, { id: 't2', at: 1, by: 'x' })), ++seq);
  v.applyEvent(parseEvent(podEvent('pod.requested', 'bobs', { spec: spec(), start: false }, { id: 'b', at: 1, by: 'x', tenant: 'bob' })), ++seq);
  v.applyEvent(parseEvent(podEvent('pod.requested', 'olds', { spec: spec(), start: false }, { id: 'o', at: 1, by: 'x' })), ++seq);
  return v;
}

function judge(subject: string, body: unknown, v = view()) {
  const j = judgeIntent(subject, bytes(body));
  return j.ok ? authorize(j, v) : j;
}

describe('accepting intents', () => {
  it('stamps the tenant of the subject on a new pod', () => {
    const r = judge('hyper.intent.ana.p1', req('p1'));
    expect(r).toMatchObject({ ok: true, event: { type: 'pod.requested', pod: 'p1', tenant: 'ana' } });
  });

  it('refuses a tenant that does not exist, and an intent naming another tenant than its subject', () => {
    expect(judge('hyper.intent.carl.p1', req('p1'))).toMatchObject({ ok: false, reason: expect.stringMatching(/^tenant carl does not exist/) });
    expect(judge('hyper.intent.ana.p1', req('p1', { tenant: 'bob' }))).toMatchObject({ ok: false, issues: [{ path: 'tenant' }] });
  });

  it("treats another tenant's pod as no pod, and refuses its id for a new one", () => {
    const stop = podEvent('pod.stop.requested', 'bobs', { graceMs: 0 }, { id: 's', at: 2, by: 'cli:a@b' });
    expect(judge('hyper.intent.ana.bobs', stop)).toMatchObject({ ok: false, reason: 'no pod bobs' });
    expect(judge('hyper.intent.bob.bobs', stop)).toMatchObject({ ok: true, event: { tenant: 'bob' } });
    expect(judge('hyper.intent.ana.bobs', req('bobs'))).toMatchObject({ ok: false, reason: expect.stringMatching(/already exists/) });
  });

  it('keeps a pre-0.3 pod on its old subjects: its facts carry no tenant', () => {
    const stop = podEvent('pod.stop.requested', 'olds', { graceMs: 0 }, { id: 's', at: 2, by: 'cli:a@b' });
    const r = judge('hyper.intent.default.olds', stop);
    expect(r).toMatchObject({ ok: true });
    expect('event' in r && 'tenant' in r.event).toBe(false);
  });

  it('refuses by policy, naming it and the field; a pod unknown to the view is left to the store', () => {
    const big = req('p2');
    big.data.spec.resources.cpus = 2;
    expect(judge('hyper.intent.ana.p2', big)).toMatchObject({ ok: false, reason: expect.stringMatching(/policy maxCpus/), issues: [{ path: 'spec.resources.cpus' }] });
    const start = podEvent('pod.start.requested', 'later', {}, { id: 's', at: 2, by: 'cli:a@b' });
    expect(judge('hyper.intent.ana.later', start)).toEqual({ unknown: { pod: 'later', tenant: 'ana' } });
  });
});
