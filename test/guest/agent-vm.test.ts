// The real guest under QEMU (software emulation here): our kernel, the agent as PID 1, containers in a busybox rootfs over 9p.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../src/guest/agent-client.js';
import { decodeAgentMessage } from '../../src/guest/messages.js';
import { OutputCursor } from '../../src/guest/output-cursor.js';
import { encodeFrame, FrameReader, MSG, PROTOCOL_VERSION } from '../../src/guest/wire.js';
import { bootGuest } from '../harness/guest.js';
import type { QemuVm } from '../../src/drivers/qemu/launch.js';

let vm: QemuVm;
let agent: AgentClient;
let dir: string;
let rootfs: string;
const share = { kind: '9p' as const, source: 'rootfs0' };

beforeAll(async () => {
  ({ vm, dir, rootfs } = await bootGuest());
  agent = vm.agent;
}, 60_000);
afterAll(async () => {
  await vm?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function collect(process: string): () => string {
  let text = '';
  agent.onOutput((p, _s, d) => { if (p === process) text += d.toString(); });
  return () => text;
}

async function run(name: string, args: string[], extra: Record<string, unknown> = {}): Promise<{ code: number; out: string }> {
  const out = collect(name);
  await agent.startContainer(name, share, { args, ...extra });
  return { code: await agent.waitExit(name), out: out() };
}

describe('guest: boot', () => {
  it('boots to agent-ready and reports its protocol version', async () => {
    expect((await agent.ping()).version).toBe(PROTOCOL_VERSION);
    expect(vm.readyMs).toBeGreaterThan(0);
  });

  it('uses at most 8 MB once booted (the kernel patch bounds virtio_console\'s receive rings: 14.4 MB without it)', async () => {
    const s = await agent.stats();
    expect((s.memTotal! - s.memAvailable!) / 1024 / 1024).toBeLessThan(8);
  });

  it('reseeds the kernel RNG from the host', async () => {
    await expect(agent.reseed(Buffer.alloc(64, 7))).resolves.toMatchObject({ kind: 'ok' });
  });

  it('sets the pod hostname, visible in containers', async () => {
    await agent.startPod({ hostname: 'pod-one', dns: ['10.0.2.3'] });
    expect(await run('c-hostname', ['hostname'])).toEqual({ code: 0, out: 'pod-one\n' });
  });
});

describe('guest: containers', () => {
  it('echo hello → stdout hello, exit 0', async () => {
    expect(await run('c-echo', ['echo', 'hello'])).toEqual({ code: 0, out: 'hello\n' });
  });

  it('exit 3 → 3', async () => {
    expect((await run('c-exit', ['sh', '-c', 'exit 3'])).code).toBe(3);
  });

  it('SIGTERM to sleep → 143', async () => {
    await agent.startContainer('c-sleep', share, { args: ['sleep', '100'] });
    await agent.signal('c-sleep', 15);
    expect(await agent.waitExit('c-sleep')).toBe(143);
  });

  it('runs as a user named in the container\'s /etc/passwd, with a working directory', async () => {
    expect(await run('c-user', ['sh', '-c', 'id -u; id -g; pwd'], { user: 'nobody', cwd: '/tmp' })).toEqual({ code: 0, out: '65534\n65534\n/tmp\n' });
    expect(await run('c-uidgid', ['sh', '-c', 'id -u; id -g'], { user: '1234:nogroup' })).toEqual({ code: 0, out: '1234\n65534\n' });
    await expect(agent.startContainer('c-nouser', share, { args: ['true'], user: 'ghost' })).rejects.toThrow(/user not found in the container's \/etc\/passwd/);
  });

  it('runs in its own root: the container sees the busybox rootfs, not the initramfs', async () => {
    const r = await run('c-root', ['sh', '-c', 'ls /bin/busybox && test ! -e /init && echo rooted']);
    expect(r).toEqual({ code: 0, out: '/bin/busybox\nrooted\n' });
  });

  it('execs a second process into a running container', async () => {
    await agent.startContainer('c-long', share, { args: ['sh', '-c', 'echo marker > /tmp/mark; sleep 100'] });
    await new Promise((r) => setTimeout(r, 200));
    const out = collect('c-long-exec');
    await agent.exec('c-long', 'c-long-exec', { args: ['cat', '/tmp/mark'] });
    expect(await agent.waitExit('c-long-exec')).toBe(0);
    expect(out()).toBe('marker\n');
  });

  it('containers of a pod share the PID namespace', async () => {
    const r = await run('c-ps', ['sh', '-c', 'ps -o args | grep -c "[s]leep 100"']);
    expect(r.out.trim()).toBe('1');
  });

  it('pipes stdin through cat', async () => {
    const out = collect('c-cat');
    await agent.startContainer('c-cat', share, { args: ['cat'] });
    await agent.stdin('c-cat', Buffer.from('through the guest\n'));
    await agent.closeStdin('c-cat');
    expect(await agent.waitExit('c-cat')).toBe(0);
    expect(out()).toBe('through the guest\n');
  });

  it('a tty session reports the size set by a resize', async () => {
    const out = collect('c-tty');
    await agent.startContainer('c-tty', share, { args: ['sh', '-c', 'read x; stty size'], tty: true, rows: 24, cols: 80 });
    await agent.resize('c-tty', 40, 100);
    await agent.stdin('c-tty', Buffer.from('go\n'));
    expect(await agent.waitExit('c-tty')).toBe(0);
    expect(out()).toMatch(/40 100/);
  });

  it('a burst of 1,000 short-lived children leaves no zombies', async () => {
    const burst = await run('c-burst', ['sh', '-c', 'i=0; while [ $i -lt 1000 ]; do (true &); i=$((i+1)); done; echo done']);
    expect(burst).toEqual({ code: 0, out: 'done\n' });
    await new Promise((r) => setTimeout(r, 500));
    const zombies = await run('c-zombies', ['sh', '-c', 'ps -o stat | grep -c "^Z" || true']);
    expect(zombies.out.trim()).toBe('0');
  }, 120_000);

  it('mounts a read-only EROFS image with a writable overlay', async () => {
    const image = join(dir, 'rootfs.erofs');
    execFileSync('mkfs.erofs', ['--quiet', image, rootfs]);
    const again = await bootGuest({ disks: [image] });
    try {
      let text = '';
      again.vm.agent.onOutput((p, _s, d) => { if (p === 'c-block') text += d.toString(); });
      await again.vm.agent.startContainer('c-block', { kind: 'block', source: '/dev/vda', fstype: 'erofs' }, { args: ['sh', '-c', 'echo written > /etc/new && cat /etc/new && ls /bin/busybox'] });
      expect(await again.vm.agent.waitExit('c-block')).toBe(0);
      expect(text).toBe('written\n/bin/busybox\n');
    } finally {
      await again.vm.stop();
      rmSync(again.dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('reports memory used and uptime', async () => {
    const s = await agent.stats();
    expect(s.memTotal).toBeGreaterThan(50 * 1024 * 1024);
    expect(s.memAvailable).toBeLessThan(s.memTotal!);
    expect(s.uptimeMs).toBeGreaterThan(0);
  });
});

/** The first READY in bytes that may start with torn frames: where it starts, and what it says. */
function firstReady(raw: Buffer): { at: number; bootId?: string } | null {
  for (let at = 0; at + 9 <= raw.length; at++) {
    if (raw[at + 4] !== MSG.READY || raw.readUInt32BE(at + 5) !== 0) continue;
    try {
      const [frame] = new FrameReader().push(raw.subarray(at));
      const m = frame && decodeAgentMessage(frame);
      if (m && m.kind === 'ready') return { at, bootId: m.bootId };
    } catch {}
  }
  return null;
}

describe('guest: a host that goes away and comes back', () => {
  it('re-attaches: READY again with the same boot id, the container listed running, its counter continuing with no gap and no repeat', async () => {
    const g = await bootGuest();
    const sock = join(g.dir, 'vm', 'agent.sock');
    try {
      const first = g.vm.agent;
      const bootId = first.ready?.bootId;
      expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
      // the host's durable store: what it received, and up to where (the first host acknowledges on receipt)
      let text = '';
      let cursor = new OutputCursor();
      const store = (p: string, s: 1 | 2, d: Uint8Array, offset: number) => {
        const fresh = p === 'c-count' && s === 1 ? cursor.accept(p, s, offset, d) : null;
        if (fresh) text += Buffer.from(fresh).toString();
      };
      first.onOutput(store);
      await first.startContainer('c-count', share, { args: ['sh', '-c', 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'] });
      while (text.split('\n').length < 6) await new Promise((r) => setTimeout(r, 20));
      first.close(); // the daemon dies: its socket closes
      const linesAtDisconnect = text.split('\n').length - 1;
      // no host: the agent must wait, not spin (a busy loop would cost QEMU a whole core)
      const qemuPid = Number(readFileSync(g.vm.pidFile, 'utf8'));
      const cpuMs = () => readFileSync(`/proc/${qemuPid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((a, b) => a + Number(b) * 10, 0);
      await new Promise((r) => setTimeout(r, 200));
      const cpu0 = cpuMs();
      await new Promise((r) => setTimeout(r, 1_300));
      const detachedCpuMs = cpuMs() - cpu0;
      expect(detachedCpuMs).toBeLessThan(600);

      // a new host, as hyperd re-attaches: a resync that goes unanswered is retried on a fresh connection
      const raw: Buffer[] = [];
      const stored = cursor.get('c-count', 1);
      cursor = new OutputCursor();
      cursor.set('c-count', 1, stored);
      const t0 = Date.now();
      let second!: AgentClient;
      let r!: Awaited<ReturnType<AgentClient['resync']>>;
      for (let attempt = 1; ; attempt++) {
        const s = connect(sock);
        await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
        raw.length = 0;
        s.on('data', (d: Buffer) => raw.push(d));
        const client = new AgentClient(s, s, () => {}, { hunt: true, autoAck: false, autoRelease: false });
        client.onOutput((p, st, d, offset) => {
          store(p, st, d, offset);
          if (p === 'c-count' && st === 1) client.ack(p, 1, cursor.get(p, 1));
        });
        try {
          r = await client.resync(5_000);
          second = client;
          break;
        } catch (err) {
          console.log(`resync attempt ${attempt} unanswered; agent console: ${JSON.stringify(readFileSync(g.vm.consoleLog, 'utf8').split('\n').filter((l) => l.includes('host ')))}`);
          client.close();
          s.destroy();
          if (attempt >= 3) throw err;
        }
      }
      const resyncMs = Date.now() - t0;
      expect(r).toMatchObject({ version: PROTOCOL_VERSION, bootId });
      const e = r.processes.find((p) => p.process === 'c-count')!;
      expect(e).toMatchObject({ state: 'running', main: true, container: 'c-count' });
      expect(e.out.acked).toBeLessThanOrEqual(stored);
      expect(e.out.sent).toBeGreaterThan(stored); // the counter went on while no host was attached
      second.ack('c-count', 1, stored);
      while (text.split('\n').length - 1 < linesAtDisconnect + 20) await new Promise((r) => setTimeout(r, 20));
      const lines = text.split('\n').slice(0, -1);
      lines.forEach((l, i) => { if (l !== String(i)) throw new Error(`line ${i} is "${l}": ${JSON.stringify(lines)}`); });

      const all = Buffer.concat(raw);
      const ready = firstReady(all);
      expect(ready).toMatchObject({ bootId });
      const log = readFileSync(g.vm.consoleLog, 'utf8');
      console.log(`reconnect under QEMU: QEMU used ${detachedCpuMs} ms of CPU in 1.3 s detached; ${ready!.at} bytes before the new host's first READY; resync answered in ${resyncMs} ms; ` +
        `${e.out.sent - stored} bytes written while detached; agent log: ${JSON.stringify(log.split('\n').filter((l) => l.includes('host ')))}`);
      await second.signal('c-count', 9);
      await second.shutdown();
      expect(await g.vm.exited).toBe(0);
    } finally {
      await g.vm.stop();
      rmSync(g.dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('guest: bad input', () => {
  it('answers malformed and oversized frames with errors and still answers a ping', async () => {
    await expect(agent.send(250, {}, 'mystery')).rejects.toThrow(/unknown message type 250/);
    const overrun = encodeFrame(MSG.PING, 99, { DATA: Buffer.from('abcd') });
    overrun.writeUInt32BE(1 << 30, 9 + 1);
    agent.writeRaw(overrun);
    const big = Buffer.alloc(9 + 1_500_000);
    big.writeUInt32BE(5 + 1_500_000, 0);
    big[4] = MSG.STDIN;
    agent.writeRaw(big);
    expect((await agent.ping()).version).toBe(PROTOCOL_VERSION);
    await expect(agent.startContainer('c-bad', { kind: '9p', source: 'no-such-tag' }, { args: ['true'] })).rejects.toThrow(/mount 9p share "no-such-tag"/);
  });

  it('shuts the VM down on request', async () => {
    await agent.shutdown();
    expect(await vm.exited).toBe(0);
  });
});
