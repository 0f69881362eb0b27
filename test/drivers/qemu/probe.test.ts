// The accelerator probe on this very machine: a verdict with a reason, consistent with what really boots, cached afterwards.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../src/guest/wire.js';
import { probeAccelerator } from '../../../src/drivers/qemu/probe.js';
import { launchQemu } from '../../../src/drivers/qemu/launch.js';
import { guestInitrd, guestKernel } from '../../../src/guest/artifacts.js';
import { tempDir } from '../../harness/nats.js';
import { requireGuest } from '../../harness/guest.js';

describe('accelerator probe', () => {
  it('decides kvm only if a guest really boots under it, explains why, and caches the verdict', async () => {
    requireGuest();
    const dir = tempDir('hyper-probe-');
    const cacheFile = join(dir, 'accel.json');
    const t0 = performance.now();
    const v = await probeAccelerator({ kernel: guestKernel(), initrd: guestInitrd(), cacheFile, deadlineMs: 4_000 });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(['kvm', 'tcg']).toContain(v.accel);
    expect(v.reason.length).toBeGreaterThan(10);
    // the verdict must hold: the chosen accelerator boots the guest
    const vm = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: join(dir, 'vm'), accel: v.accel });
    expect((await vm.agent.ping()).version).toBe(PROTOCOL_VERSION);
    await vm.stop();
    const again = await probeAccelerator({ kernel: guestKernel(), initrd: guestInitrd(), cacheFile });
    expect(again).toEqual({ ...v, cached: true });
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
