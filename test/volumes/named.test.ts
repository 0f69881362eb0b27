// Named volumes against real QEMU pods: an ext4 disk per volume that keeps its data from one pod to the next, made on first
// use, one read-write pod at a time (the second is refused naming the first), read-only sharing, and no removal while used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};
const output = (stdout: string) => stdout.split('\n').filter((l) => !/^\w{12}: /.test(l));
async function settled(name: string, want: string) {
  for (let i = 0; i < 120 && (await podState(name, env)).state !== want; i++) await new Promise((r) => setTimeout(r, 250));
  return podState(name, env);
}

beforeAll(async () => {
  q = await startQemuDaemon('hyper-named-vol-', 'nvol');
  env = q.env;
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('named volumes', () => {
  it('create, ls, inspect; data written by one pod is read by the next', async () => {
    expect((await hyper(['volume', 'create', '--size', '64M', 'data'], env)).stdout).toBe('data');
    expect((await hyper(['volume', 'create', 'data'], env)).stderr).toContain('volume data already exists');
    const ls = await hyper(['volume', 'ls'], env);
    expect(ls.stdout.split('\n')[1]).toMatch(/^data\s+64\.00MiB\s+/);
    expect((await hyper(['run', '-v', 'data:/data', 'busybox', 'sh', '-c', 'echo kept > /data/note && sync'], env)).exitCode).toBe(0);
    const next = await hyper(['run', '-v', 'data:/srv', 'busybox', 'cat', '/srv/note'], env);
    expect(output(next.stdout)).toEqual(['kept']);
    const [v] = JSON.parse((await hyper(['volume', 'inspect', 'data'], env)).stdout);
    expect(v).toMatchObject({ name: 'data', sizeMb: 64, usedBy: [] });
    // first use makes one (1G, sparse)
    expect((await hyper(['run', '-v', 'fresh:/x', 'busybox', 'ls', '/x'], env)).exitCode).toBe(0);
    expect((await hyper(['volume', 'ls'], env)).stdout).toMatch(/\nfresh\s+1\.00GiB/);
  }, 120_000);

  it('read-write is one running pod\'s alone; read-only mounts share; removal waits until nobody uses it', async () => {
    expect((await hyper(['run', '-d', '--name', 'holder', '-v', 'data:/data', 'busybox', 'sleep', '600'], env)).exitCode).toBe(0);
    await settled('holder', 'running');
    await hyper(['run', '-d', '--name', 'second', '-v', 'data:/data', 'busybox', 'true'], env);
    const second = await settled('second', 'failed');
    expect(second.reason).toBe('volume data is in use by pod holder (read-write): a volume mounted read-write is one running pod\'s alone — stop it, or mount the volume :ro in both');
    const rm = await hyper(['volume', 'rm', 'data'], env);
    expect(rm.exitCode).toBe(1);
    expect(rm.stderr).toContain('volume data is in use by pod holder');
    expect((await hyper(['rm', '-f', 'holder'], env)).exitCode).toBe(0);
    expect((await hyper(['run', '-d', '--name', 'r1', '-v', 'data:/data:ro', 'busybox', 'sleep', '600'], env)).exitCode).toBe(0);
    expect((await hyper(['run', '-d', '--name', 'r2', '-v', 'data:/data:ro', 'busybox', 'sleep', '600'], env)).exitCode).toBe(0);
    const r1 = await settled('r1', 'running');
    expect([r1.state, r1.reason]).toEqual(['running', null]);
    expect((await settled('r2', 'running')).state).toBe('running');
    expect((await hyper(['exec', 'r2', 'cat', '/data/note'], env)).stdout).toBe('kept');
    expect((await hyper(['exec', 'r1', 'sh', '-c', 'echo x > /data/y'], env)).stderr).toContain('Read-only file system');
    await hyper(['rm', '-f', 'r1', 'r2'], env);
    expect((await hyper(['volume', 'rm', 'data'], env)).stdout).toBe('data');
    expect((await hyper(['volume', 'ls'], env)).stdout).not.toMatch(/\ndata\s/);
  }, 120_000);
});
