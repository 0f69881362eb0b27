// Pod networking against real QEMU pods, a real bridge, taps and iptables rules, a network namespace of the test's own and
// the real curl: busybox httpd answers on its published port from the host and from another namespace, UDP through a
// mapping, pods reach each other by IP and by name (also pods started later, through the pod DNS server) and the host through their default route, a taken port is refused
// naming its holder, rules go with the pod, a kill -9 of hyperd keeps address and mapping, network none, user-mode.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answer, RCODE, readQuestion } from '../../src/net/dns-wire.js';
import { chainsOf, tapOf } from '../../src/net/host-network.js';
import { networkFor } from '../../src/net/ipam.js';
import { hyper } from '../harness/processes.js';
import { podEvents, podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};
const NS = `hynet${process.pid % 10000}`;
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const curl = (url: string, ns?: string) => {
  const args = ['-s', '-m', '5', url];
  try {
    return ns ? sh('ip', ['netns', 'exec', ns, 'curl', ...args]) : sh('curl', args);
  } catch (err) {
    return `curl failed: ${(err as Error).message.split('\n')[0]}`;
  }
};
const dnatRules = () => sh('iptables', ['-t', 'nat', '-S', chainsOf(networkFor(q.dataDir).bridge).dnat]);

async function running(name: string) {
  for (let i = 0; i < 120 && (await podState(name, env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
  expect((await podState(name, env)).state).toBe('running');
}
async function inspect(name: string) {
  return JSON.parse((await hyper(['inspect', name], env)).stdout)[0] as { id: string; network: { ip: string; gateway: string; ports: { hostPort: number; containerPort: number; protocol: string; hostIp: string }[] } | null };
}
const httpd = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];

beforeAll(async () => {
  q = await startQemuDaemon('hyper-net-', 'net');
  env = q.env;
  // a namespace of the test's own, on a veth pair to the host: "another machine" reaching the host's published ports
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['link', 'add', `${NS}a`, 'type', 'veth', 'peer', 'name', `${NS}b`]);
  sh('ip', ['link', 'set', `${NS}b`, 'netns', NS]);
  sh('ip', ['addr', 'add', '10.249.9.1/30', 'dev', `${NS}a`]);
  sh('ip', ['link', 'set', `${NS}a`, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', '10.249.9.2/30', 'dev', `${NS}b`]);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', `${NS}b`, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
}, 120_000);

afterAll(async () => {
  try {
    sh('ip', ['netns', 'del', NS]);
  } catch {}
  await q?.stop();
});

describe('pod networking (bridge)', () => {
  it('a published port answers from the host (loopback and its own address) and from another namespace; ps and port show it', async () => {
    expect((await hyper(['run', '-d', '--name', 'web', '-p', '18080:80', 'busybox', ...httpd('hello-web')], env)).exitCode).toBe(0);
    await running('web');
    let body = '';
    for (let i = 0; i < 40 && body !== 'hello-web\n'; i++) {
      body = curl('http://127.0.0.1:18080/');
      if (body !== 'hello-web\n') await new Promise((r) => setTimeout(r, 250));
    }
    expect(body).toBe('hello-web\n');
    expect(curl('http://10.249.9.1:18080/')).toBe('hello-web\n');
    expect(curl('http://10.249.9.1:18080/', NS)).toBe('hello-web\n');
    const net = (await inspect('web')).network!;
    expect(net.ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 18080, containerPort: 80 }]);
    expect((await hyper(['port', 'web'], env)).stdout).toBe('80/tcp -> 0.0.0.0:18080');
    expect((await hyper(['port', 'web', '80'], env)).stdout).toBe('0.0.0.0:18080');
    expect((await hyper(['ps'], env)).stdout).toContain('0.0.0.0:18080->80/tcp');
    expect(dnatRules()).toContain(`--dport 18080 -j DNAT --to-destination ${net.ip}:80`);
    // the address is a fact: the log says which run got which address and port
    const assigned = (await podEvents('web', env)).find((e) => e.type === 'net.assigned')!;
    expect(assigned.data).toMatchObject({ run: 1, mode: 'bridge', ip: net.ip, ports: net.ports });
  }, 120_000);

  it('pods reach each other by IP and by name, and the host through their default route', async () => {
    const web = (await inspect('web')).network!;
    const host: Server = createServer((c) => c.end('HTTP/1.0 200 OK\r\n\r\nfrom-the-host\n'));
    await new Promise<void>((r) => host.listen(18099, web.gateway, () => r()));
    try {
      const r = await hyper(['run', '--name', 'client', 'busybox', 'sh', '-c', `wget -q -O - http://web/; wget -q -O - http://${web.ip}/; wget -q -O - http://${web.gateway}:18099/`], env);
      expect(r.stdout.split('\n').filter((l) => !/^\w{12}: /.test(l))).toEqual(['hello-web', 'hello-web', 'from-the-host']);
    } finally {
      host.close();
    }
  }, 120_000);

  it('pod ports do not flood: the bridge answers ARP from static entries, so a pod starting reaches no other guest', async () => {
    const { bridge } = networkFor(q.dataDir);
    const web = await inspect('web');
    // the bridge has a MAC of its own (one that followed its ports would change as taps come and go)
    expect(sh('cat', [`/sys/class/net/${bridge}/addr_assign_type`]).trim()).toBe('3');
    expect(sh('cat', [`/sys/class/net/${bridge}/address`]).trim()).toMatch(/^02:68:/);
    const port = sh('ip', ['-d', 'link', 'show', 'dev', tapOf(web.id)]);
    expect(port).toMatch(/proxy_arp on/);
    expect(port).toMatch(/bcast_flood off/);
    expect(sh('ip', ['neigh', 'show', web.network!.ip, 'dev', bridge])).toContain('PERMANENT');
    const delivered = () => Number(sh('cat', [`/sys/class/net/${tapOf(web.id)}/statistics/tx_packets`]).trim());
    const before = delivered();
    // a pod that starts, resolves its gateway and a neighbour, and talks to the host: nothing of it reaches web's guest
    const r = await hyper(['run', '--rm', '--name', 'quiet', 'busybox', 'sh', '-c', `wget -q -T 3 -O - http://${web.network!.gateway}:1/ || true; arping -c 1 -w 1 ${web.network!.ip} >/dev/null 2>&1; echo done`], env);
    expect(r.stdout).toContain('done');
    expect(delivered() - before).toBeLessThanOrEqual(2);
  }, 120_000);

  it("names through the host's pod DNS server: a pod started later, CONTAINER.POD, and outside names from the pod's --dns", async () => {
    // an upstream of the test's own for the pod's --dns: answers outside.example, NXDOMAIN for the rest
    const upstream = createSocket('udp4');
    const asked: string[] = [];
    upstream.on('message', (m, from) => {
      const q = readQuestion(m)!;
      asked.push(q.name);
      upstream.send(q.name === 'outside.example' ? answer(m, q, q.type === 1 ? ['192.0.2.7'] : [], 60) : answer(m, q, [], 60, RCODE.nxDomain), from.port, from.address);
    });
    await new Promise<void>((r) => upstream.bind(53, '127.0.0.154', () => r()));
    // (-type=a: busybox's nslookup sends A and AAAA with one id where the guest's clock is coarse, and drops the second answer)
    try {
      expect((await hyper(['run', '-d', '--name', 'early', '--dns', '127.0.0.154', 'busybox', 'sleep', '3600'], env)).exitCode).toBe(0);
      await running('early');
      // started after early: not in early's /etc/hosts, found through DNS all the same
      expect((await hyper(['run', '-d', '--name', 'late', 'busybox', ...httpd('hello-late')], env)).exitCode).toBe(0);
      await running('late');
      const late = (await inspect('late')).network!;
      const r = await hyper(['exec', 'early', 'sh', '-c', 'cat /etc/resolv.conf; grep -c late /etc/hosts; wget -q -O - http://late/; nslookup -type=a main.late; nslookup -type=a outside.example'], env);
      expect(r.stdout).toContain(`nameserver ${late.gateway}\nnameserver 127.0.0.154\n`);
      expect(r.stdout).toContain('\n0\nhello-late\n');
      expect(r.stdout).toMatch(new RegExp(`Name:\\s+main\\.late\\s+Address:\\s+${late.ip.replace(/\./g, '\\.')}`));
      expect(r.stdout).toMatch(/Name:\s+outside\.example\s+Address:\s+192\.0\.2\.7/);
      expect(asked).toContain('outside.example');
      expect(asked).not.toContain('late');
      expect((await hyper(['info'], env)).stdout).toContain(`pod DNS on ${late.gateway}:53`);
    } finally {
      upstream.close();
      await hyper(['rm', '-f', 'early', 'late'], env);
    }
  }, 120_000);

  it('UDP through a mapping', async () => {
    const bin = join(q.dataDir, 'udp-echo');
    sh('musl-gcc', ['-static', '-Os', '-o', bin, new URL('../fixtures/udp-echo.c', import.meta.url).pathname]);
    expect((await hyper(['run', '-d', '--name', 'udp', '-p', '127.0.0.1:15353:53/udp', 'busybox', 'sleep', '3600'], env)).exitCode).toBe(0);
    await running('udp');
    expect((await hyper(['cp', bin, 'udp:/bin/udp-echo'], env)).exitCode).toBe(0);
    void hyper(['exec', 'udp', '/bin/udp-echo', '53'], env);
    const s = createSocket('udp4');
    let answer = '';
    s.on('message', (m) => (answer = m.toString()));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 40 && !answer; i++) {
      s.send('ping', 15353, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 250));
    }
    s.close();
    expect(answer).toBe('echo: ping');
  }, 120_000);

  it('a host port another pod publishes makes a pod wait for it, one a process holds fails it before it starts, naming the holder', async () => {
    // the scheduler counts published ports: no host has 18080 free, so the pod waits (as for room), naming who holds it
    expect((await hyper(['run', '-d', '--name', 'again', '-p', '18080:80', 'busybox', 'sleep', '60'], env)).exitCode).toBe(0);
    for (let i = 0; i < 40 && !(await podState('again', env)).reason; i++) await new Promise((r) => setTimeout(r, 250));
    const again = await podState('again', env);
    expect(again.state).toBe('pending');
    expect(again.reason).toBe('host port 0.0.0.0:18080/tcp is published by pod web on net: it waits for the port, or publish another');
    expect((await podEvents('again', env)).some((e) => e.type === 'vm.booting')).toBe(false);
    expect((await hyper(['rm', '-f', 'again'], env)).exitCode).toBe(0);
    // a process the view knows nothing of: found on the host, which fails the run before its VM boots
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(18081, '0.0.0.0', () => r()));
    try {
      await hyper(['run', '-d', '--name', 'taken', '-p', '18081:80', 'busybox', 'sleep', '60'], env);
      for (let i = 0; i < 40 && (await podState('taken', env)).state !== 'failed'; i++) await new Promise((r) => setTimeout(r, 250));
      expect((await podState('taken', env)).reason).toMatch(/^host port 0\.0\.0\.0:18081\/tcp on net is in use by node \(pid \d+\): publish another/);
    } finally {
      squatter.close();
    }
  }, 60_000);

  it('a kill -9 of hyperd keeps the address and the mapping; removing the pod removes its rules and tap', async () => {
    const { id, network: before } = await inspect('web');
    await q.daemon.stop('SIGKILL');
    expect(curl('http://127.0.0.1:18080/')).toBe('hello-web\n'); // no daemon: the rules and the tap stay
    await q.restart();
    await running('web');
    expect((await inspect('web')).network!.ip).toBe(before!.ip);
    expect(curl('http://127.0.0.1:18080/')).toBe('hello-web\n');
    expect(dnatRules()).toContain(`${before!.ip}:80`);
    expect(sh('ip', ['-o', 'link', 'show', tapOf(id)])).toContain(`master ${networkFor(q.dataDir).bridge}`);
    expect((await hyper(['rm', '-f', 'web'], env)).exitCode).toBe(0);
    for (let i = 0; i < 40 && dnatRules().includes(before!.ip); i++) await new Promise((r) => setTimeout(r, 250));
    expect(dnatRules()).not.toContain(before!.ip);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(`${tapOf(id)}:`);
    expect(curl('http://127.0.0.1:18080/')).toMatch(/^curl failed/);
  }, 120_000);

  it('--network none: only lo', async () => {
    const r = await hyper(['run', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net'], env);
    expect(r.stdout.split('\n').filter((l) => !/^\w{12}: /.test(l))).toEqual(['lo']);
    const bad = await hyper(['run', '--network', 'none', '-p', '80', 'busybox', 'true'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('ports: a pod with network none has no ports to publish');
  }, 60_000);
});

describe('pod networking (user mode, for unprivileged hosts)', () => {
  it('a pod serves through a user-mode port forward', async () => {
    const u = await startQemuDaemon('hyper-net-user-', 'usernet', ['--network', 'user']);
    try {
      expect((await hyper(['run', '-d', '--name', 'uweb', '-p', '18090:80', 'busybox', ...httpd('hello-user')], u.env)).exitCode).toBe(0);
      for (let i = 0; i < 120 && (await podState('uweb', u.env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
      let body = '';
      for (let i = 0; i < 40 && body !== 'hello-user\n'; i++) {
        body = curl('http://127.0.0.1:18090/');
        if (body !== 'hello-user\n') await new Promise((r) => setTimeout(r, 250));
      }
      expect(body).toBe('hello-user\n');
      const net = JSON.parse((await hyper(['inspect', 'uweb'], u.env)).stdout)[0].network;
      expect(net).toMatchObject({ mode: 'user', ip: '10.0.2.15', ports: [{ hostPort: 18090, containerPort: 80 }] });
      expect((await hyper(['info'], u.env)).stdout).toContain("pod network:  user-mode (--network user): QEMU's own NAT and port forwards");
    } finally {
      await u.stop();
    }
  }, 120_000);
});
