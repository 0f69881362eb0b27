// The real agent binary, unprivileged on the host: protocol handling, process lifecycle, streams, ttys, reaping and bad input.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError } from '../../src/guest/agent-client.js';
import { encodeFrame, MSG, PROTOCOL_VERSION } from '../../src/guest/wire.js';
import { startHostAgent, type HostAgent } from '../harness/agent.js';

let a: HostAgent;
beforeAll(async () => {
  a = await startHostAgent();
});
afterAll(() => a?.close());

const host = { kind: 'host' as const };

describe('agent on the host', () => {
  it('announces readiness with its protocol version, build and boot id, and answers pings', async () => {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    expect(a.client.ready).toEqual({ version: PROTOCOL_VERSION, build: expect.stringMatching(/^hyper-agent /), bootId });
    expect((await a.client.ping()).version).toBe(PROTOCOL_VERSION);
  });

  it('runs a process: stdout, stderr and the exit code', async () => {
    const out = a.output('c-echo');
    await a.client.startContainer('c-echo', host, { args: ['/bin/sh', '-c', 'echo hello; echo oops >&2'] });
    expect(await a.client.waitExit('c-echo')).toBe(0);
    expect(out()).toBe('hello\noops\n');
  });

  it('propagates exit codes, and 128+signal for a killed process', async () => {
    await a.client.startContainer('c-exit3', host, { args: ['sh', '-c', 'exit 3'] });
    expect(await a.client.waitExit('c-exit3')).toBe(3);
    await a.client.startContainer('c-sleep', host, { args: ['sleep', '30'] });
    await a.client.signal('c-sleep', 15);
    expect(await a.client.waitExit('c-sleep')).toBe(143);
  });

  it('passes env and workdir, and searches PATH from the container environment', async () => {
    const out = a.output('c-env');
    await a.client.startContainer('c-env', host, { args: ['sh', '-c', 'echo $GREETING; pwd'], env: ['GREETING=hi there', 'PATH=/usr/bin:/bin'], cwd: '/tmp' });
    expect(await a.client.waitExit('c-env')).toBe(0);
    expect(out()).toBe('hi there\n/tmp\n');
  });

  it('refuses a command that cannot be executed, naming it and the reason', async () => {
    await expect(a.client.startContainer('c-nope', host, { args: ['/no/such/binary'] })).rejects.toThrow(/starting \/no\/such\/binary in c-nope: .*No such file or directory/);
    await expect(a.client.startContainer('c-nope', host, { args: ['sh', '-c', 'true'] })).resolves.toBeGreaterThan(0);
  });

  it('execs a second process into a running container', async () => {
    await a.client.startContainer('c-main', host, { args: ['sleep', '30'] });
    const out = a.output('c-main-exec');
    await a.client.exec('c-main', 'c-main-exec', { args: ['sh', '-c', 'echo from exec'] });
    expect(await a.client.waitExit('c-main-exec')).toBe(0);
    expect(out()).toBe('from exec\n');
    await expect(a.client.exec('nope', 'x', { args: ['true'] })).rejects.toThrow(/no container "nope"/);
    await a.client.signal('c-main', 9);
    expect(await a.client.waitExit('c-main')).toBe(137);
  });

  it('pipes stdin through cat, and closing stdin ends it', async () => {
    const out = a.output('c-cat');
    await a.client.startContainer('c-cat', host, { args: ['cat'] });
    await a.client.stdin('c-cat', Buffer.from('line one\n'));
    await a.client.stdin('c-cat', Buffer.from('line two\n'));
    await a.client.closeStdin('c-cat');
    expect(await a.client.waitExit('c-cat')).toBe(0);
    expect(out()).toBe('line one\nline two\n');
    await expect(a.client.stdin('c-cat', Buffer.from('late'))).rejects.toThrow(/no process "c-cat"/);
  });

  it('moves large output through the acknowledgement window, each chunk at the offset where the last one ended', async () => {
    let bytes = 0;
    let gaps = 0;
    a.client.onOutput((p, _s, d, offset) => {
      if (p !== 'c-big') return;
      if (offset !== bytes) gaps++;
      bytes += d.length;
    });
    await a.client.startContainer('c-big', host, { args: ['sh', '-c', 'head -c 5000000 /dev/zero'] });
    expect(await a.client.waitExit('c-big')).toBe(0);
    expect(bytes).toBe(5_000_000);
    expect(gaps).toBe(0);
  });

  it('reports the exit time, and frees the name once the exit is released', async () => {
    const exits: { code: number; atMs?: number }[] = [];
    a.client.onExit((p, code, atMs) => { if (p === 'c-again') exits.push({ code, atMs }); });
    const before = Date.now();
    await a.client.startContainer('c-again', host, { args: ['sh', '-c', 'exit 4'] });
    expect(await a.client.waitExit('c-again')).toBe(4);
    expect(exits[0].atMs).toBeGreaterThanOrEqual(before - 1_000);
    expect(exits[0].atMs).toBeLessThanOrEqual(Date.now() + 1_000);
    // the client released it on EXIT (autoRelease), so the name can start a new process
    await a.client.startContainer('c-again', host, { args: ['sh', '-c', 'exit 5'] });
    expect(await a.client.waitExit('c-again')).toBe(5);
  });

  it('runs a tty session whose size follows resize', async () => {
    const out = a.output('c-tty');
    await a.client.startContainer('c-tty', host, { args: ['sh', '-c', 'read x; stty size'], tty: true, rows: 24, cols: 80 });
    await a.client.resize('c-tty', 50, 120);
    await a.client.stdin('c-tty', Buffer.from('go\n'));
    expect(await a.client.waitExit('c-tty')).toBe(0);
    expect(out()).toMatch(/50 120/);
    await expect(a.client.resize('c-echo-none', 1, 1)).rejects.toThrow(/no process/);
  });

  it('reaps a burst of 1,000 orphaned children: no zombies left', async () => {
    await a.client.startContainer('c-burst', host, { args: ['sh', '-c', 'i=0; while [ $i -lt 1000 ]; do (true &); i=$((i+1)); done'] });
    expect(await a.client.waitExit('c-burst')).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const zombies = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const [, state, ppid] = /\) (\S) (\d+)/.exec(stat)!;
        return state === 'Z' && Number(ppid) === a.proc.pid;
      } catch {
        return false;
      }
    });
    expect(zombies).toEqual([]);
  });

  it('reports stats', async () => {
    const s = await a.client.stats();
    expect(s.memTotal).toBeGreaterThan(0);
    expect(s.memAvailable).toBeGreaterThan(0);
    expect(s.uptimeMs).toBeGreaterThan(0);
  });
});

describe('agent with bad input', () => {
  const send = (bytes: Buffer) => a.client.writeRaw(bytes);

  it('answers an unknown message type, a missing field and overrunning fields with errors', async () => {
    await expect(a.client.send(200, {}, 'mystery')).rejects.toMatchObject({ agentCode: 3, message: expect.stringContaining('unknown message type 200') });
    await expect(a.client.send(MSG.SIGNAL, { SIGNAL: 9 }, 'signal')).rejects.toThrow(/PROCESS missing/);
    await expect(a.client.send(MSG.START_CONTAINER, { CONTAINER: 'x', ROOTFS_KIND: 'host' }, 'start')).rejects.toThrow(/no command/);
    await expect(a.client.send(MSG.START_CONTAINER, { CONTAINER: 'y', ROOTFS_KIND: '9p', ROOTFS_SOURCE: 'share', ARG: 'true' }, 'start')).rejects.toThrow(/needs the agent to run as the guest's init/);
    const overrun = encodeFrame(MSG.PING, 77, { DATA: Buffer.from('abcd') });
    overrun.writeUInt32BE(1000, 9 + 1); // the field claims 1000 bytes
    send(overrun);
    expect((await a.client.ping()).version).toBe(PROTOCOL_VERSION);
  });

  it('refuses an oversized frame, skips its bytes, and still answers a ping', async () => {
    const big = Buffer.alloc(9 + 2_000_000);
    big.writeUInt32BE(5 + 2_000_000, 0);
    big[4] = MSG.PING;
    big.writeUInt32BE(4242, 5);
    send(big);
    expect((await a.client.ping()).version).toBe(PROTOCOL_VERSION);
  });

  it('survives a frame shorter than its header', async () => {
    const tiny = Buffer.alloc(4);
    tiny.writeUInt32BE(2, 0);
    send(tiny);
    expect((await a.client.ping()).version).toBe(PROTOCOL_VERSION);
  });

  it('keeps refusing bad requests with typed errors', async () => {
    const err = await a.client.signal('ghost', 9).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err.code).toBe('agent-not_found');
  });
});
