// Writes the guest initramfs as a newc cpio: the agent as /init, the mount points it needs, and /dev/console.
// Reproducible: entries sorted, owner root, mtime 0, inode numbers by position.
import { readFileSync, writeFileSync } from 'node:fs';

const [agent, out] = process.argv.slice(2);
if (!agent || !out) {
  console.error('usage: mkinitramfs.mjs AGENT OUT.cpio');
  process.exit(2);
}

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFCHR = 0o020000;
const entries = [
  { name: 'dev', mode: S_IFDIR | 0o755 },
  { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
  { name: 'init', mode: S_IFREG | 0o755, data: readFileSync(agent) },
  { name: 'proc', mode: S_IFDIR | 0o755 },
  { name: 'run', mode: S_IFDIR | 0o755 },
  { name: 'sys', mode: S_IFDIR | 0o755 },
  { name: 'tmp', mode: S_IFDIR | 0o1777 },
].sort((a, b) => (a.name < b.name ? -1 : 1));

const chunks = [];
const hex = (n) => n.toString(16).padStart(8, '0');
const pad = (len) => Buffer.alloc((4 - (len % 4)) % 4);
function add(ino, { name, mode, data = Buffer.alloc(0), rdev = [0, 0] }) {
  const nameBuf = Buffer.from(name + '\0');
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
  const header = Buffer.from('070701' + fields.map(hex).join(''));
  chunks.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
}
entries.forEach((e, i) => add(i + 1, e));
add(0, { name: 'TRAILER!!!', mode: 0 });
writeFileSync(out, Buffer.concat(chunks));
