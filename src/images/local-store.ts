// The local image store as the QEMU driver sees it today: an image reference names an unpacked root filesystem under the
// data dir. Pulling and loading images (and converting them to EROFS) arrive with `hyper pull` / `hyper load`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError } from '../errors.js';

/** A filesystem-safe directory name for an image reference. */
export function imageDirName(ref: string): string {
  return ref.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function rootfsOf(dataDir: string, ref: string): string {
  const dir = join(dataDir, 'images', imageDirName(ref), 'rootfs');
  if (!existsSync(dir)) {
    throw new DriverError('no-image', `no image "${ref}" in the local store (looked for ${dir}); pulling from registries is not implemented yet — put an unpacked root filesystem there`);
  }
  return dir;
}
