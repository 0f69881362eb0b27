// Where the guest's kernel and initramfs are: the kernel build cache and the agent's build directory (overridable by env).
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inRepo } from '../repo-root.js';

export function kernelCacheDir(): string {
  return join(process.env.HYPER_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hyper'), 'kernel');
}

export function guestKernel(): string {
  return process.env.HYPER_KERNEL ?? join(kernelCacheDir(), 'latest', 'vmlinux');
}

export function guestInitrd(): string {
  return process.env.HYPER_INITRD ?? inRepo('guest-agent', 'build', 'initramfs.cpio.lz4');
}
