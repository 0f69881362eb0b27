// Per-container limits in a real QEMU pod: a container that allocates past its memory limit is OOM-killed by the guest's
// kernel (its own cgroup) and reported as such — container.oom, then container.exited 137 — while its sibling runs on.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { podEvents, podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;

beforeAll(async () => {
  q = await startQemuDaemon('hyper-limits-', 'limits');
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('container limits', () => {
  it('a container past its memory limit is OOM killed (137, container.oom) and its sibling keeps running', async () => {
    const file = join(q.dataDir, 'hog.yaml');
    writeFileSync(file, [
      'name: hogs',
      'resources: { memoryMb: 256 }',
      'containers:',
      '  - name: hog',
      '    image: busybox',
      '    limits: { memoryMb: 16 }',
      // a string doubling forever: past 16 MB the kernel kills it, long before the VM runs short
      "    args: ['awk', 'BEGIN { s = \"xxxxxxxxxxxxxxxx\"; while (1) s = s s }']",
      '  - name: calm',
      '    image: busybox',
      "    args: ['sleep', '600']",
      '',
    ].join('\n'));
    expect((await hyper(['run', '-d', '-f', file], q.env)).exitCode).toBe(0);
    let st = await podState('hogs', q.env);
    for (let i = 0; i < 120 && (st as { containers?: Record<string, { state: string }> }).containers?.hog?.state !== 'exited'; i++) {
      await new Promise((r) => setTimeout(r, 250));
      st = await podState('hogs', q.env);
    }
    const c = (st as unknown as { containers: Record<string, { state: string; exitCode: number | null; reason: string | null }> }).containers;
    expect(c.hog).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOM killed' });
    expect(c.calm.state).toBe('running');
    expect(st.state).toBe('running');
    const types = (await podEvents('hogs', q.env)).filter((e) => e.data?.container === 'hog').map((e) => e.type);
    expect(types.slice(-2)).toEqual(['container.oom', 'container.exited']);
    // the sibling really runs on: it answers an exec
    expect((await hyper(['exec', 'hogs', '-c', 'calm', 'echo', 'alive'], q.env)).stdout).toBe('alive');
  }, 120_000);
});
