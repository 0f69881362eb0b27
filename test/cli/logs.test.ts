// `hyper logs` against a real QEMU pod on an embedded NATS: every byte of 20 MB read back, hash for hash, on every call and
// after kill -9 of the daemon; --tail, --timestamps, --since/--until; a closed pipe ends it quietly.
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper } from '../harness/processes.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};

/** `hyper logs ARGS` with stdout as bytes. */
async function logsRaw(args: string[]) {
  const r = await execa('node', [CLI, 'logs', ...args], { env: { HYPER_LOG_FORMAT: 'json', ...env }, reject: false, encoding: 'buffer', stripFinalNewline: false, timeout: 60_000 });
  return { stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString(), exitCode: r.exitCode };
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  q = await startQemuDaemon('hyper-logs-', 'logs');
  env = q.env;
}, 60_000);

afterAll(async () => {
  await q?.stop();
});

describe('hyper logs', () => {
  it('20 MB of random bytes read back whole, three times in a row and after kill -9 of the daemon; a closed pipe exits quietly', async () => {
    // the guest hashes what it writes (to stderr), then writes it (to stdout)
    const run = await hyper(['run', '--name', 'big', 'busybox', 'sh', '-c', 'dd if=/dev/urandom of=/tmp/x bs=1M count=20 2>/dev/null && sha256sum /tmp/x >&2 && cat /tmp/x'], env);
    expect(run.exitCode).toBe(0);
    const wrote = /([0-9a-f]{64}) {2}\/tmp\/x/.exec(run.stderr)?.[1];
    expect(wrote).toMatch(/^[0-9a-f]{64}$/);
    for (let i = 0; i < 3; i++) {
      const r = await logsRaw(['big']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.length).toBe(20 * 1024 * 1024);
      expect(sha(r.stdout)).toBe(wrote);
    }
    const head = await execa('sh', ['-c', `node ${CLI} logs big 2>/dev/null | head -c 100 | wc -c; node ${CLI} logs big 2>&1 >/dev/null | head -c 0; node ${CLI} logs big | head -c 10 >/dev/null`], { env: { ...process.env, ...env }, reject: false });
    expect(head.stdout.trim()).toBe('100');
    // the last: stdout closed after 10 bytes while stderr (the guest's hash line) stays open
    expect(head.stderr).toMatch(/^[0-9a-f]{64} {2}\/tmp\/x$/);
    await q.daemon.stop('SIGKILL');
    await q.restart();
    const after = await logsRaw(['big']);
    expect(sha(after.stdout)).toBe(wrote);
  }, 240_000);

  it('--tail N, --timestamps, --since and --until, -c; a bad time is refused naming the flag', async () => {
    const t0 = Date.now();
    const run = await hyper(['run', '--name', 'lines', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; done; printf "no newline"; echo oops >&2'], env);
    expect(run.exitCode).toBe(0);
    const all = await hyper(['logs', 'lines'], env);
    expect(all.stdout).toBe(`${Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n')}\nno newline`);
    expect(all.stderr).toBe('oops'); // execa strips the last newline
    const tail = await hyper(['logs', '--tail', '3', 'lines'], env);
    // the last three lines of the output as stored (stdout and stderr interleaved in the order NATS stored them): stdout's
    // last two, the unfinished "no newline" counting as a line, and stderr's line unless it was stored first
    expect(tail.stdout).toMatch(/^(line 9\n)?line 10\nno newline$/);
    expect(tail.stdout.split('\n').length + (tail.stderr ? 1 : 0)).toBe(3);
    expect((await hyper(['logs', '--tail', '0', 'lines'], env)).stdout).toBe('');
    const stamped = await hyper(['logs', '-t', '--tail', '3', 'lines'], env);
    const m = /^(\S+) line 10$/m.exec(stamped.stdout);
    expect(m).not.toBeNull();
    const at = Date.parse(m![1]);
    expect(at).toBeGreaterThanOrEqual(t0 - 1_000);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect((await hyper(['logs', '--since', new Date(Date.now() + 60_000).toISOString(), 'lines'], env)).stdout).toBe('');
    expect((await hyper(['logs', '--since', '10m', 'lines'], env)).stdout).toContain('line 1\n');
    expect((await hyper(['logs', '--until', new Date(t0 - 60_000).toISOString(), 'lines'], env)).stdout).toBe('');
    expect((await hyper(['logs', '-c', 'main', 'lines'], env)).stdout).toContain('line 10');
    expect((await hyper(['logs', '-c', 'other', 'lines'], env)).stdout).toBe('');
    const bad = await hyper(['logs', '--since', 'yesterday', 'lines'], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--since: "yesterday" is not a time');
    const badTail = await hyper(['logs', '--tail', '-1', 'lines'], env);
    expect(badTail.stderr).toContain('--tail');
  }, 120_000);
});
