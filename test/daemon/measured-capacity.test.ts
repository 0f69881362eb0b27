// Capacity by measured use with real VMs: hyperd --driver qemu offering 768 MB runs three 256 MB pods by what they are
// given, then measures what their QEMUs really take (host.usage, every second here), and the pods after them are placed
// by that: six idle pods on a host that offered room for three, the sixth waiting until the fourth and fifth are measured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;

interface HostRow { id: string; capacity: { memoryMb: number }; used: { memoryMb: number; measuredMb: number; pods: number }; measured?: { memoryMbByVm: Record<string, number> } }
const host = async () => (JSON.parse((await hyper(['hosts', '-o', 'json'], q.env)).stdout) as HostRow[])[0]!;
const usageEvents = async () => (await hyper(['events', '--type', 'host.usage', '-o', 'json'], q.env)).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { host: string; data: { memoryMbByVm: Record<string, number> } });

beforeAll(async () => {
  q = await startQemuDaemon('hyper-measured-', 'meas-h1', ['--memory', '768', '--cpus', '16', '--measure-every', '1s', '--no-templates']);
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('memory by measured use (hyperd --driver qemu)', () => {
  it('places pods by what VMs take once measured: six 256 MB pods on a host offering 768 MB', async () => {
    for (let i = 1; i <= 3; i++) expect((await hyper(['run', '-d', '--name', `m${i}`, 'busybox', 'sleep', '1000'], q.env)).exitCode).toBe(0);
    for (let i = 1; i <= 3; i++) await expect.poll(async () => (await podState(`m${i}`, q.env)).state, { timeout: 30_000 }).toBe('running');
    // measured: each idle VM's QEMU takes far less than its 256 MB
    await expect.poll(async () => Object.keys((await host()).measured?.memoryMbByVm ?? {}).length, { timeout: 15_000 }).toBe(3);
    const h = await host();
    const measures = Object.values(h.measured!.memoryMbByVm);
    for (const mb of measures) expect(mb).toBeGreaterThan(10);
    for (const mb of measures) expect(mb).toBeLessThan(200);
    expect(h.used).toMatchObject({ pods: 3, memoryMb: 768, measuredMb: measures.reduce((a, b) => a + b, 0) });
    expect((await hyper(['hosts'], q.env)).stdout).toMatch(new RegExp(`${h.used.measuredMb}/768 \\(768 given\\)`));

    // three more: given 1,536 MB in all on a host that offers 768
    for (let i = 4; i <= 6; i++) expect((await hyper(['run', '-d', '--name', `m${i}`, 'busybox', 'sleep', '1000'], q.env)).exitCode).toBe(0);
    for (let i = 4; i <= 6; i++) await expect.poll(async () => (await podState(`m${i}`, q.env)).state, { timeout: 45_000 }).toBe('running');
    await expect.poll(async () => Object.keys((await host()).measured?.memoryMbByVm ?? {}).length, { timeout: 15_000 }).toBe(6);
    const after = await host();
    expect(after.used.memoryMb).toBe(1536);
    expect(after.used.measuredMb).toBeLessThanOrEqual(768);
    // the sixth could not fit until the fourth and fifth were measured (each counted its full 256 MB until then)
    const six = await hyper(['events', 'm6', '-o', 'json'], q.env);
    const waited = six.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: { reason?: string } }).find((e) => e.type === 'pod.waiting');
    if (waited) expect(waited.data.reason).toMatch(/no host can fit 1 vCPU \/ 256 MB/);
    // idle VMs move little: a measure is recorded again only when one came, went or moved enough
    const n = (await usageEvents()).length;
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await usageEvents()).length - n).toBeLessThanOrEqual(1);
  }, 180_000);

  it('a pod that ends gives back what it took; its VM is no longer in the next measure', async () => {
    const before = await host();
    const id = JSON.parse((await hyper(['inspect', 'm1'], q.env)).stdout)[0].id as string;
    const vm = Object.keys(before.measured!.memoryMbByVm).find((v) => v.startsWith(id))!;
    expect(vm).toBeDefined();
    expect((await hyper(['rm', '-f', 'm1'], q.env)).exitCode).toBe(0);
    await expect.poll(async () => Object.keys((await host()).measured?.memoryMbByVm ?? {}), { timeout: 15_000 }).not.toContain(vm);
    const after = await host();
    expect(after.used.pods).toBe(5);
    expect(after.used.measuredMb).toBe(Object.values(after.measured!.memoryMbByVm).reduce((a, b) => a + b, 0));
  }, 60_000);
});
