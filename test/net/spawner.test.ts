// The host network's command helper: commands run from it (not forked from this process), with their output, exit code
// and stdin; a command that cannot run says why; a helper that dies fails what it held and is started again; it ends
// with the process that started it.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Spawner } from '../../src/net/spawner.js';
import { alive } from '../harness/processes.js';

const s = new Spawner();
afterAll(() => s.close());


describe('command helper', () => {
  it('runs commands as its children, with their stdout, stderr, exit code and stdin', async () => {
    const ppid = await s.run('sh', ['-c', 'echo $PPID']);
    expect(ppid).toMatchObject({ code: 0 });
    expect(Number(ppid.stdout.trim())).toBe(s.pid);
    expect(s.pid).not.toBe(process.pid);
    expect(await s.run('sh', ['-c', 'echo out; echo err >&2; exit 3'])).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(await s.run('cat', [], 'line one\nline two\n')).toEqual({ code: 0, stdout: 'line one\nline two\n', stderr: '' });
    // many at once, each answered with its own result
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => s.run('sh', ['-c', `echo ${i}`])));
    expect(many.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('a command that is not there is an error naming it, and the helper goes on', async () => {
    const r = await s.run('no-such-command-hyper', ['x']);
    expect(r.code).toBeNull();
    expect(r.error).toMatch(/ENOENT/);
    expect((await s.run('true', [])).code).toBe(0);
  });

  it('a helper killed mid-command fails what it held, saying so; the next command starts a new one', async () => {
    await s.run('true', []);
    const first = s.pid!;
    const held = s.run('sleep', ['5']);
    await new Promise((r) => setTimeout(r, 100));
    process.kill(first, 'SIGKILL');
    const r = await held;
    expect(r.code).toBeNull();
    expect(r.error).toMatch(/command helper exited \(SIGKILL\) before answering/);
    expect((await s.run('echo', ['again'])).stdout).toBe('again\n');
    expect(s.pid).not.toBe(first);
  });

  it('ends when the process that started it is killed', async () => {
    const parent = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/spawner-parent.mjs', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      parent.stdout!.once('data', (b) => resolve(String(b)));
      parent.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    const { helper, code } = JSON.parse(line) as { helper: number; code: number };
    expect(code).toBe(0);
    expect(alive(helper)).toBe(true);
    parent.kill('SIGKILL');
    const deadline = Date.now() + 5_000;
    while (alive(helper) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(helper)).toBe(false);
  });
});
