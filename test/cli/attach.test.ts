// `hyper run -i`, `hyper run -it` and `hyper attach` against real QEMU pods on an embedded NATS: stdin carried to a
// container's main process (piped, byte for byte, EOF closing it), a real terminal under tmux (window size, Ctrl-C,
// docker's Ctrl-P Ctrl-Q detach leaving the pod running, attach again, exit code), and who attached recorded as facts.
import { createHash, randomBytes } from 'node:crypto';
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
const cli = () => `env HYPER_DATA_DIR=${dataDir} HYPER_NATS= node ${CLI}`;
const untilState = async (pod: string, state: string) => expect.poll(async () => (await podState(pod, env)).state, { timeout: 30_000 }).toBe(state);

beforeAll(async () => {
  q = await startQemuDaemon('hyper-attach-', 'attach');
  ({ env, dataDir } = q);
}, 60_000);

afterAll(async () => {
  await q?.stop();
});

describe('hyper run -i', () => {
  it('pipes stdin to the container, and its EOF closes the container\'s stdin; without -i the container reads EOF at once', async () => {
    const piped = await hyper(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo cat-ended'], env, 'hello\nworld\n');
    expect(piped.stdout).toBe('hello\nworld\ncat-ended');
    expect(piped.exitCode).toBe(0);
    // docker's default: no -i, no stdin (a cat that waited forever for it was the bug)
    const closed = await hyper(['run', '--rm', 'busybox', 'sh', '-c', 'cat; echo nothing-to-read'], env);
    expect(closed.stdout).toBe('nothing-to-read');
    expect(closed.exitCode).toBe(0);
  }, 90_000);

  it('5 MB of random bytes through run -i cat come back identical', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const r = await execa('node', [CLI, 'run', '--rm', '-i', 'busybox', 'cat'], { env: { HYPER_LOG_FORMAT: 'json', HYPER_QUIET: '1', ...env }, input: data, encoding: 'buffer', stripFinalNewline: false, reject: false, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    expect(r.exitCode).toBe(0);
    const out = Buffer.from(r.stdout);
    expect(out.length).toBe(data.length);
    expect(sha(out)).toBe(sha(data));
  }, 150_000);
});

describe('hyper run -it and hyper attach in a real terminal', () => {
  it('run -it: prompt, window size, Ctrl-C; Ctrl-P Ctrl-Q detaches and the pod keeps running; attach comes back; exit 7 ends it with 7', async () => {
    const run = openTerminal('hyper-run-it', dataDir, `${cli()} run -it --name shell busybox sh`);
    try {
      await expect.poll(() => run.screen(), { timeout: 30_000 }).toMatch(/[#$] ?$/m);
      run.keys('stty size', 'Enter');
      await expect.poll(() => run.screen(), { timeout: 10_000 }).toMatch(/^24 80\s*$/m);
      run.resize(100, 30);
      await new Promise((r) => setTimeout(r, 500));
      run.keys('clear; stty size', 'Enter');
      await expect.poll(() => run.screen(), { timeout: 10_000 }).toMatch(/^30 100\s*$/m);
      run.keys('clear; sleep 100 && echo not-interrupted', 'Enter');
      await new Promise((r) => setTimeout(r, 1_000));
      run.keys('C-c');
      run.keys('echo after-$((6*7))', 'Enter');
      await expect.poll(() => run.screen(), { timeout: 10_000 }).toMatch(/^after-42\s*$/m);
      expect(run.screen()).not.toContain('not-interrupted');
      run.keys('C-p', 'C-q');
      await expect.poll(() => run.status(), { timeout: 10_000 }).toBe('0');
      expect(run.screen()).toMatch(/detached from shell; it keeps running/);
    } finally {
      run.close();
    }
    expect((await podState('shell', env)).state).toBe('running');

    const attach = openTerminal('hyper-attach', dataDir, `${cli()} attach shell`, 90, 20);
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      attach.keys('stty size; echo back-$((6*7))', 'Enter');
      await expect.poll(() => attach.screen(), { timeout: 10_000 }).toMatch(/^back-42\s*$/m);
      // attach sent this terminal's size
      expect(attach.screen()).toMatch(/^20 90\s*$/m);
      attach.keys('exit 7', 'Enter');
      await expect.poll(() => attach.status(), { timeout: 15_000 }).toBe('7');
    } finally {
      attach.close();
    }
    await untilState('shell', 'failed');
    const evs = await podEvents('shell', env);
    const started = evs.filter((e) => e.type === 'attach.started');
    expect(started).toHaveLength(2);
    expect(started.every((e) => e.data.stdin === true && e.data.container === 'main' && /^cli:/.test(e.by))).toBe(true);
    const ended = evs.filter((e) => e.type === 'attach.ended').map((e) => e.data.reason);
    expect(ended).toContain('the client detached');
  }, 120_000);
});

describe('hyper attach', () => {
  it('without a tty: output from now on, stdin to the container; ends with the container\'s exit code', async () => {
    const id = (await hyper(['run', '-d', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'echo before-attach; read a; read b; echo got $a $b; echo on-stderr >&2; exit 4'], env)).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    await untilState('reader', 'running');
    await expect.poll(async () => (await hyper(['logs', 'reader'], env)).stdout, { timeout: 10_000 }).toBe('before-attach');
    const r = await hyper(['attach', 'reader'], env, 'x\ny\n');
    expect(r.stdout).toBe('got x y');
    expect(r.stderr).toBe('on-stderr');
    expect(r.exitCode).toBe(4);
  }, 60_000);

  it('refuses a pod that is not running, a container it lacks and bad detach keys, each saying what to do', async () => {
    await hyper(['run', '--name', 'finished', 'busybox', 'true'], env);
    const notRunning = await hyper(['attach', 'finished'], env);
    expect(notRunning.exitCode).toBe(1);
    expect(notRunning.stderr).toContain('pod finished is not running (it is succeeded): you cannot attach to it — start it with hyper start finished');
    await hyper(['run', '-d', '--name', 'idle', 'busybox', 'sleep', '600'], env);
    await untilState('idle', 'running');
    const noContainer = await hyper(['attach', '-c', 'web', 'idle'], env);
    expect(noContainer.exitCode).toBe(1);
    expect(noContainer.stderr).toContain('pod idle has no container web (it has main)');
    const keys = await hyper(['attach', '--detach-keys', 'ctrl-1', 'idle'], env);
    expect(keys.exitCode).toBe(2);
    expect(keys.stderr).toContain('--detach-keys');
    expect((await hyper(['attach', 'nosuchpod'], env)).exitCode).not.toBe(0);
  }, 60_000);
});
