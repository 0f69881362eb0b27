// hyperd with the QEMU driver: pods run in real VMs (our kernel + agent under QEMU), their exit codes come back through
// the event log to `hyper run`, and no QEMU process outlives its pod.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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

  it('stops a running pod: SIGTERM reaches the container and no QEMU process survives', async () => {
    const id = (await hyper(['run', '-d', 'busybox', 'sleep', '1000'], env())).stdout.trim();
    await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 30_000 }).toBe('running');
    expect(qemuProcessesUnder(dataDir).length).toBe(1);
    expect((await hyper(['stop', '-t', '2', id], env())).exitCode).toBe(0);
    expect(qemuProcessesUnder(dataDir)).toEqual([]);
  }, 60_000);

  it('a missing image fails the pod with the reason', async () => {
    const r = await hyper(['run', 'nosuchimage', 'true'], env());
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/no image "nosuchimage" in the local store/);
  }, 60_000);
});
