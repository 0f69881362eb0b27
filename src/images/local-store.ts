// The local image store as the QEMU driver sees it today: an image reference names an unpacked root filesystem under the
// data dir. Pulling and loading images (and converting them to EROFS) arrive with `hyper pull` / `hyper load`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DriverError } from '../errors.js';

/** The part of an OCI image config a container start needs (the `config` object of the image's config JSON). */
export const ImageConfig = z.object({
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Env: z.array(z.string()).nullish(),
  WorkingDir: z.string().nullish(),
  User: z.string().nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

export interface LocalImage { ref: string; rootfs: string; config: ImageConfig }

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

/** The image's rootfs and its OCI config (`<image>/config.json`, as skopeo/umoci store it; optional). */
export function imageOf(dataDir: string, ref: string): LocalImage {
  const rootfs = rootfsOf(dataDir, ref);
  const file = join(dataDir, 'images', imageDirName(ref), 'config.json');
  if (!existsSync(file)) return { ref, rootfs, config: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DriverError('bad-image', `image "${ref}" has an unreadable config ${file}: ${(err as Error).message}`);
  }
  const r = z.object({ config: ImageConfig.optional() }).safeParse(raw);
  if (!r.success) throw new DriverError('bad-image', `image "${ref}" has an invalid config ${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { ref, rootfs, config: r.data.config ?? {} };
}

/** What a container runs: the spec overrides the image, as Docker and Kubernetes do (command replaces Entrypoint and drops Cmd). */
export function resolveProcess(image: ImageConfig, c: { command?: string[]; args?: string[]; env: Record<string, string>; workdir?: string; user?: string }) {
  const argv = [...(c.command ?? image.Entrypoint ?? []), ...(c.args ?? (c.command ? [] : image.Cmd ?? []))];
  const env = new Map<string, string>([['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']]);
  for (const kv of image.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(c.env)) env.set(k, v);
  return { argv, env: [...env].map(([k, v]) => `${k}=${v}`), cwd: c.workdir ?? (image.WorkingDir || undefined), user: c.user ?? (image.User || undefined) };
}
