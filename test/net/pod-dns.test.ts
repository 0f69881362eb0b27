// The pod DNS server on real sockets (loopback addresses stand in for pods' addresses): pods' names, ids and
// CONTAINER.POD answered from the view for the asker's tenant only, search domains, NODATA for other types, everything
// else relayed from the asker's upstream (over UDP and TCP), SERVFAIL when none answers, strangers refused, malformed
// questions answered FORMERR without harm.
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterView } from '../../src/model/cluster-view.js';
import { parseEvent, podEvent } from '../../src/events/schemas/mod.js';
import { answer, readQuestion, RCODE } from '../../src/net/dns-wire.js';
import { podAddresses, PodDns } from '../../src/net/pod-dns.js';
import { createLogger } from '../../src/log.js';
import { spec } from '../harness/events.js';

const DNS = '127.0.0.153';
const UPSTREAM = '127.0.0.154';
const view = new ClusterView();
let seq = 0;
function pod(id: string, name: string, ip: string, tenant?: string, extra: object = {}) {
  const apply = (type: string, data: object) => view.applyEvent(parseEvent(podEvent(type as never, id, data as never, { id: `${id}.${type}`, at: 1, by: 'test', tenant })), (view.seq = ++seq));
  apply('pod.requested', { spec: spec({ name, containers: [{ name: 'main', image: 'busybox' }, { name: 'side', image: 'busybox' }], ...extra }), start: true });
  apply('pod.scheduled', { host: 'h', run: 1, attempt: 0 });
  apply('net.assigned', { run: 1, host: 'h', mode: 'bridge', ip, prefix: 8, gateway: DNS, mac: '52:54:00:00:00:01', dns: [], ports: [] });
}

/** A standard query for one name and type. */
function query(name: string, type = 1, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])]);
}
/** rcode and the A records' addresses of an answer. */
function read(m: Buffer): { rcode: number; ips: string[] } {
  const q = readQuestion(Buffer.concat([m.subarray(0, 2), Buffer.from([0x01, 0x00]), m.subarray(4)]))!;
  const ips: string[] = [];
  for (let at = q.end, i = 0; i < m.readUInt16BE(6); i++, at += 16) if (m.readUInt16BE(at + 2) === 1) ips.push([...m.subarray(at + 12, at + 16)].join('.'));
  return { rcode: m.readUInt16BE(2) & 0xf, ips };
}

let udpFrom: (src: string) => Promise<Socket>;
const ask = async (src: string, msg: Buffer): Promise<Buffer> => {
  const s = await udpFrom(src);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no answer')), 5_000);
      s.once('message', (m) => (clearTimeout(t), resolve(m)));
      s.send(msg, 53, DNS);
    });
  } finally {
    s.close();
  }
};

let dns: PodDns;
let upstream: Socket;
const upstreamAsked: string[] = [];

beforeAll(async () => {
  pod('p-web', 'web', '127.0.0.2');
  pod('p-db', 'db', '127.0.0.3', undefined, { dnsSearch: ['corp.example'] });
  pod('p-ana', 'secret', '127.0.0.4', 'ana');
  // two replicas of a compose service, each with the service's name as an alias (one also claims "db")
  pod('p-w1', 'shop_web_1', '127.0.0.5', undefined, { aliases: ['shop', 'db'] });
  pod('p-w2', 'shop_web_2', '127.0.0.6', undefined, { aliases: ['shop'] });
  udpFrom = (src) => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, src, () => r(s)); });
  // the asker's upstream: answers outside.example, NXDOMAIN for the rest
  upstream = createSocket('udp4');
  upstream.on('message', (m, from) => {
    const q = readQuestion(m)!;
    upstreamAsked.push(q.name);
    upstream.send(q.name === 'outside.example' ? answer(m, q, q.type === 1 ? ['192.0.2.7'] : [], 60) : answer(m, q, [], 60, RCODE.nxDomain), from.port, from.address);
  });
  await new Promise<void>((r) => upstream.bind(53, UPSTREAM, () => r()));
  dns = new PodDns(view, 'h', createLogger('test', { level: 'silent' }), () => [UPSTREAM]);
  await dns.start(DNS);
});
afterAll(() => {
  dns?.close();
  upstream?.close();
});

describe('pod DNS', () => {
  it("answers a pod's name, id and CONTAINER.POD with its address, case-insensitively; other types get no records", async () => {
    expect(read(await ask('127.0.0.2', query('db')))).toEqual({ rcode: 0, ips: ['127.0.0.3'] });
    expect(read(await ask('127.0.0.2', query('DB')))).toEqual({ rcode: 0, ips: ['127.0.0.3'] });
    expect(read(await ask('127.0.0.2', query('p-db')))).toEqual({ rcode: 0, ips: ['127.0.0.3'] });
    expect(read(await ask('127.0.0.2', query('side.db')))).toEqual({ rcode: 0, ips: ['127.0.0.3'] });
    expect(read(await ask('127.0.0.2', query('web')))).toEqual({ rcode: 0, ips: ['127.0.0.2'] });
    expect(read(await ask('127.0.0.2', query('db', 28)))).toEqual({ rcode: 0, ips: [] });
    expect(upstreamAsked).toEqual([]);
  });

  it("a name with one of the asker's search domains after it is the pod's", async () => {
    expect(read(await ask('127.0.0.3', query('web.corp.example')))).toEqual({ rcode: 0, ips: ['127.0.0.2'] });
  });

  it('an alias answers with every pod that has it; a pod\'s own name wins over an alias; docker-style names resolve', () => {
    expect(podAddresses(view, 'h', '127.0.0.2', 'shop')?.sort()).toEqual(['127.0.0.5', '127.0.0.6']);
    expect(podAddresses(view, 'h', '127.0.0.2', 'db')).toEqual(['127.0.0.3']);
    expect(podAddresses(view, 'h', '127.0.0.2', 'shop_web_2')).toEqual(['127.0.0.6']);
    expect(podAddresses(view, 'h', '127.0.0.4', 'shop')).toBeNull();
  });

  it("another tenant's pods are not found: the question goes upstream", async () => {
    expect(read(await ask('127.0.0.2', query('secret')))).toEqual({ rcode: RCODE.nxDomain, ips: [] });
    expect(upstreamAsked).toContain('secret');
    expect(podAddresses(view, 'h', '127.0.0.4', 'secret')).toEqual(['127.0.0.4']);
    expect(podAddresses(view, 'h', '127.0.0.4', 'web')).toBeNull();
  });

  it("relays the upstream's answer for other names, over UDP and TCP", async () => {
    expect(read(await ask('127.0.0.2', query('outside.example')))).toEqual({ rcode: 0, ips: ['192.0.2.7'] });
    // TCP to us, TCP upstream: nothing listens there, so the answer is SERVFAIL, over TCP, with the question's id
    const m = query('outside.example', 1, 0x4321);
    const got = await new Promise<Buffer>((resolve, reject) => {
      const c = connect({ host: DNS, port: 53, localAddress: '127.0.0.2' });
      let buf = Buffer.alloc(0);
      c.on('connect', () => c.write(Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m])));
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 + buf.readUInt16BE(0)) (c.end(), resolve(buf.subarray(2)));
      });
      c.on('error', reject);
    });
    expect(got.readUInt16BE(0)).toBe(0x4321);
    expect(read(got).rcode).toBe(RCODE.servFail);
  }, 10_000);

  it('refuses an asker that is no pod of this host, and answers a malformed message FORMERR', async () => {
    expect(read(await ask('127.0.0.9', query('db'))).rcode).toBe(RCODE.refused);
    const bad = await ask('127.0.0.2', Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 200, 1, 2]));
    expect(bad.readUInt16BE(0)).toBe(0xabcd);
    expect(bad.readUInt16BE(2) & 0xf).toBe(RCODE.formErr);
    // and it still answers
    expect(read(await ask('127.0.0.2', query('db'))).ips).toEqual(['127.0.0.3']);
  });
});
