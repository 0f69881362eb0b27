// Tenants in the pure model: tenant facts fold into the view, pods carry their tenant (null: a pod of the pre-0.3 layout,
// the default tenant's), a fact on another tenant's subject never joins a pod's history, and policies refuse by name.
import { describe, expect, it } from 'vitest';
import { ClusterView, upcastSnapshot, type ViewSnapshot } from '../../src/model/cluster-view.js';
import { policyRefusal } from '../../src/model/policy.js';
import { parseEvent, podEvent, tenantEvent } from '../../src/events/schemas/mod.js';
import { podSubject, subjectOf } from '../../src/events/schemas/subjects.js';
import { spec } from '../harness/events.js';

const NKEY = 'UBEZ6IPN7O2DKR7F4KA7XGZH5RTTBVU7N6BQBTZXUW5OJDQ7EVCTAEJ2';
let seq = 0;
const apply = (v: ClusterView, e: unknown) => v.applyEvent(parseEvent(e), ++seq);
const requested = (pod: string, tenant?: string) => podEvent('pod.requested', pod, { spec: spec(), start: false }, { id: `${pod}.req`, at: 5, by: 'test', tenant });

describe('tenants in the view', () => {
  it('tenant.added and tenant.removed fold; default is always active, others only while added', () => {
    const v = new ClusterView();
    expect(v.activeTenant('default')?.name).toBe('default');
    expect(v.activeTenant('ana')).toBeNull();
    apply(v, tenantEvent('tenant.added', 'ana', { nkey: NKEY, policy: { maxCpus: 2 } }, { id: 't1', at: 10, by: 'cli:root@h' }));
    expect(v.activeTenant('ana')).toMatchObject({ nkey: NKEY, policy: { maxCpus: 2 }, addedAt: 10, by: 'cli:root@h' });
    apply(v, tenantEvent('tenant.removed', 'ana', {}, { id: 't2', at: 20, by: 'cli:root@h' }));
    expect(v.activeTenant('ana')).toBeNull();
    expect(v.tenants.get('ana')).toMatchObject({ state: 'removed', nkey: null });
  });

  it('a pod carries its tenant; one of the pre-0.3 layout has none and is the default tenant\'s', () => {
    const v = new ClusterView();
    apply(v, requested('new1', 'ana'));
    apply(v, requested('old1'));
    expect(v.pods.get('new1')!.context.tenant).toBe('ana');
    expect(v.pods.get('old1')!.context.tenant).toBeNull();
    expect(v.livePods('ana').map((p) => p.context.id)).toEqual(['new1']);
    expect(v.livePods('default').map((p) => p.context.id)).toEqual(['old1']);
    expect(subjectOf(requested('new1', 'ana'))).toBe('hyper.pod.ana.new1');
    expect(subjectOf(requested('old1'))).toBe('hyper.pod.old1');
    expect(podSubject({ pod: 'old1', tenant: null })).toBe('hyper.pod.old1');
  });

  it("a fact on another tenant's subject naming a pod's id is not that pod's history", () => {
    const v = new ClusterView();
    apply(v, requested('p1', 'ana'));
    const c = apply(v, podEvent('pod.start.requested', 'p1', {}, { id: 'x', at: 6, by: 'test', tenant: 'bob' }));
    expect(c).toMatchObject({ kind: 'pod', accepted: false });
    expect(v.pods.get('p1')!.state).toBe('created');
  });

  it('a format 2 snapshot (0.2) is upcast: pods have no tenant, the view no tenants', () => {
    const v = new ClusterView();
    apply(v, requested('old2'));
    const s = v.toSnapshot();
    const two = { ...s, format: 2, tenants: undefined, pods: s.pods.map((p) => ({ ...p, context: { ...p.context, tenant: undefined } })) } as unknown as ViewSnapshot;
    expect(upcastSnapshot(two)).toEqual(s);
    expect(ClusterView.fromSnapshot(two).livePods('default').map((p) => p.context.id)).toEqual(['old2']);
  });
});

describe('tenant policy', () => {
  it('refuses by the policy and the field, and lets through what fits', () => {
    expect(policyRefusal('ana', { maxCpus: 2 }, spec({ resources: { cpus: 4, memoryMb: 256 } }))).toEqual({ policy: 'maxCpus', path: 'spec.resources.cpus', message: "4 vCPUs is more than tenant ana's policy allows one pod (maxCpus 2)" });
    expect(policyRefusal('ana', { maxMemoryMb: 512 }, spec({ resources: { cpus: 1, memoryMb: 1024 } }))?.policy).toBe('maxMemoryMb');
    const reg = policyRefusal('ana', { registries: ['docker.io'] }, spec({ containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'localhost:5000/app' }] }));
    expect(reg).toMatchObject({ policy: 'registries', path: 'spec.containers.1.image' });
    expect(policyRefusal('ana', { maxCpus: 2, maxMemoryMb: 512, registries: ['docker.io'] }, spec())).toBeNull();
    // host directories: none unless allowed (the default tenant, the host's own, any); a prefix allows what is below it only
    const bind = (source: string) => spec({ containers: [{ name: 'a', image: 'busybox', volumes: [{ source, target: '/data' }] }] });
    expect(policyRefusal('ana', {}, bind('/srv/ana'))).toMatchObject({ policy: 'allowBind', path: 'spec.containers.0.volumes.0.source', message: expect.stringContaining('hyper tenant add --allow-bind') });
    expect(policyRefusal('ana', { allowBind: ['/srv/ana'] }, bind('/srv/ana/data'))).toBeNull();
    expect(policyRefusal('ana', { allowBind: ['/srv/ana'] }, bind('/srv/anabel'))).toMatchObject({ policy: 'allowBind', message: expect.stringContaining('only below /srv/ana') });
    expect(policyRefusal('default', {}, bind('/etc'))).toBeNull();
  });
});
