// The real agent on a unix socket (--host --listen): hosts come and go while processes keep running, and after a
// reconnect + RESYNC every byte of output arrives exactly once, exits are listed until released, bad requests are refused.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, AgentError, AgentTooOldError } from '../../src/guest/agent-client.js';
import { OutputCursor } from '../../src/guest/output-cursor.js';
import { AGENT_ERROR, MSG, OUTPUT_WINDOW, PROTOCOL_VERSION } from '../../src/guest/wire.js';
import { startListenAgent, type ListenAgent } from '../harness/agent.js';

const host = { kind: 'host' as const };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let a: ListenAgent;
let dir: string;
beforeAll(async () => {
  a = await startListenAgent();
  dir = mkdtempSync(join(tmpdir(), 'hyper-reconnect-'));
});
afterAll(async () => {
  await a?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A host that stores output "durably" (in memory here, outliving its connections) and acknowledges what it stored,
 * as hyperd does: autoAck and autoRelease off, an OutputCursor per connection set from the store.
 */
class DurableHost {
  readonly chunks = new Map<string, Buffer[]>();
  readonly stored = new Map<string, number>();
  readonly exits = new Map<string, { code: number; atMs?: number }>();
  client!: AgentClient;
  private cursor = new OutputCursor();

  /** ackEvery: acknowledge after every nth stored chunk, so the agent's acked offset lags what is stored. */
  async attach(opts: { hunt: boolean; ackEvery?: number }): Promise<void> {
    ({ client: this.client } = await a.connect({ hunt: opts.hunt, autoAck: false, autoRelease: false }));
    this.cursor = new OutputCursor();
    for (const [p, n] of this.stored) this.cursor.set(p, 1, n);
    let n = 0;
    const client = this.client;
    client.onOutput((p, stream, data, offset) => {
      if (stream !== 1) return;
      const fresh = this.cursor.accept(p, 1, offset, data);
      if (!fresh) return;
      this.chunks.set(p, [...(this.chunks.get(p) ?? []), Buffer.from(fresh)]);
      this.stored.set(p, this.cursor.get(p, 1));
      if (++n % (opts.ackEvery ?? 1) === 0) client.ack(p, 1, this.cursor.get(p, 1));
    });
    client.onExit((p, code, atMs) => this.exits.set(p, { code, atMs }));
  }

  /** A new connection as hyperd makes it after a restart: hunt, resync, then acknowledge what the store already has. */
  async reattach(): Promise<Awaited<ReturnType<AgentClient['resync']>>> {
    await this.attach({ hunt: true });
    const r = await this.client.resync();
    for (const e of r.processes) if (this.stored.has(e.process)) this.client.ack(e.process, 1, this.stored.get(e.process)!);
    return r;
  }

  text(p: string): string {
    return Buffer.concat(this.chunks.get(p) ?? []).toString();
  }

  async until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }
}

describe('agent reconnects', () => {
  it('delivers every line exactly once across a disconnect in mid-stream', async () => {
    const h = new DurableHost();
    await h.attach({ hunt: false, ackEvery: 3 });
    const lines = 40_000;
    // ~2.5 s of output in bursts, so lines are written before, during and after the disconnect
    await h.client.startContainer('c-lines', host, { args: ['sh', '-c', `i=0; while [ $i -lt ${lines} ]; do echo "line $i"; i=$((i+1)); [ $((i % 1000)) -eq 0 ] && sleep 0.05; done; true`] });
    await h.until('the first lines', () => h.text('c-lines').split('\n').length > 3_000);
    h.client.close();
    const storedAtDisconnect = h.stored.get('c-lines')!;
    await sleep(700); // no host: the process keeps writing into the agent's retention
    const r = await h.reattach();
    const e = r.processes.find((p) => p.process === 'c-lines')!;
    expect(e).toMatchObject({ container: 'c-lines', main: true });
    expect(e.out.acked).toBeLessThanOrEqual(storedAtDisconnect);
    expect(e.out.sent).toBeGreaterThan(storedAtDisconnect); // written while nobody was connected
    await h.until('the exit', () => h.exits.has('c-lines'));
    expect(h.exits.get('c-lines')!.code).toBe(0);
    const got = h.text('c-lines').split('\n');
    expect(got.pop()).toBe('');
    expect(got.length).toBe(lines);
    got.forEach((l, i) => { if (l !== `line ${i}`) throw new Error(`line ${i} is "${l}"`); });
    await h.client.release('c-lines');
    h.client.close();
  }, 60_000);

  it('moves 50 MB written during a disconnect intact, with the agent\'s memory bounded', async () => {
    const file = join(dir, 'big.bin');
    const data = randomBytes(50 * 1024 * 1024);
    writeFileSync(file, data);
    const want = createHash('sha256').update(data).digest('hex');
    const h = new DurableHost();
    await h.attach({ hunt: false });
    const rss: number[] = [a.rssKb()];
    const sampler = setInterval(() => rss.push(a.rssKb()), 20);
    try {
      await h.client.startContainer('c-big', host, { args: ['cat', file] });
      await h.until('some output', () => (h.stored.get('c-big') ?? 0) > 1024 * 1024);
      h.client.close();
      await sleep(500);
      const r = await h.reattach();
      const e = r.processes.find((p) => p.process === 'c-big')!;
      expect(e.state).toBe('running');
      expect(e.out.sent - e.out.acked).toBeLessThanOrEqual(OUTPUT_WINDOW); // back-pressure, not buffering
      await h.until('the exit', () => h.exits.has('c-big'), 60_000);
    } finally {
      clearInterval(sampler);
    }
    const got = Buffer.concat(h.chunks.get('c-big') ?? []);
    expect(got.length).toBe(data.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(want);
    const peak = Math.max(...rss);
    console.log(`agent VmRSS during the 50 MB transfer: start ${rss[0]} KiB, peak ${peak} KiB (${rss.length} samples)`);
    expect(peak).toBeLessThan(8 * 1024);
    await h.client.release('c-big');
    h.client.close();
  }, 120_000);

  it('lists a process that exited while no host was connected until it is released', async () => {
    const h = new DurableHost();
    await h.attach({ hunt: false });
    await h.client.startContainer('c-gone', host, { args: ['sh', '-c', 'echo before; sleep 0.3; echo after; exit 7'] });
    await h.until('the first line', () => h.text('c-gone') === 'before\n');
    h.client.close();
    await sleep(800);
    const before = Date.now();
    const r = await h.reattach();
    expect(r).toMatchObject({ version: PROTOCOL_VERSION, build: expect.stringMatching(/^hyper-agent /), bootId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const e = r.processes.find((p) => p.process === 'c-gone')!;
    expect(e).toMatchObject({ state: 'exited', exitCode: 7, out: { sent: 'before\nafter\n'.length }, err: { sent: 0, acked: 0 } });
    expect(e.exitedAtMs).toBeGreaterThan(before - 2_000);
    expect(e.exitedAtMs).toBeLessThanOrEqual(before);
    // the rest of its output comes again, then its EXIT
    await h.until('the exit', () => h.exits.has('c-gone'));
    expect(h.text('c-gone')).toBe('before\nafter\n');
    expect(h.exits.get('c-gone')).toEqual({ code: 7, atMs: e.exitedAtMs });
    // a listed exit holds its name
    const taken = await h.client.startContainer('c-gone', host, { args: ['true'] }).catch((err) => err);
    expect(taken).toBeInstanceOf(AgentError);
    expect(taken).toMatchObject({ agentCode: AGENT_ERROR.EXISTS, message: expect.stringContaining('not yet released') });
    // a second resync (same host) lists it again; after RELEASE it is gone and the name is free
    expect((await h.client.resync()).processes.map((p) => p.process)).toContain('c-gone');
    await h.client.release('c-gone');
    expect((await h.client.resync()).processes.map((p) => p.process)).not.toContain('c-gone');
    await expect(h.client.startContainer('c-gone', host, { args: ['true'] })).resolves.toBeGreaterThan(0);
    h.client.close();
  });

  it('takes later connections one at a time, each greeted with READY', async () => {
    const first = await a.connect();
    const second = a.connect(); // waits in the backlog until the first host goes, as with QEMU's chardev
    await sleep(200);
    expect(first.client.ready?.version).toBe(PROTOCOL_VERSION);
    first.client.close();
    const { client } = await second;
    expect(client.ready).toEqual(first.client.ready);
    client.close();
  });
});

describe('agent refuses bad resync, ack and release requests', () => {
  it('answers each with the right error, and still answers a ping', async () => {
    const { client } = await a.connect({ autoRelease: false });
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: AgentError) => e.agentCode);
    await client.startContainer('c-bad', host, { args: ['sh', '-c', 'printf 12345; exec sleep 30'] });
    await sleep(200);
    expect(await code(client.send(MSG.ACK, { STREAM: 1, OFFSET: 0 }, 'ack'))).toBe(AGENT_ERROR.MISSING);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'nobody', STREAM: 1, OFFSET: 0 }, 'ack'))).toBe(AGENT_ERROR.NOT_FOUND);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', OFFSET: 0 }, 'ack'))).toBe(AGENT_ERROR.MISSING);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 3, OFFSET: 0 }, 'ack'))).toBe(AGENT_ERROR.MALFORMED);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 1 }, 'ack'))).toBe(AGENT_ERROR.MISSING);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 1, OFFSET: Buffer.from([1, 2]) }, 'ack'))).toBe(AGENT_ERROR.MALFORMED);
    const beyond = await client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 1, OFFSET: 6 }, 'ack').catch((e) => e);
    expect(beyond).toMatchObject({ agentCode: AGENT_ERROR.STATE, message: expect.stringMatching(/offset 6: only 5 bytes were read/) });
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 2, OFFSET: 1 }, 'ack'))).toBe(AGENT_ERROR.STATE);
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 1, OFFSET: 5 }, 'ack'))).toBe('ok');
    expect(await code(client.send(MSG.ACK, { PROCESS: 'c-bad', STREAM: 1, OFFSET: 2 }, 'ack'))).toBe('ok'); // late, harmless
    expect(await code(client.send(MSG.RELEASE, {}, 'release'))).toBe(AGENT_ERROR.MISSING);
    expect(await code(client.send(MSG.RELEASE, { PROCESS: 'nobody' }, 'release'))).toBe(AGENT_ERROR.NOT_FOUND);
    expect(await code(client.send(MSG.RELEASE, { PROCESS: 'c-bad' }, 'release'))).toBe(AGENT_ERROR.STATE);
    const retired = await client.send(MSG.RETIRED_WINDOW, { PROCESS: 'c-bad', BYTES: 10 }, 'window').catch((e) => e);
    expect(retired).toMatchObject({ agentCode: AGENT_ERROR.UNKNOWN, message: expect.stringContaining('retired in protocol 2') });
    // unknown fields are ignored, as everywhere
    const r = await client.send(MSG.RESYNC, { DATA: Buffer.from('extra'), PROCESS: 'x' }, 'resync');
    expect(r.entries?.map((e) => e.process)).toContain('c-bad');
    expect((await client.ping()).version).toBe(PROTOCOL_VERSION);
    await client.signal('c-bad', 9);
    expect(await client.waitExit('c-bad')).toBe(137);
    await client.release('c-bad');
    expect(await code(client.send(MSG.RELEASE, { PROCESS: 'c-bad' }, 'release'))).toBe(AGENT_ERROR.NOT_FOUND);
    client.close();
  });

  it('a protocol-1 agent (built from the last v1 commit) is refused with AgentTooOldError', async () => {
    const src = join(dir, 'v1');
    try {
      execFileSync('sh', ['-c', `mkdir -p ${src} && git -C ${process.cwd()} archive 7f429db guest-agent | tar -x -C ${src}`], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`this test builds the protocol-1 agent from commit 7f429db and needs the repository's history (a full clone): ${(err as Error).message}`);
    }
    execFileSync('make', ['-s', '-C', join(src, 'guest-agent'), 'build/hyper-agent']);
    // protocol 1 had no --listen: its stdin/stdout, as a hunting host sees any channel
    const old = spawn(join(src, 'guest-agent', 'build', 'hyper-agent'), ['--host'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const client = new AgentClient(old.stdout!, old.stdin!, () => {}, { hunt: true });
      const err = await client.resync().catch((e) => e);
      expect(err).toBeInstanceOf(AgentTooOldError);
      expect(err.code).toBe('agent-too-old');
      expect(err.message).toMatch(/protocol 1, .*the pod keeps running but cannot be resynced — stop it and start it again/);
    } finally {
      old.kill('SIGKILL');
    }
  }, 60_000);
});
