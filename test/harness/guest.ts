// Test harness: boots the real guest (our kernel + the agent's initramfs) under QEMU with a busybox rootfs shared over 9p.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { guestInitrd, guestKernel } from '../../src/guest/artifacts.js';
import { launchQemu, type QemuOptions, type QemuVm } from '../../src/drivers/qemu/launch.js';
import { tempDir } from './nats.js';
import { busyboxRootfs } from './rootfs.js';

export function requireGuest(): void {
  for (const f of [guestKernel(), guestInitrd()]) if (!existsSync(f)) throw new Error(`${f} is missing — build the guest with: npm run build:guest`);
}

export async function bootGuest(o: Partial<QemuOptions> = {}): Promise<{ vm: QemuVm; dir: string; rootfs: string }> {
  requireGuest();
  const dir = tempDir('hyper-guest-');
  const rootfs = busyboxRootfs(join(dir, 'rootfs'));
  const vm = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: join(dir, 'vm'), shares: [{ tag: 'rootfs0', path: rootfs }], ...o });
  return { vm, dir, rootfs };
}
