// Addresses and ports on a host's pod network, pure: CIDRs, the next free address (not one just released), colliding
// published ports, MACs, per-data-dir networks for tests; and docker's -p forms.
import { describe, expect, it } from 'vitest';
import { macOf, networkFor, nextFree, parseCidr, portsCollide } from '../../src/net/ipam.js';
import { parsePublish } from '../../src/cli/port-flags.js';
import { PodSpec } from '../../src/events/schemas/mod.js';

describe('ipam', () => {
  it('parses a CIDR: the gateway first, pods the rest but the broadcast; bad ones named', () => {
    expect(parseCidr('10.88.0.0/16')).toMatchObject({ cidr: '10.88.0.0/16', gateway: '10.88.0.1', prefix: 16 });
    expect(parseCidr('10.88.3.7/24')).toMatchObject({ cidr: '10.88.3.0/24', gateway: '10.88.3.1' });
    for (const bad of ['10.88.0.0', '10.88.0.0/31', '300.1.1.1/24', 'x/24']) expect(() => parseCidr(bad)).toThrow(/--pod-cidr/);
  });

  it('hands out the next free address after the last, wrapping, never a held one; null when full', () => {
    const s = parseCidr('10.0.0.0/29'); // .2 to .6
    const used = new Set(['10.0.0.3']);
    expect(nextFree(s, used, null)).toBe('10.0.0.2');
    expect(nextFree(s, used, '10.0.0.2')).toBe('10.0.0.4');
    expect(nextFree(s, used, '10.0.0.6')).toBe('10.0.0.2'); // wraps past the broadcast
    expect(nextFree(s, new Set(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']), null)).toBeNull();
  });

  it('published ports collide on the same protocol and port when an address matches or either is every address', () => {
    const p = (hostIp: string, hostPort = 80, protocol = 'tcp') => ({ hostIp, hostPort, protocol });
    expect(portsCollide(p('0.0.0.0'), p('127.0.0.1'))).toBe(true);
    expect(portsCollide(p('127.0.0.1'), p('127.0.0.2'))).toBe(false);
    expect(portsCollide(p('0.0.0.0'), p('0.0.0.0', 80, 'udp'))).toBe(false);
    expect(portsCollide(p('0.0.0.0', 80), p('0.0.0.0', 81))).toBe(false);
  });

  it('a MAC per address; a bridge and /24 per data dir', () => {
    expect(macOf('10.88.0.2')).toBe('52:54:0a:58:00:02');
    const a = networkFor('/tmp/a');
    expect(a).toEqual(networkFor('/tmp/a'));
    expect(a.bridge).toMatch(/^hyb[0-9a-f]{6}$/);
    expect(a.bridge.length).toBeLessThanOrEqual(15);
    expect(() => parseCidr(a.cidr)).not.toThrow();
    expect(networkFor('/tmp/b').bridge).not.toBe(a.bridge);
  });
});

describe('-p', () => {
  it('reads docker\'s forms, and names a bad one', () => {
    const issues: { path: string; message: string }[] = [];
    expect(parsePublish('8080:80', 0, issues)).toEqual({ hostPort: 8080, containerPort: 80 });
    expect(parsePublish('127.0.0.1:5353:53/udp', 1, issues)).toEqual({ hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' });
    expect(parsePublish('80', 2, issues)).toEqual({ containerPort: 80 });
    expect(parsePublish('127.0.0.1::80', 3, issues)).toEqual({ hostIp: '127.0.0.1', containerPort: 80 });
    expect(issues).toEqual([]);
    expect(parsePublish('80:http', 4, issues)).toBeNull();
    expect(issues[0]).toMatchObject({ path: 'ports[4]', message: expect.stringContaining('[hostIp:][hostPort:]containerPort') });
  });

  it('the spec refuses a port out of range, one published twice, and ports with network none', () => {
    const base = { containers: [{ name: 'm', image: 'busybox' }] };
    const err = (spec: object) => PodSpec.safeParse({ ...base, ...spec }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(err({ ports: [{ containerPort: 70000 }] })).toEqual(['ports.0.containerPort: must be a port, 1-65535']);
    expect(err({ ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 8080 }] })).toEqual(['ports.1.hostPort: host port 0.0.0.0:8080/tcp is published twice']);
    expect(err({ network: 'none', ports: [{ containerPort: 80 }] })).toEqual(['ports: a pod with network none has no ports to publish']);
    expect(err({ ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 80, hostPort: 8080, protocol: 'udp' }] })).toBeUndefined();
  });
});

describe('placement and published ports', () => {
  it('a pod publishing a host port goes only where no live run holds it; its reason names the holder', async () => {
    const { ClusterView } = await import('../../src/model/cluster-view.js');
    const { hostsWithPortsFree } = await import('../../src/net/ipam.js');
    const { ev, spec } = await import('../harness/events.js');
    const v = new ClusterView();
    let seq = 0;
    const apply = (e: Parameters<typeof v.applyEvent>[0]) => v.applyEvent(e, (v.seq = ++seq));
    const ports = [{ containerPort: 80, hostPort: 8080 }];
    apply(ev('pod.requested', { spec: spec({ name: 'web', ports }), start: true }, 'w1'));
    apply(ev('pod.scheduled', { host: 'a', run: 1, attempt: 0 }, 'w1'));
    apply(ev('net.assigned', { run: 1, host: 'a', mode: 'bridge', ip: '10.88.0.2', prefix: 16, gateway: '10.88.0.1', mac: '52:54:0a:58:00:02', dns: [], ports: [{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 }] }, 'w1'));
    apply(ev('pod.requested', { spec: spec({ name: 'web2', ports }), start: true }, 'w2'));
    const w2 = v.pods.get('w2')!;
    expect(hostsWithPortsFree(v, w2, ['a', 'b'])).toEqual({ free: ['b'], clash: 'host port 0.0.0.0:8080/tcp is published by pod web on a' });
    expect(hostsWithPortsFree(v, w2, ['a']).free).toEqual([]);
    apply(ev('pod.stop.requested', { graceMs: 0 }, 'w1'));
    apply(ev('pod.stopped', {}, 'w1'));
    expect(hostsWithPortsFree(v, w2, ['a', 'b']).free).toEqual(['a', 'b']); // the run ended: its port is free again
  });
});
