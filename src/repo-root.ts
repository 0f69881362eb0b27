// The root of this hyper installation (the directory of its package.json), found from any module, bundled or not.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function find(dir: string): string | null {
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'hyper') return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** null only for a copy of the code outside any hyper tree. */
export const REPO_ROOT: string | null = find(dirname(fileURLToPath(import.meta.url)));

/** A path inside the installation; fails with what is wrong when the code runs outside one. */
export function inRepo(...parts: string[]): string {
  if (!REPO_ROOT) throw new Error(`hyper's files are not found from ${fileURLToPath(import.meta.url)}: run hyper from its checkout (or set the HYPER_* paths)`);
  return join(REPO_ROOT, ...parts);
}
