// The arguments of `hyper cp` read as docker cp reads them: exactly one side is POD:PATH (a path in the container, from
// its root), the other a local path or "-" (a tar stream on stdin or stdout).
import { ValidationError } from '../errors.js';

export type CopyEnd = { pod: string; path: string } | { local: string };

/** POD:PATH when there is a colon before any slash (a local path with a colon is written ./a:b, as with docker). */
export function copyEnd(arg: string): CopyEnd {
  const colon = arg.indexOf(':');
  const slash = arg.indexOf('/');
  if (colon > 0 && (slash < 0 || colon < slash)) {
    const path = arg.slice(colon + 1) || '/';
    return { pod: arg.slice(0, colon), path: path.startsWith('/') ? path : `/${path}` };
  }
  return { local: arg };
}

export interface CopyPlan { direction: 'from' | 'to'; pod: string; path: string; local: string }

export function copyPlan(src: string, dst: string): CopyPlan {
  const a = copyEnd(src);
  const b = copyEnd(dst);
  const issues: { path: string; message: string }[] = [];
  if ('pod' in a && 'pod' in b) issues.push({ path: 'SRC/DST', message: 'copying between pods is not supported: one side must be a local path (or -)' });
  if ('local' in a && 'local' in b) issues.push({ path: 'SRC/DST', message: 'one side must be POD:PATH, e.g. hyper cp web:/etc/hosts ./hosts' });
  for (const [name, e] of [['SRC', a], ['DST', b]] as const) if ('local' in e && e.local === '') issues.push({ path: name, message: 'must not be empty' });
  if (issues.length) throw new ValidationError('cp', issues);
  if ('pod' in a) return { direction: 'from', pod: a.pod, path: a.path, local: (b as { local: string }).local };
  const to = b as { pod: string; path: string };
  return { direction: 'to', pod: to.pod, path: to.path, local: (a as { local: string }).local };
}

/** A path that asks for a directory's contents rather than the directory (docker's "SRC/."). */
export const wantsContents = (p: string) => /(^|\/)\.\/*$/.test(p);
