// Drivers by name: the daemon's --driver flag picks one; each backend lives in its own folder.
import { VolumeStore } from '../volumes/store.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HyperError } from '../errors.js';
import { guestInitrd, guestKernel, kernelCacheDir } from '../guest/artifacts.js';
import type { Capabilities, Driver } from './driver.js';
import { HollowDriver, type HollowOptions } from './hollow/driver.js';
import { QemuDriver } from './qemu/driver.js';
import { probeAccelerator, type AccelVerdict } from './qemu/probe.js';

export const DRIVERS = ['hollow', 'qemu'] as const;

/** What each driver can do, without starting it (hyper info prints this; the host actor checks it before work starts). */
export const CAPABILITIES: Record<(typeof DRIVERS)[number], Capabilities> = { hollow: HollowDriver.capabilities, qemu: QemuDriver.capabilities };

export interface DriverContext {
  dataDir: string;
  hollow?: HollowOptions;
  bootTimeoutMs?: number;
  /** Registries pulled from over plain HTTP (loopback ones always are). */
  insecureRegistries?: string[];
  /** Told the accelerator verdict (and why), so the daemon can log it. */
  onAccelerator?: (v: AccelVerdict) => void;
}

export async function createDriver(name: string, ctx: DriverContext): Promise<Driver> {
  switch (name) {
    case 'hollow':
      return new HollowDriver(ctx.hollow);
    case 'qemu': {
      const kernel = guestKernel();
      const initrd = guestInitrd();
      for (const f of [kernel, initrd]) if (!existsSync(f)) throw new HyperError('driver', `the qemu driver needs the guest kernel and initramfs, and ${f} is missing — build them with: npm run build:guest`);
      const verdict = await probeAccelerator({ kernel, initrd, cacheFile: join(kernelCacheDir(), '..', 'accel.json') }).catch((err) => {
        throw new HyperError('driver', `the qemu driver cannot start: ${(err as Error).message}`, { cause: err });
      });
      ctx.onAccelerator?.(verdict);
      // loaded here, not at the top: the store brings execa (~170 ms), which CLI commands importing this registry never need
      const { ImageStore } = await import('../images/store.js');
      return new QemuDriver({ kernel, initrd, accel: verdict.accel, runDir: join(ctx.dataDir, 'vms'), images: new ImageStore(ctx.dataDir, { insecureRegistries: ctx.insecureRegistries }), volumes: new VolumeStore(ctx.dataDir), bootTimeoutMs: ctx.bootTimeoutMs });
    }
    default:
      throw new HyperError('driver', `unknown driver "${name}": this build has ${DRIVERS.join(', ')}`);
  }
}
