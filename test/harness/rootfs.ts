// Test harness: a busybox root filesystem built from Debian's busybox-static, for containers in a real guest.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

export function busyboxRootfs(dir: string): string {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing — install it with: apt-get install busybox-static`);
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'work']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list']).toString().trim().split('\n');
  for (const a of applets) {
    if (a === 'busybox') continue;
    rmSync(join(dir, 'bin', a), { force: true });
    symlinkSync('busybox', join(dir, 'bin', a));
  }
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(dir, 'etc', 'resolv.conf'), '');
  return dir;
}
