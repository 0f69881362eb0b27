// Drivers by name: the daemon's --driver flag picks one; each backend lives in its own folder.
import { VolumeStore } from '../volumes/store.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HyperError } from '../errors.js';
import { guestInitrd, guestKernel, kernelCacheDir } from '../guest/artifacts.js';
import type { Capabilities, Driver } from './driver.js';
import { HollowDriver, type HollowOptions } from './hollow/driver.js';
import { QemuDriver } from './qemu/driver.js';
import { TemplateStore } from './qemu/template.js';
import type { PoolSize } from './qemu/pool.js';

export type TemplateMode = 'on' | 'existing' | 'off';
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
  /**
   * VM templates (qemu): 'on' makes them when pods need them, 'existing' uses only those made ahead of time (hyper template
   * build), 'off' never restores; and whether tenants share them.
   */
  templates?: TemplateMode;
  shareTemplates?: boolean;
  /** Paused clones kept ready per size (hyperd --pool; with templates on). */
  poolSizes?: PoolSize[];
  /** A QEMU started ahead per template in use (default true). */
  spareQemus?: boolean;
  onPoolFailed?: (why: string) => void;
  onColdBoot?: (vm: string, why: string) => void;
  onTemplateFailed?: (why: string) => void;
  /** Told the accelerator verdict (and why), so the daemon can log it. */
  onAccelerator?: (v: AccelVerdict) => void;
}

/** The guest kernel and initramfs, or an error saying how to build them. */
function guestArtifacts(): { kernel: string; initrd: string } {
  const kernel = guestKernel();
  const initrd = guestInitrd();
  for (const f of [kernel, initrd]) if (!existsSync(f)) throw new HyperError('driver', `the qemu driver needs the guest kernel and initramfs, and ${f} is missing — build them with: npm run build:guest`);
  return { kernel, initrd };
}

async function accelerator(kernel: string, initrd: string): Promise<AccelVerdict> {
  return probeAccelerator({ kernel, initrd, cacheFile: join(kernelCacheDir(), '..', 'accel.json') }).catch((err) => {
    throw new HyperError('driver', `the qemu driver cannot start: ${(err as Error).message}`, { cause: err });
  });
}

/** The VM templates of a data dir, made from this machine's guest and QEMU (what hyperd --templates and hyper template use). */
export async function templateStore(dataDir: string, verdict?: AccelVerdict): Promise<TemplateStore> {
  const { kernel, initrd } = guestArtifacts();
  const accel = (verdict ?? (await accelerator(kernel, initrd))).accel;
  return new TemplateStore(join(dataDir, 'templates'), { kernel, initrd, binary: 'qemu-system-x86_64', accel });
}

export async function createDriver(name: string, ctx: DriverContext): Promise<Driver> {
  switch (name) {
    case 'hollow':
      return new HollowDriver(ctx.hollow);
    case 'qemu': {
      const { kernel, initrd } = guestArtifacts();
      const verdict = await accelerator(kernel, initrd);
      ctx.onAccelerator?.(verdict);
      // loaded here, not at the top: the store brings execa (~170 ms), which CLI commands importing this registry never need
      const { ImageStore } = await import('../images/store.js');
      const mode = ctx.templates ?? 'existing';
      const templates = mode !== 'off' ? await templateStore(ctx.dataDir, verdict) : null;
      return new QemuDriver({
        kernel, initrd, accel: verdict.accel, runDir: join(ctx.dataDir, 'vms'), images: new ImageStore(ctx.dataDir, { insecureRegistries: ctx.insecureRegistries }), volumes: new VolumeStore(ctx.dataDir), bootTimeoutMs: ctx.bootTimeoutMs,
        templates, buildTemplates: mode === 'on', shareTemplates: ctx.shareTemplates, onColdBoot: ctx.onColdBoot, onTemplateFailed: ctx.onTemplateFailed,
        poolSizes: mode === 'on' ? ctx.poolSizes : undefined, spareQemus: ctx.spareQemus, onPoolFailed: ctx.onPoolFailed,
      });
    }
    default:
      throw new HyperError('driver', `unknown driver "${name}": this build has ${DRIVERS.join(', ')}`);
  }
}
