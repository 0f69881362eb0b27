// Host directories in pods (-v) against real QEMU pods: what a container writes appears on the host and the other way
// round, :ro refuses writes in the guest, an exec sees the volume, a missing host path fails the run naming it, and a
// relative or climbing path is refused before anything is published.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};
let dir = '';
const output = (stdout: string) => stdout.split('\n').filter((l) => !/^\w{12}: /.test(l));

beforeAll(async () => {
  q = await startQemuDaemon('hyper-vol-', 'vol');
  env = q.env;
  dir = join(q.dataDir, 'shared');
  mkdirSync(dir);
  writeFileSync(join(dir, 'from-host.txt'), 'written on the host\n');
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('-v host directories', () => {
  it('a container reads what the host wrote and the host reads what the container wrote; an exec sees it too', async () => {
    const r = await hyper(['run', '--name', 'writer', '-v', `${dir}:/data`, 'busybox', 'sh', '-c', 'cat /data/from-host.txt && mkdir -p /data/sub && echo from-the-pod > /data/sub/out.txt'], env);
    expect(r.exitCode).toBe(0);
    expect(output(r.stdout)).toEqual(['written on the host']);
    expect(readFileSync(join(dir, 'sub', 'out.txt'), 'utf8')).toBe('from-the-pod\n');
    expect((await hyper(['run', '-d', '--name', 'keeper', '-v', `${dir}:/srv/shared`, 'busybox', 'sleep', '600'], env)).exitCode).toBe(0);
    for (let i = 0; i < 120 && (await podState('keeper', env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
    const seen = await hyper(['exec', 'keeper', 'cat', '/srv/shared/sub/out.txt'], env);
    expect(seen.stdout).toBe('from-the-pod');
  }, 120_000);

  it(':ro mounts read-only in the guest', async () => {
    const r = await hyper(['run', '-v', `${dir}:/data:ro`, 'busybox', 'sh', '-c', 'cat /data/from-host.txt; echo x > /data/nope.txt; echo rc=$?'], env);
    const lines = output(r.stdout);
    expect(lines[0]).toBe('written on the host');
    expect(lines.at(-1)).toBe('rc=1');
    expect(r.stderr).toContain('Read-only file system');
    expect(() => readFileSync(join(dir, 'nope.txt'))).toThrow();
  }, 120_000);

  it('a missing host path fails the run naming it; a relative or climbing one is refused by the CLI', async () => {
    const missing = await hyper(['run', '--name', 'lost', '-v', '/no/such/dir:/data', 'busybox', 'true'], env);
    expect(missing.exitCode).not.toBe(0);
    expect((await podState('lost', env)).reason).toContain('volume /no/such/dir does not exist on this host');
    const relative = await hyper(['run', '-v', './data:/data', 'busybox', 'true'], env);
    expect(relative.exitCode).toBe(2);
    expect(relative.stderr).toContain('containers.0.volumes.0.source: must be an absolute host path (without ..) or a volume name');
    const climbing = await hyper(['run', '-v', '/tmp:/data/../etc', 'busybox', 'true'], env);
    expect(climbing.stderr).toContain('containers.0.volumes.0.target: must be a directory below /');
    const shape = await hyper(['run', '-v', '/tmp', 'busybox', 'true'], env);
    expect(shape.stderr).toContain('-v /tmp: expected /host/dir:/container/path[:ro]');
  }, 60_000);
});
