// `hyper exec` against a real QEMU pod on an embedded NATS: exit codes and streams as docker's, pipes byte for byte,
// flow control under a 200 MB burst to a slow reader, facts that leave the pod running, and a real terminal under tmux.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper } from '../harness/processes.js';
import { podEvents, podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';
import { openTerminal } from '../harness/tmux.js';

let q: QemuDaemon;
let env: Record<string, string> = {};
let dataDir = '';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

beforeAll(async () => {
  q = await startQemuDaemon('hyper-exec-', 'exec');
  ({ env, dataDir } = q);
  const r = await hyper(['run', '-d', '--name', 'box', 'busybox', 'sleep', '3600'], env);
  expect(r.exitCode).toBe(0);
  for (let i = 0; i < 120 && (await podState('box', env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
}, 90_000);

afterAll(async () => {
  await q?.stop();
});

describe('hyper exec', () => {
  it('exit code and separate streams; -e -w -u; the pod keeps running and the session is its own fact, with who ran what', async () => {
    const r = await hyper(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 7'], env);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe('out');
    expect(r.stderr).toBe('err');
    const opts = await hyper(['exec', '-e', 'FOO=bar', '-w', '/tmp', '-u', '65534', 'box', 'sh', '-c', 'echo $FOO $(pwd) $(id -u)'], env);
    expect(opts.stdout).toBe('bar /tmp 65534');
    const piped = await hyper(['exec', '-i', 'box', 'cat'], env, 'hi there\n');
    expect(piped.stdout).toBe('hi there');
    expect((await hyper(['exec', 'box', '-c', 'main', 'true'], env)).exitCode).toBe(0);
    expect((await podState('box', env)).state).toBe('running');
    const evs = await podEvents('box', env);
    const started = evs.filter((e) => e.type === 'exec.started');
    expect(started.length).toBeGreaterThanOrEqual(4);
    expect(started[0].data).toMatchObject({ container: 'main', command: ['sh', '-c', 'echo out; echo err >&2; exit 7'], tty: false });
    expect(started[0].by).toMatch(/^cli:/);
    const exited = evs.filter((e) => e.type === 'exec.exited');
    expect(exited.find((e) => e.data.session === started[0].data.session)?.data.exitCode).toBe(7);
    expect(evs.some((e) => e.type === 'container.exited')).toBe(false);
  }, 60_000);

  it('errors as docker: 127 for a missing command, 125 for a missing container or a pod not running', async () => {
    const missing = await hyper(['exec', 'box', 'nosuch-command'], env);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/cannot run "nosuch-command" in container main: .*No such file or directory/);
    const noContainer = await hyper(['exec', 'box', '-c', 'other', 'true'], env);
    expect(noContainer.exitCode).toBe(125);
    expect(noContainer.stderr).toContain('pod box has no container other (it has main)');
    const noCommand = await hyper(['exec', 'box'], env);
    expect(noCommand.exitCode).toBe(2);
    expect(noCommand.stderr).toContain('command: give a command to run');
    await hyper(['run', '--name', 'done', 'busybox', 'true'], env);
    const notRunning = await hyper(['exec', 'done', 'true'], env);
    expect(notRunning.exitCode).toBe(125);
    expect(notRunning.stderr).toMatch(/pod done is not running \(it is succeeded\)/);
    expect((await hyper(['exec', 'nosuchpod', 'true'], env)).exitCode).not.toBe(0);
    expect((await podEvents('box', env)).some((e) => e.type === 'exec.failed')).toBe(true);
  }, 60_000);

  it('50 MB of random bytes through exec -i cat come back identical', async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const r = await execa('node', [CLI, 'exec', '-i', 'box', 'cat'], { env: { HYPER_LOG_FORMAT: 'json', ...env }, input: data, encoding: 'buffer', stripFinalNewline: false, reject: false, timeout: 120_000, maxBuffer: 200 * 1024 * 1024 });
    expect(r.exitCode).toBe(0);
    const out = Buffer.from(r.stdout);
    expect(out.length).toBe(data.length);
    expect(sha(out)).toBe(sha(data));
  }, 150_000);

  it('a 200 MB burst to a slow reader: every byte arrives, and neither the daemon nor the CLI grows with it', async () => {
    const daemonBefore = rssKb(q.daemon.proc.pid!);
    // the reader takes 64 KiB every 5 ms at most (~12 MB/s), far slower than the guest writes
    const reader = join(dataDir, 'slow-reader.mjs');
    writeFileSync(reader, `let n = 0; process.stdin.on('data', (b) => { n += b.length; process.stdin.pause(); setTimeout(() => process.stdin.resume(), 5); }); process.stdin.on('end', () => console.log(n));`);
    const p = execa('sh', ['-c', `node ${CLI} exec box head -c 200000000 /dev/zero | node ${reader}`], { env: { ...process.env, HYPER_LOG_FORMAT: 'json', ...env }, reject: false, timeout: 180_000 });
    let daemonMax = daemonBefore;
    let cliMax = 0;
    const sampler = setInterval(() => {
      try {
        daemonMax = Math.max(daemonMax, rssKb(q.daemon.proc.pid!));
        const cli = execFileSync('pgrep', ['-f', `${CLI} exec box head`]).toString().trim().split('\n')[0];
        if (cli) cliMax = Math.max(cliMax, rssKb(Number(cli)));
      } catch {}
    }, 200);
    const r = await p;
    clearInterval(sampler);
    expect(r.stdout.trim()).toBe('200000000');
    expect(daemonMax - daemonBefore).toBeLessThan(100 * 1024);
    expect(cliMax).toBeGreaterThan(0);
    expect(cliMax).toBeLessThan(250 * 1024);
  }, 200_000);

  it('hyper kill -s USR1 reaches the process and the pod runs on; kill (KILL) ends it with 137; each a fact, delivered once', async () => {
    expect((await hyper(['run', '-d', '--name', 'trap', 'busybox', 'sh', '-c', 'trap "echo got-usr1" USR1; echo ready; while true; do sleep 1; done'], env)).exitCode).toBe(0);
    await expect.poll(async () => (await hyper(['logs', 'trap'], env)).stdout, { timeout: 30_000 }).toContain('ready');
    const usr1 = await hyper(['kill', '-s', 'USR1', 'trap'], env);
    expect(usr1.exitCode).toBe(0);
    await expect.poll(async () => (await hyper(['logs', 'trap'], env)).stdout, { timeout: 10_000 }).toContain('got-usr1');
    expect((await podState('trap', env)).state).toBe('running');
    expect((await hyper(['kill', '-s', 'bogus', 'trap'], env)).stderr).toContain('--signal: "bogus" is not a signal');
    expect((await hyper(['kill', 'trap'], env)).exitCode).toBe(0);
    await expect.poll(async () => (await podState('trap', env)).state, { timeout: 15_000 }).toBe('failed');
    const evs = await podEvents('trap', env);
    const killed = evs.filter((e) => e.type === 'pod.killed');
    expect(killed.map((e) => e.data.signal)).toEqual([10, 9]);
    expect(evs.find((e) => e.type === 'container.exited')?.data.exitCode).toBe(137);
    const again = await hyper(['kill', 'trap'], env);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain('it is not running (it is failed)');
  }, 90_000);

  it('-it under a real terminal (tmux): a prompt, stty size follows the window, Ctrl-C interrupts, exit 7 ends it with 7', async () => {
    const t = openTerminal('hyper-exec', dataDir, `env HYPER_DATA_DIR=${dataDir} HYPER_NATS= node ${CLI} exec -it box sh`);
    try {
      await expect.poll(() => t.screen(), { timeout: 20_000 }).toMatch(/[#$] ?$/m);
      t.keys('stty size', 'Enter');
      await expect.poll(() => t.screen(), { timeout: 10_000 }).toMatch(/^24 80\s*$/m);
      t.resize(100, 30);
      await new Promise((r) => setTimeout(r, 500));
      t.keys('clear; stty size', 'Enter');
      await expect.poll(() => t.screen(), { timeout: 10_000 }).toMatch(/^30 100\s*$/m);
      t.keys('clear; sleep 100 && echo not-interrupted', 'Enter');
      await new Promise((r) => setTimeout(r, 1_000));
      t.keys('C-c');
      t.keys('echo after-$((6*7))', 'Enter');
      await expect.poll(() => t.screen(), { timeout: 10_000 }).toMatch(/^after-42\s*$/m);
      expect(t.screen()).not.toContain('not-interrupted');
      t.keys('exit 7', 'Enter');
      await expect.poll(() => t.status(), { timeout: 10_000 }).toBe('7');
    } finally {
      t.close();
    }
    const evs = await podEvents('box', env);
    expect(evs.some((e) => e.type === 'exec.started' && e.data.tty === true)).toBe(true);
    expect((await podState('box', env)).state).toBe('running');
  }, 90_000);
});
