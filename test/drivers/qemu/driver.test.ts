// hyperd with the QEMU driver: pods run in real VMs (our kernel + agent under QEMU), their exit codes come back through
// the event log to `hyper run`, and no QEMU process outlives its pod.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNats, type TestNats } from '../../harness/nats.js';
import { hyper, startHyperd, type DaemonProc } from '../../harness/processes.js';
import { busyboxRootfs } from '../../harness/rootfs.js';
import { requireGuest } from '../../harness/guest.js';

let t: TestNats;
let d: DaemonProc;
let dataDir: string;
const env = () => ({ HYPER_NATS: t.server.url });

function qemuProcessesUnder(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dir}`]).toString().trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

beforeAll(async () => {
  requireGuest();
  t = await startTestNats();
  dataDir = join(t.dir, 'd');
  mkdirSync(join(dataDir, 'images', 'busybox'), { recursive: true });
  busyboxRootfs(join(dataDir, 'images', 'busybox', 'rootfs'));
  // an image with a config, as skopeo/umoci store it
  mkdirSync(join(dataDir, 'images', 'greeter_1'), { recursive: true });
  cpSync(join(dataDir, 'images', 'busybox', 'rootfs'), join(dataDir, 'images', 'greeter_1', 'rootfs'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(dataDir, 'images', 'greeter_1', 'config.json'), JSON.stringify({ config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo $GREETING from $(pwd) as $(id -un)'], Env: ['GREETING=hi'], WorkingDir: '/tmp', User: 'nobody' } }));
  d = startHyperd(['--nats', t.server.url, '--host-id', 'vm-h1', '--data-dir', dataDir, '--driver', 'qemu', '--cpus', '8', '--memory', '2048']);
  await d.ready;
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await t?.close();
});

describe('the QEMU driver under hyperd', () => {
  it('runs a pod in a real VM and returns its exit code', async () => {
    const r = await hyper(['run', 'busybox', 'sh', '-c', 'exit 3'], env());
    expect(r.stderr).toMatch(/booting vm \S+ \(qemu\)/);
    expect(r.stderr).toMatch(/guest agent ready \(hyper-agent\/1\)/);
    expect(r.stderr).toMatch(/container main exited with code 3/);
    expect(r.exitCode).toBe(3);
    expect(d.log()).toMatch(/"accel":"(kvm|tcg)"/);
  }, 60_000);

  it('prints the container\'s output: stdout to stdout, stderr to stderr; hyper logs reads it back', async () => {
    const r = await hyper(['run', '--name', 'greeter', 'busybox', 'sh', '-c', 'echo hello from $(hostname); echo warning >&2'], env());
    expect(r.exitCode).toBe(0);
    // (execa drops the final newline of captured output); the pod's name is its VM's hostname
    expect(r.stdout).toBe('hello from greeter');
    expect(r.stderr).toMatch(/^warning$/m);
    const logs = await hyper(['logs', 'greeter'], env());
    expect(logs.stdout).toBe('hello from greeter');
    expect(logs.stderr).toBe('warning');
  }, 60_000);

  it('honours the image config (Entrypoint, Cmd, Env, WorkingDir, User), overridable from the CLI', async () => {
    expect((await hyper(['run', 'greeter:1'], env())).stdout).toBe('hi from /tmp as nobody');
    expect((await hyper(['run', '-e', 'GREETING=yo', '-w', '/', 'greeter:1'], env())).stdout).toBe('yo from / as nobody');
    expect((await hyper(['run', 'greeter:1', 'echo replaced Cmd'], env())).stdout).toBe('replaced Cmd');
    expect((await hyper(['run', '--entrypoint', '/bin/hostname', '--name', 'ep', 'greeter:1'], env())).stdout).toBe('ep');
    const noCmd = await hyper(['run', 'busybox'], env());
    expect(noCmd.exitCode).toBe(125);
    expect(noCmd.stderr).toMatch(/image busybox has no Entrypoint or Cmd — give a command after the image/);
  }, 90_000);

  it('stops a running pod: SIGTERM reaches the container and no QEMU process survives', async () => {
    const id = (await hyper(['run', '-d', 'busybox', 'sleep', '1000'], env())).stdout.trim();
    await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 30_000 }).toBe('running');
    expect(qemuProcessesUnder(dataDir).length).toBe(1);
    expect((await hyper(['stop', '-t', '2', id], env())).exitCode).toBe(0);
    expect(qemuProcessesUnder(dataDir)).toEqual([]);
  }, 60_000);

  it('a VM that dies on its own fails its pod with the reason and the guest console', async () => {
    const id = (await hyper(['run', '-d', 'busybox', 'sleep', '1000'], env())).stdout.trim();
    await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 30_000 }).toBe('running');
    const [pid] = qemuProcessesUnder(dataDir);
    process.kill(Number(pid), 'SIGKILL');
    await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 15_000 }).toBe('failed');
    expect(JSON.parse((await hyper(['inspect', id], env())).stdout)[0].reason).toMatch(/qemu was killed by SIGKILL; guest console:/);
  }, 60_000);

  it('a missing image fails the pod with the reason', async () => {
    const r = await hyper(['run', 'nosuchimage', 'true'], env());
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/no image "nosuchimage" in the local store/);
  }, 60_000);
});
