// hyperd --pool with the real guest under QEMU: pods take paused clones restored ahead of time, given the pod's disks and
// NIC after the restore; the pool refills; a taken VM is a pod's like any other (re-attached after a kill -9 of hyperd);
// the pool's own VMs end with the daemon, and those a killed daemon left are swept by the next one; a tenant's own pool
// (--pool acme:256=1) serves that tenant's pods with clones of its own template, and no one else's.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../../harness/processes.js';
import { readPid } from '../../../src/drivers/qemu/process.js';
import { podEvents, qemuProcessesUnder } from '../../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../../harness/qemu-daemon.js';

let q: QemuDaemon;
const poolDir = () => join(q.dataDir, 'pool');
/**
 * The pool's ready VMs: the live QEMUs of the pool's directories (a taken one has moved into the run dir, though its
 * command line still names the pool's directory).
 */
const pooled = () => {
  let dirs: string[] = [];
  try {
    dirs = readdirSync(poolDir());
  } catch {}
  const pids = dirs.map((d) => readPid(join(poolDir(), d, 'qemu.pid')));
  return qemuProcessesUnder(poolDir()).filter((p) => pids.includes(Number(p)));
};

/** Waits until the pool holds `n` ready VMs. */
async function poolHolds(n: number, ms = 60_000): Promise<void> {
  for (const until = Date.now() + ms; pooled().length !== n;) {
    if (Date.now() > until) throw new Error(`the pool holds ${pooled().length} VMs, not ${n}, after ${ms} ms; hyperd's log:\n${q.daemon.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  q = await startQemuDaemon('hyper-pool-', 'pool-h1', ['--pool', '256=2', '--pool', 'acme:256=1']);
  // the default tenant's two and tenant acme's one
  await poolHolds(3);
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

/** The nice values of a process's threads (field 19 of /proc/PID/task/TID/stat), distinct. */
const niceOf = (pid: number) => [...new Set(readdirSync(`/proc/${pid}/task`).map((t) => Number(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[16])))];

const originOf = async (pod: string) => (await podEvents(pod, q.env)).find((e) => e.type === 'vm.origin')?.data;

describe('hyperd --pool', () => {
  it('a pod takes a pooled VM, given its image and network after the restore; the pool refills', async () => {
    const r = await hyper(['run', '--rm', '--name', 'p1', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0 | grep -o "inet [0-9.]*"; cat /sys/class/net/eth0/address; ping -c 1 -W 3 $(ip route | awk "/default/ {print \\$3}") >/dev/null && echo gateway-ok'], q.env);
    expect(r.stderr).toMatch(/vm restored from the pool/);
    expect(r.exitCode).toBe(0);
    const [addr, mac, gw] = r.stdout.split('\n');
    expect(addr).toMatch(/^inet 10\.\d+\.\d+\.\d+$/);
    // the pod's own MAC, not the template's
    expect(mac).not.toBe('02:00:00:00:00:01');
    expect(gw).toBe('gateway-ok');
    expect(await originOf('p1')).toMatchObject({ origin: 'pool', template: expect.stringMatching(/^[0-9a-f]{16}$/) });
    await poolHolds(3, 30_000);
    // filling the pool is background work: its VMs wait at nice 10 (every thread), a taken one runs at its pod's 0
    for (const pid of pooled()) expect(niceOf(Number(pid)), `pooled QEMU ${pid}`).toEqual([10]);
    expect((await hyper(['info'], q.env)).stdout).toMatch(/^vm starts: +from templates, made when a size first needs one \(per tenant\), each with a QEMU started ahead; a pool of 2 × 1 vCPU \/ 256 MB, 1 × 1 vCPU \/ 256 MB for tenant acme paused VMs$/m);
  }, 60_000);

  it('pooled VMs are distinct machines, and a pod of a size the pool lacks is restored or booted as before', async () => {
    const ids = await Promise.all(['a', 'b'].map(async (n) => (await hyper(['run', '--rm', '--name', `id-${n}`, 'busybox', 'sh', '-c', 'cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"'], q.env)).stdout));
    expect(ids[0]).not.toBe(ids[1]);
    const [bootA, randA] = ids[0].split('\n');
    const [bootB, randB] = ids[1].split('\n');
    expect(bootA).not.toBe(bootB);
    expect(randA).not.toBe(randB);
    const big = await hyper(['run', '--rm', '--name', 'big', '--memory', '320', 'busybox', 'echo', 'big'], q.env);
    expect(big.stdout).toBe('big');
    expect((await originOf('big'))?.origin).not.toBe('pool');
  }, 90_000);

  it('a tenant\'s pods take its own pool\'s VMs, clones of its own template; the default tenant\'s are not theirs', async () => {
    expect((await hyper(['tenant', 'add', 'acme'], q.env)).exitCode).toBe(0);
    const asAcme = (args: string[]) => hyper(['--creds', join(q.dataDir, 'auth', 'tenants', 'acme.json'), ...args], q.env);
    const r = await asAcme(['run', '--rm', '--name', 't1', 'busybox', 'echo', 'from-acme']);
    expect(r.stdout).toBe('from-acme');
    expect(r.stderr).toMatch(/vm restored from the pool/);
    // its events are its tenant's to read
    const events = (await asAcme(['events', 't1', '-o', 'json'])).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: { origin?: string; template?: string } });
    const acme = events.find((e) => e.type === 'vm.origin')?.data;
    const ours = await originOf('p1');
    expect(acme).toMatchObject({ origin: 'pool', template: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // per-tenant templates: acme's clone is not of the default tenant's template
    expect(acme?.template).not.toBe(ours?.template);
    // its pool refills (one), and the default tenant's two were not touched
    await poolHolds(3, 30_000);
  }, 90_000);

  it('a VM taken from the pool belongs to its pod: re-attached after kill -9 of hyperd; the dead daemon\'s pool is swept', async () => {
    expect((await hyper(['run', '-d', '--name', 'keeper', 'busybox', 'sh', '-c', 'i=0; while true; do echo n$i; i=$((i+1)); sleep 0.2; done'], q.env)).exitCode).toBe(0);
    await expect.poll(async () => (await hyper(['logs', 'keeper'], q.env)).stdout, { timeout: 30_000 }).toMatch(/n3/);
    expect((await originOf('keeper'))?.origin).toBe('pool');
    const keeperPid = readPid(join(q.dataDir, 'vms', (await podEvents('keeper', q.env)).find((e) => e.type === 'vm.booting')!.data.vm as string, 'qemu.pid'));
    expect(niceOf(keeperPid!)).toEqual([0]);
    await poolHolds(3, 30_000);
    const left = pooled();
    q.daemon.proc.kill('SIGKILL');
    await new Promise((r) => q.daemon.proc.once('exit', r));
    await q.restart();
    await expect.poll(async () => (await podEvents('keeper', q.env)).some((e) => e.type === 'vm.attached'), { timeout: 30_000 }).toBe(true);
    const before = (await hyper(['logs', 'keeper'], q.env)).stdout.split('\n').length;
    await expect.poll(async () => (await hyper(['logs', 'keeper'], q.env)).stdout.split('\n').length, { timeout: 15_000 }).toBeGreaterThan(before);
    // the killed daemon's paused VMs are gone; the new daemon's pool has its own
    for (const pid of left) expect(pooled()).not.toContain(pid);
    await poolHolds(3);
    expect((await hyper(['rm', '-f', 'keeper'], q.env)).exitCode).toBe(0);
  }, 120_000);

  it('the pool\'s VMs end with the daemon', async () => {
    await q.daemon.stop('SIGTERM');
    expect(pooled()).toEqual([]);
    expect(readdirSync(poolDir())).toEqual([]);
    await q.restart();
  }, 60_000);
});
