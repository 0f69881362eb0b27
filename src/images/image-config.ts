// The part of an OCI image config a container start needs, and how a container's command, env, workdir and user are resolved from it.
import { z } from 'zod';

/** The `config` object of an image's config JSON (Docker's casing). */
export const ImageConfig = z.object({
  Entrypoint: z.array(z.string()).nullish(),
  Cmd: z.array(z.string()).nullish(),
  Env: z.array(z.string()).nullish(),
  WorkingDir: z.string().nullish(),
  User: z.string().nullish(),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

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
